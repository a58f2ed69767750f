package org.uprelay.shim;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.GmsExtras;

/**
 * Google Play services' side: FCM messages and Play services' own commands (RECEIVE), and
 * answers to token requests (REGISTRATION). The manifest restricts senders to holders of
 * c2dm.permission.SEND. The core reads both from their String extras.
 */
public final class GmsReceiver extends BroadcastReceiver {
    private static final long FINISH_CAP_MILLIS = 8000;

    @Override
    public void onReceive(Context context, Intent intent) {
        final Shim shim = Shim.get(context);
        String action = String.valueOf(intent.getAction());
        final Map<String, String> extras = strings(intent.getExtras());
        if (action.equals("com.google.android.c2dm.intent.RECEIVE")) {
            // Decoding and handing over never touch the network, so they run here without a thread hop.
            shim.distributor.onGmsReceive(extras);
            if (shim.distributor.needsRetry()) {
                shim.retries.syncLater();
            }
            // The broadcast is held until the MESSAGE went out through the app's binding (at most
            // ForegroundRaise.CONNECT_WAIT_MILLIS): see ForegroundRaiser and the README.
            final PendingResult pending = goAsync();
            final AtomicBoolean finished = new AtomicBoolean();
            Runnable finish = new Runnable() {
                @Override
                public void run() {
                    if (finished.compareAndSet(false, true)) {
                        pending.finish();
                    }
                }
            };
            shim.raiser.whenSent(finish);
            // A bound on the hold whatever happens to the bindings, inside Android's 10 s.
            new Handler(Looper.getMainLooper()).postDelayed(finish, FINISH_CAP_MILLIS);
        } else if (action.equals("com.google.android.c2dm.intent.REGISTRATION")) {
            shim.runAsync(goAsync(), Shim.holdFor(intent), new Shim.Task() {
                @Override
                public void run(Distributor distributor) {
                    long delay = distributor.onGmsRegistration(extras);
                    if (delay >= 0) {
                        shim.retries.tokenRequestLater(delay);
                    }
                }
            });
        }
    }

    private static Map<String, String> strings(Bundle extras) {
        Map<String, Object> values = new HashMap<String, Object>();
        if (extras != null) {
            for (String key : extras.keySet()) {
                values.put(key, extras.get(key));
            }
        }
        // Retry-After is a Long and rawData a byte[]: GmsExtras keeps both readable for the core.
        return GmsExtras.strings(values);
    }
}
