package org.uprelay.shim;

import android.app.PendingIntent;
import android.content.Context;
import android.content.Intent;
import android.content.pm.PackageManager;

import java.util.Map;

import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.TokenRequest;

/**
 * Asks Google Play services for an FCM token with its raw intent, as the Firebase SDK does
 * underneath; the answer comes back as a REGISTRATION broadcast to {@link GmsReceiver}.
 */
final class GmsTokenSource implements Distributor.TokenSource {
    static final String GMS_PACKAGE = "com.google.android.gms";

    private final Context context;

    GmsTokenSource(Context context) {
        this.context = context;
    }

    @Override
    public String unavailableReason() {
        try {
            context.getPackageManager().getPackageInfo(GMS_PACKAGE, 0);
            return null;
        } catch (PackageManager.NameNotFoundException e) {
            return "Google Play services is not installed";
        }
    }

    @Override
    public void requestToken(String sender) {
        Intent request = new Intent("com.google.iid.TOKEN_REQUEST").setPackage(GMS_PACKAGE);
        // Play services reads the caller's package from this PendingIntent's creator.
        request.putExtra("app", PendingIntent.getBroadcast(context, 0, new Intent(), PendingIntent.FLAG_IMMUTABLE));
        for (Map.Entry<String, String> e : TokenRequest.extras(sender, context.getPackageName()).entrySet()) {
            request.putExtra(e.getKey(), e.getValue());
        }
        context.sendBroadcast(request);
    }
}
