package org.uprelay.shim;

import android.app.AlarmManager;
import android.app.PendingIntent;
import android.content.Context;
import android.content.Intent;
import android.os.SystemClock;

/** Wakes the distributor later: relay work or a token request to retry, a REGISTER deadline, the daily check. */
final class RetryScheduler {
    static final String ACTION_SYNC = "org.uprelay.shim.SYNC";
    static final String ACTION_TOKEN = "org.uprelay.shim.REQUEST_TOKEN";
    static final String ACTION_DEADLINE = "org.uprelay.shim.DEADLINE";
    static final String ACTION_CHECK = "org.uprelay.shim.CHECK";
    // Inexact alarms are batched by Android; a retry a quarter-hour later costs no battery of its own.
    private static final long SYNC_DELAY_MILLIS = 15 * 60 * 1000;

    private final Context context;

    RetryScheduler(Context context) {
        this.context = context;
    }

    void syncLater() {
        schedule(ACTION_SYNC, SYNC_DELAY_MILLIS);
    }

    void tokenRequestLater(long delayMillis) {
        schedule(ACTION_TOKEN, delayMillis);
    }

    /** Behind the in-process timer: if the process dies, the REGISTER deadline is still kept. */
    void deadlineLater(long delayMillis) {
        schedule(ACTION_DEADLINE, delayMillis);
    }

    /**
     * Once a day, whenever the phone is awake anyway: the token's age and the relay's info are
     * checked. Repeating alarms do not survive a reboot; the boot broadcast starts the process,
     * which sets this again.
     */
    void dailyCheck() {
        Intent check = new Intent(context, RetryReceiver.class).setAction(ACTION_CHECK);
        // Already set (the PendingIntent lives while AlarmManager holds it): setting it again
        // on every process start would push the first run back a day each time.
        if (PendingIntent.getBroadcast(context, 0, check, PendingIntent.FLAG_NO_CREATE | PendingIntent.FLAG_IMMUTABLE) != null) {
            return;
        }
        alarms().setInexactRepeating(AlarmManager.ELAPSED_REALTIME,
                SystemClock.elapsedRealtime() + AlarmManager.INTERVAL_DAY, AlarmManager.INTERVAL_DAY,
                intent(ACTION_CHECK));
    }

    private void schedule(String action, long delayMillis) {
        alarms().set(AlarmManager.ELAPSED_REALTIME_WAKEUP, SystemClock.elapsedRealtime() + delayMillis, intent(action));
    }

    private PendingIntent intent(String action) {
        Intent intent = new Intent(context, RetryReceiver.class).setAction(action);
        return PendingIntent.getBroadcast(context, 0, intent, PendingIntent.FLAG_UPDATE_CURRENT | PendingIntent.FLAG_IMMUTABLE);
    }

    private AlarmManager alarms() {
        return (AlarmManager) context.getSystemService(Context.ALARM_SERVICE);
    }
}
