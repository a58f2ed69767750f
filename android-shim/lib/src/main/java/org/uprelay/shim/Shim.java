package org.uprelay.shim;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.content.SharedPreferences;
import android.util.Log;

import java.util.concurrent.ScheduledFuture;

import org.json.JSONException;
import org.uprelay.shim.core.ActivityLog;
import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.DistributorState;
import org.uprelay.shim.core.InboundDecoder;
import org.uprelay.shim.core.RandomIds;
import org.uprelay.shim.core.RegistrationBook;
import org.uprelay.shim.core.SeenIds;
import org.uprelay.shim.core.SplitReassembler;
import org.uprelay.shim.core.WallClock;
import org.uprelay.shim.core.Worker;

/** The process-wide wiring: one distributor, its persisted state, the worker and the REGISTER deadline. */
final class Shim {
    interface Task {
        void run(Distributor distributor);
    }

    private static final String TAG = "uprelay";
    /** Every preference file of the library starts with this, apart from an embedding app's own. */
    static final String PREFS_PREFIX = "org.uprelay.shim.";
    // The relay sends both halves back to back; two minutes allows for a slow or dozing phone.
    private static final long HALF_EXPIRY_MILLIS = 120000;
    private static final int MAX_BUFFERED_HALF_BYTES = 256 * 1024;
    private static final int REMEMBERED_MESSAGE_IDS = 1000;
    private static final int LOG_ENTRIES = 50;
    // Android gives a receiver 10 s for a foreground broadcast and 60 s for a background one;
    // the broadcast is let go a little before, and the work goes on without it.
    private static final long FOREGROUND_HOLD_MILLIS = 8000;
    private static final long BACKGROUND_HOLD_MILLIS = 50000;

    private static Shim instance;

    final Settings settings;
    final Distributor distributor;
    final GmsTokenSource tokens;
    final RetryScheduler retries;
    final ForegroundRaiser raiser;
    private final Worker worker = new Worker();
    private final WallClock clock = new WallClock();
    private ScheduledFuture<?> deadline;
    private final SharedPreferences prefs;

    static synchronized Shim get(Context context) {
        if (instance == null) {
            instance = new Shim(context.getApplicationContext());
        }
        return instance;
    }

    private Shim(Context app) {
        settings = new Settings(app);
        tokens = new GmsTokenSource(app);
        retries = new RetryScheduler(app);
        raiser = new ForegroundRaiser(app);
        final SharedPreferences prefs = app.getSharedPreferences(PREFS_PREFIX + "state", Context.MODE_PRIVATE);
        InboundDecoder decoder = new InboundDecoder(
                new SplitReassembler(new ElapsedClock(), HALF_EXPIRY_MILLIS, MAX_BUFFERED_HALF_BYTES),
                new SeenIds(REMEMBERED_MESSAGE_IDS));
        distributor = new Distributor(load(prefs), decoder, settings.relay(), settings.projectId(),
                settings.senderNumber(), clock, new AppBroadcasts(app, raiser), tokens,
                new Distributor.Persistence() {
                    @Override
                    public void save(String stateJson) {
                        prefs.edit().putString("state", stateJson).apply();
                    }
                });
        this.prefs = prefs;
        distributor.setRoadChoice(settings.road());
        distributor.setProblemListener(new ProblemNotifier(app));
        retries.dailyCheck();
        // On every start: overdue answers, a week-old token, relay work left over from last time.
        runAsync(null, 0, new Task() {
            @Override
            public void run(Distributor distributor) {
                distributor.resume();
            }
        });
    }

    private static DistributorState load(SharedPreferences prefs) {
        ActivityLog log = new ActivityLog(new WallClock(), LOG_ENTRIES);
        String json = prefs.getString("state", null);
        if (json != null) {
            try {
                return DistributorState.fromJson(json, new RandomIds(), log);
            } catch (JSONException e) {
                // Not the exception: its message can quote the stored state, which holds
                // the device secret, the push token and the Web Push private key.
                Log.e(TAG, "stored state unreadable, starting afresh (" + e.getClass().getSimpleName() + ")");
                log.add("stored state was unreadable and was reset");
            }
        }
        return new DistributorState(new RegistrationBook(new RandomIds()), log);
    }

    /**
     * The receiving half of a REGISTER ({@link Distributor#accept}), on the main thread: the
     * state is written to disk before returning (commit, not apply) and the deadline armed, so
     * the app's answer is owed from receipt even if the process dies before the worker runs.
     */
    boolean accept(String packageName, String token, String vapid, String description) {
        boolean more = distributor.accept(packageName, token, vapid, description);
        prefs.edit().putString("state", distributor.state().toJson()).commit();
        scheduleDeadline();
        return more;
    }

    /** How long a receiver may hold {@code intent}'s broadcast for its work. */
    static long holdFor(Intent intent) {
        return (intent.getFlags() & Intent.FLAG_RECEIVER_FOREGROUND) != 0 ? FOREGROUND_HOLD_MILLIS : BACKGROUND_HOLD_MILLIS;
    }

    void runAsync(BroadcastReceiver.PendingResult pending, long holdMillis, Task task) {
        runAsync(pending, holdMillis, task, null);
    }

    /**
     * Runs {@code task} on the worker. A receiver passes its goAsync() result, which is finished
     * when the task is done or after {@code holdMillis}, whichever is first; null elsewhere.
     */
    void runAsync(final BroadcastReceiver.PendingResult pending, long holdMillis, final Task task,
                  final Runnable thenOnWorker) {
        Runnable finish = pending == null ? null : new Runnable() {
            @Override
            public void run() {
                pending.finish();
            }
        };
        worker.submit(new Runnable() {
            @Override
            public void run() {
                try {
                    task.run(distributor);
                    if (distributor.needsRetry()) {
                        retries.syncLater();
                    }
                    scheduleDeadline();
                    if (thenOnWorker != null) {
                        thenOnWorker.run();
                    }
                } catch (RuntimeException e) {
                    Log.e(TAG, "distributor task failed: " + withoutMessage(e));
                }
            }
        }, finish, holdMillis);
    }

    /**
     * Arms the next REGISTER deadline on the timer thread, which answers even while the worker
     * waits for a slow relay, and an alarm behind it in case the process dies meanwhile.
     */
    private synchronized void scheduleDeadline() {
        long at = distributor.nextAnswerDeadline();
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
        if (at < 0) {
            return;
        }
        long delay = at - clock.nowMillis();
        deadline = worker.later(new Runnable() {
            @Override
            public void run() {
                try {
                    distributor.answerOverdue();
                    scheduleDeadline();
                } catch (RuntimeException e) {
                    Log.e(TAG, "answering overdue registrations failed: " + withoutMessage(e));
                }
            }
        }, delay);
        retries.deadlineLater(Math.max(0, delay) + 5000);
    }

    /**
     * A failure for the log: its class and where it was thrown, not its message. A JSON
     * error's message quotes its input, which may be the relay's answer or the stored state,
     * both holding the device secret and push credentials.
     */
    static String withoutMessage(Throwable e) {
        StackTraceElement[] at = e.getStackTrace();
        return e.getClass().getName() + (at.length > 0 ? " at " + at[0] : "");
    }
}
