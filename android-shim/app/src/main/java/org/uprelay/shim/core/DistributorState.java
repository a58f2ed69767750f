package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * Everything the distributor must remember across process deaths, and its JSON form.
 * Methods are synchronized because FCM messages are handled on the main thread while relay
 * calls run on a worker.
 */
public final class DistributorState {
    private static final int FORMAT = 1;

    public final RegistrationBook book;
    public final ActivityLog log;
    private DeviceCredentials device;
    private String fcmToken;
    private boolean relayTokenStale;
    // Instances the relay should forget, kept until it confirms so that no endpoint outlives its app.
    private final LinkedHashSet<String> pendingDeletions = new LinkedHashSet<String>();

    public DistributorState(RegistrationBook book, ActivityLog log) {
        this.book = book;
        this.log = log;
    }

    public synchronized DeviceCredentials device() {
        return device;
    }

    public synchronized void setDevice(DeviceCredentials device) {
        this.device = device;
        relayTokenStale = false;
        if (device == null) {
            // The instances belonged to the forgotten device; the relay dropped them with it.
            pendingDeletions.clear();
        }
    }

    public synchronized String fcmToken() {
        return fcmToken;
    }

    /** A new token has to reach the relay too when a device already exists there. */
    public synchronized void setFcmToken(String token) {
        boolean changed = token == null ? fcmToken != null : !token.equals(fcmToken);
        fcmToken = token;
        if (changed && token != null && device != null) {
            relayTokenStale = true;
        }
    }

    public synchronized boolean relayTokenStale() {
        return relayTokenStale;
    }

    public synchronized void relayTokenUpdated() {
        relayTokenStale = false;
    }

    public synchronized void queueDeletion(String instance) {
        if (device != null) {
            pendingDeletions.add(instance);
        }
    }

    public synchronized void deletionDone(String instance) {
        pendingDeletions.remove(instance);
    }

    public synchronized List<String> pendingDeletions() {
        return new ArrayList<String>(pendingDeletions);
    }

    public synchronized String toJson() {
        try {
            JSONObject root = new JSONObject();
            root.put("format", FORMAT);
            if (device != null) {
                root.put("device", new JSONObject().put("id", device.deviceId).put("secret", device.secret));
            }
            root.put("fcm_token", fcmToken);
            root.put("relay_token_stale", relayTokenStale);
            root.put("book", book.toJson());
            root.put("pending_deletions", new JSONArray(pendingDeletions));
            root.put("log", log.toJson());
            return root.toString();
        } catch (JSONException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Restores what {@link #toJson()} wrote; throws rather than half-load anything else. */
    public static DistributorState fromJson(String json, IdSource ids, ActivityLog log) throws JSONException {
        JSONObject root = new JSONObject(json);
        if (root.getInt("format") != FORMAT) {
            throw new JSONException("unknown state format");
        }
        DistributorState state = new DistributorState(RegistrationBook.fromJson(root.getJSONObject("book"), ids), log);
        if (!root.isNull("device")) {
            JSONObject d = root.getJSONObject("device");
            state.device = new DeviceCredentials(d.getString("id"), d.getString("secret"));
        }
        state.fcmToken = RegistrationBook.optionalString(root, "fcm_token");
        state.relayTokenStale = root.getBoolean("relay_token_stale");
        JSONArray deletions = root.getJSONArray("pending_deletions");
        for (int i = 0; i < deletions.length(); i++) {
            state.pendingDeletions.add(deletions.getString(i));
        }
        log.load(root.getJSONArray("log"));
        return state;
    }
}
