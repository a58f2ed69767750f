package org.uprelay.shim;

import android.content.Context;
import android.content.Intent;

import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.FailureReason;
import org.uprelay.shim.core.RandomIds;

/** The distributor-to-connector intents of AND_3.0.0, each addressed to exactly one package. */
final class AppBroadcasts implements Distributor.Apps {
    private static final String PREFIX = "org.unifiedpush.android.connector.";

    private final Context context;
    private final ForegroundRaiser raiser;
    private final RandomIds ids = new RandomIds();

    AppBroadcasts(Context context, ForegroundRaiser raiser) {
        this.context = context;
        this.raiser = raiser;
    }

    @Override
    public void newEndpoint(String packageName, String token, String endpoint) {
        send(to(packageName, "NEW_ENDPOINT", token).putExtra("endpoint", endpoint).putExtra("id", ids.newId()));
    }

    @Override
    public void registrationFailed(String packageName, String token, FailureReason reason) {
        send(to(packageName, "REGISTRATION_FAILED", token).putExtra("reason", reason.name()));
    }

    @Override
    public void unregistered(String packageName, String token) {
        send(to(packageName, "UNREGISTERED", token));
    }

    @Override
    public void message(String packageName, String token, byte[] body, String id) {
        Intent intent = to(packageName, "MESSAGE", token).putExtra("bytesMessage", body);
        if (id != null) {
            intent.putExtra("id", id);
        }
        // The app may need to start a foreground service to handle the push; that is only
        // allowed while it has foreground importance, so the MESSAGE waits for the binding.
        if (packageName.equals(context.getPackageName())) {
            // Embedded: the app is its own distributor, and already holds what the FCM message gave.
            send(intent);
        } else {
            raiser.deliver(packageName, intent);
        }
    }

    private static Intent to(String packageName, String action, String token) {
        return new Intent(PREFIX + action).setPackage(packageName).putExtra("token", token);
    }

    private void send(Intent intent) {
        context.sendBroadcast(intent);
    }
}
