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

/**
 * Gives an app foreground importance for a few seconds by binding to its connector's
 * RAISE_TO_FOREGROUND service (AND_3.0.0), the one way open to an unprivileged distributor.
 * One binding per app: messages arriving close together extend it instead of stacking binds.
 */
final class ForegroundRaiser {
    private static final String TAG = "uprelay";
    private static final String ACTION = "org.unifiedpush.android.connector.RAISE_TO_FOREGROUND";
    private static final long HOLD_MILLIS = 5000;

    private final class Binding implements ServiceConnection, Runnable {
        final String packageName;

        Binding(String packageName) {
            this.packageName = packageName;
        }

        @Override
        public void onServiceConnected(ComponentName name, IBinder service) {
        }

        @Override
        public void onServiceDisconnected(ComponentName name) {
        }

        /** The hold expired. */
        @Override
        public void run() {
            release(this);
        }
    }

    private final Context context;
    private final Handler main = new Handler(Looper.getMainLooper());
    private final Map<String, Binding> bound = new HashMap<String, Binding>();

    ForegroundRaiser(Context context) {
        this.context = context;
    }

    synchronized void raise(String packageName) {
        Binding existing = bound.get(packageName);
        if (existing != null) {
            main.removeCallbacks(existing);
            main.postDelayed(existing, HOLD_MILLIS);
            return;
        }
        Binding binding = new Binding(packageName);
        boolean ok;
        try {
            ok = context.bindService(new Intent(ACTION).setPackage(packageName), binding, Context.BIND_AUTO_CREATE);
        } catch (SecurityException e) {
            ok = false;
        }
        if (!ok) {
            // Connectors before AND_3 have no such service; the message is still delivered.
            Log.i(TAG, packageName + " has no RAISE_TO_FOREGROUND service");
            unbindQuietly(binding);
            return;
        }
        bound.put(packageName, binding);
        main.postDelayed(binding, HOLD_MILLIS);
    }

    private synchronized void release(Binding binding) {
        if (bound.get(binding.packageName) == binding) {
            bound.remove(binding.packageName);
            unbindQuietly(binding);
        }
    }

    // Android wants unbindService even after a failed bind, and throws if nothing was bound.
    private void unbindQuietly(Binding binding) {
        try {
            context.unbindService(binding);
        } catch (IllegalArgumentException ignored) {
            // Nothing was bound.
        }
    }
}
