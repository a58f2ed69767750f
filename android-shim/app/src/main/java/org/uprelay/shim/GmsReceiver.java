package org.uprelay.shim;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.os.Bundle;

import java.util.HashMap;
import java.util.Map;

import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.GmsExtras;

/**
 * Google Play services' side: FCM messages and Play services' own commands (RECEIVE), and
 * answers to token requests (REGISTRATION). The manifest restricts senders to holders of
 * c2dm.permission.SEND. The core reads both from their String extras.
 */
public final class GmsReceiver extends BroadcastReceiver {
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
