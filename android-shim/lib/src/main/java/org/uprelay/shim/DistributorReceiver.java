package org.uprelay.shim;

import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.util.Log;

import org.uprelay.shim.core.ConnectorCaller;
import org.uprelay.shim.core.Distributor;

/**
 * REGISTER, UNREGISTER and MESSAGE_ACK from apps' UnifiedPush connectors, AND_3 (connector 3.x)
 * and AND_2 (connector 2.x, which finds distributors by the BYTES_MESSAGE feature action in the
 * manifest and reads the same answers: NEW_ENDPOINT, REGISTRATION_FAILED, UNREGISTERED and
 * MESSAGE with {@code bytesMessage}).
 */
public final class DistributorReceiver extends BroadcastReceiver {
    private static final String TAG = "uprelay";
    private static final String PREFIX = "org.unifiedpush.android.distributor.";

    @Override
    public void onReceive(Context context, Intent intent) {
        String action = String.valueOf(intent.getAction());
        final String token = intent.getStringExtra("token");
        Shim.Task task;
        if (action.equals(PREFIX + "MESSAGE_ACK")) {
            // The connector sends ACKs as plain broadcasts without any identity; the token names
            // the registration, and an ACK cannot harm anyone.
            final String id = intent.getStringExtra("id");
            if (token == null) {
                return;
            }
            task = new Shim.Task() {
                @Override
                public void run(Distributor distributor) {
                    distributor.messageAcknowledged(token, id);
                }
            };
        } else if (action.equals(PREFIX + "REGISTER") || action.equals(PREFIX + "UNREGISTER")) {
            ConnectorCaller identified = CallerIdentity.of(this, context, intent);
            if (identified == null) {
                Log.w(TAG, "ignoring " + action + " from an unidentified sender");
                return;
            }
            final String caller = identified.packageName;
            if (action.equals(PREFIX + "REGISTER")) {
                // Recorded, persisted and its deadline armed before onReceive returns: a REGISTER
                // still queued behind slow relay work is not lost if the process dies meanwhile.
                if (!Shim.get(context).accept(caller, token, intent.getStringExtra("vapid"),
                        intent.getStringExtra("message"))) {
                    return;
                }
                task = new Shim.Task() {
                    @Override
                    public void run(Distributor distributor) {
                        distributor.proceed(token);
                    }
                };
            } else {
                if (token == null) {
                    return;
                }
                task = new Shim.Task() {
                    @Override
                    public void run(Distributor distributor) {
                        distributor.unregister(caller, token);
                    }
                };
            }
        } else {
            return;
        }
        Shim.get(context).runAsync(goAsync(), Shim.holdFor(intent), task);
    }
}
