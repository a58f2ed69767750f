package org.uprelay.shim.core;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The distributor's one worker thread (relay calls never race each other over the device and
 * the book), plus a timer thread. A broadcast receiver hands its work here with a release
 * callback (its PendingResult's finish) that runs when the work is done or after a bounded
 * time, whichever comes first: Android kills a receiver that holds a broadcast past its time
 * limit, and a slow relay must not cause that. The work itself goes on after the release.
 */
public final class Worker {
    private final ExecutorService thread = Executors.newSingleThreadExecutor(daemon("uprelay-worker"));
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(daemon("uprelay-timer"));

    /** Runs {@code task} on the worker; {@code release} (may be null) runs once, after it or after {@code maxHoldMillis}. */
    public void submit(final Runnable task, final Runnable release, long maxHoldMillis) {
        final AtomicBoolean released = new AtomicBoolean();
        final Runnable releaseOnce = new Runnable() {
            @Override
            public void run() {
                if (release != null && released.compareAndSet(false, true)) {
                    release.run();
                }
            }
        };
        final ScheduledFuture<?> cap = release == null ? null
                : timer.schedule(releaseOnce, maxHoldMillis, TimeUnit.MILLISECONDS);
        thread.execute(new Runnable() {
            @Override
            public void run() {
                try {
                    task.run();
                } finally {
                    if (cap != null) {
                        cap.cancel(false);
                    }
                    releaseOnce.run();
                }
            }
        });
    }

    /** Runs {@code task} on the timer thread after {@code delayMillis}, even while the worker is busy. */
    public ScheduledFuture<?> later(Runnable task, long delayMillis) {
        return timer.schedule(task, Math.max(0, delayMillis), TimeUnit.MILLISECONDS);
    }

    private static ThreadFactory daemon(final String name) {
        return new ThreadFactory() {
            @Override
            public Thread newThread(Runnable r) {
                Thread t = new Thread(r, name);
                t.setDaemon(true);
                return t;
            }
        };
    }
}
