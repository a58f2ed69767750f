package org.uprelay.shim;

import android.app.PendingIntent;
import android.content.Context;
import android.content.Intent;
import android.content.pm.PackageManager;

import org.uprelay.shim.core.Distributor;

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
        request.putExtra("sender", sender);
        if (Distributor.isVapidSender(sender)) {
            // The Web Push road: a token for the relay's VAPID key, as Chrome asks one for a
            // subscription's applicationServerKey (scope GCM, a subtype of its own) and
            // UnifiedPush's embedded FCM distributor does. Play services passes every extra but
            // sender and app to Google's register call with an "X-" prefix (microG's
            // RegisterRequest); the X- forms are what Google's Play services is known to read.
            String subtype = "wp:" + context.getPackageName() + "#uprelay";
            request.putExtra("scope", "GCM");
            request.putExtra("subscription", sender);
            request.putExtra("X-subscription", sender);
            request.putExtra("subtype", subtype);
            request.putExtra("X-subtype", subtype);
            request.putExtra("kid", "|ID|2|");
        } else {
            request.putExtra("subtype", sender);
            request.putExtra("scope", "*");
            // Echoed in front of the token and of errors; GmsReplies strips it again.
            request.putExtra("kid", "|ID|1|");
        }
        context.sendBroadcast(request);
    }
}
