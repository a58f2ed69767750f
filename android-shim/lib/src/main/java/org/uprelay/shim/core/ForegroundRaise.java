package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Raise to foreground (AND_3.0.0, a MUST): before an app gets a MESSAGE, bind to its
 * connector's RAISE_TO_FOREGROUND service so that it has foreground importance for a few
 * seconds and may start a foreground service. The MESSAGE goes out once the binding is
 * connected, or after {@link #CONNECT_WAIT_MILLIS} if it is slow to connect; the binding is
 * released {@link #HOLD_MILLIS} after the app's last message. Messages to one app share one
 * binding. A message is never dropped: an app without the service gets it at once.
 */
public final class ForegroundRaise {
    /** Binds and unbinds the app's RAISE_TO_FOREGROUND service. */
    public interface Binder {
        /** Starts binding; false when the app has no such service or Android refused the bind. */
        boolean bind(String packageName);

        void unbind(String packageName);
    }

    /** Runs tasks later, on the thread that calls this class's methods. */
    public interface Timer {
        Cancellable schedule(Runnable task, long delayMillis);
    }

    public interface Cancellable {
        void cancel();
    }

    public static final long HOLD_MILLIS = 5000;
    public static final long CONNECT_WAIT_MILLIS = 2000;

    private final class Hold {
        final String packageName;
        // True once connected, or once waiting for the connection was given up.
        boolean sendNow;
        final List<Runnable> queued = new ArrayList<Runnable>();
        Cancellable release;
        Cancellable connectWait;

        Hold(String packageName) {
            this.packageName = packageName;
        }
    }

    private final Binder binder;
    private final Timer timer;
    private final Map<String, Hold> holds = new HashMap<String, Hold>();
    // Run once every queued MESSAGE has gone out: the receiver lets its broadcast go only then.
    private final List<Runnable> whenSent = new ArrayList<Runnable>();

    public ForegroundRaise(Binder binder, Timer timer) {
        this.binder = binder;
        this.timer = timer;
    }

    /** Delivers one message to {@code packageName} ({@code send} broadcasts it) with the app raised. */
    public synchronized void deliver(String packageName, Runnable send) {
        Hold hold = holds.get(packageName);
        if (hold == null) {
            if (!binder.bind(packageName)) {
                send.run();
                return;
            }
            final Hold fresh = new Hold(packageName);
            holds.put(packageName, fresh);
            fresh.connectWait = timer.schedule(new Runnable() {
                @Override
                public void run() {
                    sendQueued(fresh);
                }
            }, CONNECT_WAIT_MILLIS);
            hold = fresh;
        }
        if (hold.sendNow) {
            send.run();
        } else {
            hold.queued.add(send);
        }
        if (hold.release != null) {
            hold.release.cancel();
        }
        final Hold held = hold;
        hold.release = timer.schedule(new Runnable() {
            @Override
            public void run() {
                release(held);
            }
        }, HOLD_MILLIS);
    }

    /** The binding to {@code packageName}'s service is connected: the app is raised now. */
    public synchronized void connected(String packageName) {
        Hold hold = holds.get(packageName);
        if (hold != null) {
            sendQueued(hold);
        }
    }

    /** The binding died or the app's process went away: send what waits and let go. */
    public synchronized void lost(String packageName) {
        Hold hold = holds.get(packageName);
        if (hold != null) {
            release(hold);
        }
    }

    /**
     * Runs {@code task} once no MESSAGE waits for a binding any more (at once when none does).
     * The RECEIVE broadcast is held until then: while it is held Android keeps this process
     * at receiver importance, so the bind and the send are not delayed by a frozen process.
     */
    public synchronized void whenSent(Runnable task) {
        if (nothingQueued()) {
            task.run();
        } else {
            whenSent.add(task);
        }
    }

    private boolean nothingQueued() {
        for (Hold h : holds.values()) {
            if (!h.queued.isEmpty()) {
                return false;
            }
        }
        return true;
    }

    /** Packages bound right now. */
    public synchronized List<String> bound() {
        return new ArrayList<String>(holds.keySet());
    }

    private synchronized void sendQueued(Hold hold) {
        hold.sendNow = true;
        if (hold.connectWait != null) {
            hold.connectWait.cancel();
            hold.connectWait = null;
        }
        for (Runnable send : hold.queued) {
            send.run();
        }
        hold.queued.clear();
        if (nothingQueued() && !whenSent.isEmpty()) {
            List<Runnable> due = new ArrayList<Runnable>(whenSent);
            whenSent.clear();
            for (Runnable task : due) {
                task.run();
            }
        }
    }

    private synchronized void release(Hold hold) {
        if (holds.get(hold.packageName) != hold) {
            return;
        }
        holds.remove(hold.packageName);
        sendQueued(hold);
        if (hold.release != null) {
            hold.release.cancel();
        }
        binder.unbind(hold.packageName);
    }
}
