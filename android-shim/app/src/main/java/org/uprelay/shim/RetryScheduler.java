package org.uprelay.shim;

import android.app.AlarmManager;
import android.app.PendingIntent;
import android.content.Context;
import android.content.Intent;
import android.os.SystemClock;

/** Wakes the distributor later to retry relay work or a token request that failed. */
final class RetryScheduler {
    static final String ACTION_SYNC = "org.uprelay.shim.SYNC";
    static final String ACTION_TOKEN = "org.uprelay.shim.REQUEST_TOKEN";
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

    private void schedule(String action, long delayMillis) {
        Intent intent = new Intent(context, RetryReceiver.class).setAction(action);
        PendingIntent pi = PendingIntent.getBroadcast(context, 0, intent,
                PendingIntent.FLAG_UPDATE_CURRENT | PendingIntent.FLAG_IMMUTABLE);
        AlarmManager alarms = (AlarmManager) context.getSystemService(Context.ALARM_SERVICE);
        alarms.set(AlarmManager.ELAPSED_REALTIME_WAKEUP, SystemClock.elapsedRealtime() + delayMillis, pi);
    }
}
