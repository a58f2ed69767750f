package org.uprelay.shim;

import android.content.ComponentName;
import android.content.Context;
import android.content.Intent;
import android.content.ServiceConnection;
import android.os.Handler;
import android.os.IBinder;
import android.os.Looper;
import android.util.Log;

import java.util.HashMap;
import java.util.Map;

import org.uprelay.shim.core.ForegroundRaise;

/**
 * Android's half of {@link ForegroundRaise}: binds to an app's connector RAISE_TO_FOREGROUND
 * service with BIND_IMPORTANT, so that the app is brought to our own (foreground) importance
 * while we deliver a message, the one way open to an unprivileged distributor. Everything runs
 * on the main thread, where ServiceConnection callbacks arrive.
 */
final class ForegroundRaiser implements ForegroundRaise.Binder, ForegroundRaise.Timer {
    private static final String TAG = "uprelay";
    private static final String ACTION = "org.unifiedpush.android.connector.RAISE_TO_FOREGROUND";

    private final class Connection implements ServiceConnection {
        final String packageName;

        Connection(String packageName) {
            this.packageName = packageName;
        }

        @Override
        public void onServiceConnected(ComponentName name, IBinder service) {
            raise.connected(packageName);
        }

        @Override
        public void onServiceDisconnected(ComponentName name) {
            raise.lost(packageName);
        }

        // API 26. Compiled against API 23 this cannot say @Override, but newer Android still calls it.
        public void onBindingDied(ComponentName name) {
            raise.lost(packageName);
        }

        // API 28: the service returned no binder; the binding exists all the same, and with it the importance.
        public void onNullBinding(ComponentName name) {
            raise.connected(packageName);
        }
    }

    private final Context context;
    private final Handler main = new Handler(Looper.getMainLooper());
    private final Map<String, Connection> connections = new HashMap<String, Connection>();
    final ForegroundRaise raise = new ForegroundRaise(this, this);

    ForegroundRaiser(Context context) {
        this.context = context;
    }

    /**
     * Sends {@code message} to {@code packageName} with the app raised. On the main thread (a
     * RECEIVE being handled) the bind starts right here, inside the broadcast, while this
     * process is on the temporary allowlist a high-priority FCM message grants; from elsewhere
     * it is posted to the main thread.
     */
    void deliver(final String packageName, final Intent message) {
        final Runnable send = new Runnable() {
            @Override
            public void run() {
                context.sendBroadcast(message);
            }
        };
        Runnable start = new Runnable() {
            @Override
            public void run() {
                raise.deliver(packageName, send);
            }
        };
        if (Looper.myLooper() == Looper.getMainLooper()) {
            start.run();
        } else {
            main.post(start);
        }
    }

    /** Runs {@code task} on the main thread once every MESSAGE waiting for a binding was sent. */
    void whenSent(final Runnable task) {
        main.post(new Runnable() {
            @Override
            public void run() {
                raise.whenSent(task);
            }
        });
    }

    @Override
    public boolean bind(String packageName) {
        Connection c = new Connection(packageName);
        boolean ok;
        try {
            ok = context.bindService(new Intent(ACTION).setPackage(packageName), c,
                    Context.BIND_AUTO_CREATE | Context.BIND_IMPORTANT);
        } catch (SecurityException e) {
            ok = false;
        }
        if (!ok) {
            // Connectors before AND_3 have no such service; the message is still delivered.
            Log.i(TAG, packageName + " has no RAISE_TO_FOREGROUND service");
            unbindQuietly(c);
            return false;
        }
        connections.put(packageName, c);
        return true;
    }

    @Override
    public void unbind(String packageName) {
        Connection c = connections.remove(packageName);
        if (c != null) {
            unbindQuietly(c);
        }
    }

    @Override
    public ForegroundRaise.Cancellable schedule(final Runnable task, long delayMillis) {
        main.postDelayed(task, delayMillis);
        return new ForegroundRaise.Cancellable() {
            @Override
            public void cancel() {
                main.removeCallbacks(task);
            }
        };
    }

    // Android wants unbindService even after a failed bind, and throws if nothing was bound.
    private void unbindQuietly(Connection c) {
        try {
            context.unbindService(c);
        } catch (IllegalArgumentException ignored) {
            // Nothing was bound.
        }
    }
}
