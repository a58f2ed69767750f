package org.uprelay.shim;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.os.Bundle;
import android.util.Log;

import java.util.HashMap;
import java.util.Map;

import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.GmsReplies;

/**
 * Google Play services' side: FCM messages (RECEIVE) and answers to token requests
 * (REGISTRATION). The manifest restricts senders to holders of c2dm.permission.SEND.
 */
public final class GmsReceiver extends BroadcastReceiver {
    private static final String TAG = "uprelay";

    @Override
    public void onReceive(Context context, Intent intent) {
        Shim shim = Shim.get(context);
        String action = String.valueOf(intent.getAction());
        if (action.equals("com.google.android.c2dm.intent.RECEIVE")) {
            onMessage(shim, intent);
        } else if (action.equals("com.google.android.c2dm.intent.REGISTRATION")) {
            onRegistration(shim, intent);
        }
    }

    private static void onMessage(Shim shim, Intent intent) {
        String type = intent.getStringExtra("message_type");
        if (type != null && !type.equals("gcm")) {
            // deleted_messages: FCM dropped messages it could not keep; nothing can bring them back.
            Log.w(TAG, "FCM event " + type);
            return;
        }
        Bundle extras = intent.getExtras();
        if (extras == null) {
            return;
        }
        Map<String, String> data = new HashMap<String, String>();
        for (String key : extras.keySet()) {
            Object value = extras.get(key);
            if (value instanceof String) {
                data.put(key, (String) value);
            }
        }
        // Decoding and handing over never touch the network, so they run here without a thread hop.
        shim.distributor.onFcmMessage(data);
        if (shim.distributor.needsRetry()) {
            shim.retries.syncLater();
        }
    }

    private void onRegistration(final Shim shim, Intent intent) {
        String registrationId = intent.getStringExtra("registration_id");
        final String error = intent.getStringExtra("error");
        if (registrationId != null) {
            final String token = GmsReplies.tokenOf(registrationId);
            if (token == null) {
                Log.w(TAG, "unusable registration_id from Play services");
                return;
            }
            shim.runAsync(goAsync(), new Shim.Task() {
                @Override
                public void run(Distributor distributor) {
                    distributor.onFcmToken(token);
                }
            }, null);
        } else if ("RST".equals(error) || intent.getStringExtra("unregistered") != null) {
            shim.runAsync(goAsync(), new Shim.Task() {
                @Override
                public void run(Distributor distributor) {
                    distributor.onFcmTokenReset();
                }
            }, null);
        } else if (error != null) {
            shim.runAsync(goAsync(), new Shim.Task() {
                @Override
                public void run(Distributor distributor) {
                    long delay = distributor.onFcmTokenError(error);
                    if (delay >= 0) {
                        shim.retries.tokenRequestLater(delay);
                    }
                }
            }, null);
        }
    }
}
