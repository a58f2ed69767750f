package org.uprelay.shim.core;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The String extras of the {@code com.google.iid.TOKEN_REQUEST} sent to Play services (the
 * Android layer adds {@code app}, the PendingIntent naming the caller). Play services passes
 * {@code sender} to Google's register call as is and every other extra with an {@code X-}
 * prefix (microG's RegisterRequest); the reply echoes {@code kid} in front of the token.
 */
public final class TokenRequest {
    private TokenRequest() {
    }

    public static Map<String, String> extras(String sender, String packageName) {
        Map<String, String> e = new LinkedHashMap<String, String>();
        e.put("sender", sender);
        if (Distributor.isVapidSender(sender)) {
            // The Web Push road: a token for the relay's VAPID key, as Chrome asks one for a
            // subscription's applicationServerKey (scope GCM, a subtype of its own) and
            // UnifiedPush's embedded FCM distributor does; the X- forms are the ones that
            // distributor sends too. One subtype for the device: the relay wraps every app.
            String subtype = "wp:" + packageName + "#uprelay";
            e.put("scope", "GCM");
            e.put("subscription", sender);
            e.put("X-subscription", sender);
            e.put("subtype", subtype);
            e.put("X-subtype", subtype);
            e.put("kid", "|ID|2|");
        } else {
            // The FCM road, as the FCM distributors ask: the project number as sender and subtype.
            e.put("subtype", sender);
            e.put("scope", "*");
            e.put("kid", "|ID|1|");
        }
        return e;
    }
}
