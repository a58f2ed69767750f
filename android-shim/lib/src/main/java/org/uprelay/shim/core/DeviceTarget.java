package org.uprelay.shim.core;

import org.json.JSONException;
import org.json.JSONObject;

/**
 * What the relay delivers to for this phone: an FCM registration token (the FCM v1 road) or a
 * Play services token issued for the relay's VAPID key with the phone's {@code p256dh} and
 * {@code auth} (the Web Push road). Exactly one is sent in a device's JSON body.
 */
public final class DeviceTarget {
    /** The Play services token, for either road. */
    public final String token;
    /** Null on the FCM road. */
    public final String p256dh;
    public final String auth;

    private DeviceTarget(String token, String p256dh, String auth) {
        this.token = token;
        this.p256dh = p256dh;
        this.auth = auth;
    }

    public static DeviceTarget fcm(String token) {
        return new DeviceTarget(token, null, null);
    }

    public static DeviceTarget webPush(String token, WebPushKeys keys) {
        return new DeviceTarget(token, keys.p256dh(), keys.auth());
    }

    public boolean isWebPush() {
        return p256dh != null;
    }

    /** The body's target fields: {@code fcm_token}, or {@code webpush: {token, p256dh, auth}}. */
    void putInto(JSONObject body) throws JSONException {
        if (isWebPush()) {
            body.put("webpush", new JSONObject().put("token", token).put("p256dh", p256dh).put("auth", auth));
        } else {
            body.put("fcm_token", token);
        }
    }
}
