package org.uprelay.shim;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.SharedPreferences;
import android.util.Log;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

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

/** The process-wide wiring: one distributor, its persisted state, and the one worker thread. */
final class Shim {
    interface Task {
        void run(Distributor distributor);
    }

    private static final String TAG = "uprelay";
    // The relay sends both halves back to back; two minutes allows for a slow or dozing phone.
    private static final long HALF_EXPIRY_MILLIS = 120000;
    private static final int MAX_BUFFERED_HALF_BYTES = 256 * 1024;
    private static final int REMEMBERED_MESSAGE_IDS = 1000;
    private static final int LOG_ENTRIES = 50;

    private static Shim instance;

    final Settings settings;
    final Distributor distributor;
    final GmsTokenSource tokens;
    final RetryScheduler retries;
    // One thread, so relay calls never race each other over the device and the book.
    private final ExecutorService worker = Executors.newSingleThreadExecutor();

    static synchronized Shim get(Context context) {
        if (instance == null) {
            instance = new Shim(context.getApplicationContext());
        }
        return instance;
    }

    private Shim(Context app) {
        settings = new Settings(app);
        tokens = new GmsTokenSource(app, settings);
        retries = new RetryScheduler(app);
        final SharedPreferences prefs = app.getSharedPreferences("state", Context.MODE_PRIVATE);
        InboundDecoder decoder = new InboundDecoder(
                new SplitReassembler(new ElapsedClock(), HALF_EXPIRY_MILLIS, MAX_BUFFERED_HALF_BYTES),
                new SeenIds(REMEMBERED_MESSAGE_IDS));
        distributor = new Distributor(load(prefs), decoder, settings.relay(), settings.projectId(),
                new AppBroadcasts(app, new ForegroundRaiser(app)), tokens, new Distributor.Persistence() {
                    @Override
                    public void save(String stateJson) {
                        prefs.edit().putString("state", stateJson).apply();
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
                Log.e(TAG, "stored state unreadable, starting afresh", e);
                log.add("stored state was unreadable and was reset");
            }
        }
        return new DistributorState(new RegistrationBook(new RandomIds()), log);
    }

    /**
     * Runs {@code task} on the worker. A receiver passes its goAsync() result so that Android
     * keeps the process alive until the relay calls are done; null elsewhere.
     */
    void runAsync(final BroadcastReceiver.PendingResult pending, final Task task, final Runnable thenOnWorker) {
        worker.execute(new Runnable() {
            @Override
            public void run() {
                try {
                    task.run(distributor);
                    if (distributor.needsRetry()) {
                        retries.syncLater();
                    }
                    if (thenOnWorker != null) {
                        thenOnWorker.run();
                    }
                } catch (RuntimeException e) {
                    Log.e(TAG, "distributor task failed", e);
                } finally {
                    if (pending != null) {
                        pending.finish();
                    }
                }
            }
        });
    }
}
