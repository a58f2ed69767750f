package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
    public final Problems problems = new Problems();
    private DeviceCredentials device;
    private String fcmToken;
    // The sender the token was issued for: a token of another Firebase project is useless to the relay.
    private String tokenSender;
    private long tokenObtainedAt;
    private boolean relayTokenStale;
    private RelayInfo info;
    // Made on the phone the first time the Web Push road is taken; the private key never leaves.
    private WebPushKeys webPushKeys;
    private long infoFetchedAt;
    // When the relay last confirmed that it still holds the device (GET /v1/devices/{id}).
    private long deviceCheckedAt;
    // Since when every relay call failed for want of an answer; 0 while the relay answers.
    private long relayFailingSince;
    private long deletedMessagesEvents;
    private long lastDeletedMessagesAt;
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

    public synchronized long deviceCheckedAt() {
        return deviceCheckedAt;
    }

    public synchronized void setDeviceCheckedAt(long at) {
        deviceCheckedAt = at;
    }

    public synchronized long relayFailingSince() {
        return relayFailingSince;
    }

    public synchronized void setRelayFailingSince(long at) {
        relayFailingSince = at;
    }

    public synchronized String fcmToken() {
        return fcmToken;
    }

    public synchronized String tokenSender() {
        return tokenSender;
    }

    /** Wall time at which Play services last handed out (or confirmed) the token; 0 when unknown. */
    public synchronized long tokenObtainedAt() {
        return tokenObtainedAt;
    }

    /** Play services gave {@code token} for {@code sender} at {@code at}; a changed token has to reach the relay too. */
    public synchronized void setFcmToken(String token, String sender, long at) {
        boolean changed = token == null ? fcmToken != null : !token.equals(fcmToken);
        fcmToken = token;
        tokenSender = token == null ? null : sender;
        tokenObtainedAt = token == null ? 0 : at;
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

    public synchronized WebPushKeys webPushKeys() {
        return webPushKeys;
    }

    public synchronized void setWebPushKeys(WebPushKeys keys) {
        webPushKeys = keys;
    }

    /** What the relay published at {@code GET /v1/info}; null until it answered once. */
    public synchronized RelayInfo info() {
        return info;
    }

    public synchronized long infoFetchedAt() {
        return infoFetchedAt;
    }

    public synchronized void setInfo(RelayInfo info, long at) {
        this.info = info;
        this.infoFetchedAt = info == null ? 0 : at;
    }

    /** FCM dropped messages for this phone (more than 100 waited while it was offline). */
    public synchronized void deletedMessagesReported(long at) {
        deletedMessagesEvents++;
        lastDeletedMessagesAt = at;
    }

    public synchronized long deletedMessagesEvents() {
        return deletedMessagesEvents;
    }

    public synchronized long lastDeletedMessagesAt() {
        return lastDeletedMessagesAt;
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
            root.put("token_sender", tokenSender);
            root.put("token_obtained_at", tokenObtainedAt);
            root.put("relay_token_stale", relayTokenStale);
            if (info != null) {
                JSONObject senders = new JSONObject();
                for (Map.Entry<String, String> e : info.senderIds.entrySet()) {
                    senders.put(e.getKey(), e.getValue() == null ? JSONObject.NULL : e.getValue());
                }
                root.put("info", new JSONObject().put("default_project", info.defaultProject)
                        .put("senders", senders).put("require_vapid", info.requireVapid).put("at", infoFetchedAt)
                        .put("roads", new JSONArray(info.roads)).put("webpush_vapid", info.webpushVapid));
            }
            if (webPushKeys != null) {
                root.put("webpush_keys", webPushKeys.toJson());
            }
            root.put("device_checked_at", deviceCheckedAt);
            root.put("relay_failing_since", relayFailingSince);
            root.put("problems", problems.toJson());
            root.put("deleted_messages", deletedMessagesEvents);
            root.put("deleted_messages_at", lastDeletedMessagesAt);
            root.put("book", book.toJson());
            root.put("pending_deletions", new JSONArray(pendingDeletions));
            root.put("log", log.toJson());
            return root.toString();
        } catch (JSONException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Restores what {@link #toJson()} wrote; throws rather than half-load anything else. Fields
     * added after the first release (token sender and age, relay info, deleted-message counts,
     * device check, relay outage, user problems) are optional so that an update keeps the phone's registrations.
     */
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
        state.tokenSender = RegistrationBook.optionalString(root, "token_sender");
        state.tokenObtainedAt = root.optLong("token_obtained_at", 0);
        state.relayTokenStale = root.getBoolean("relay_token_stale");
        if (!root.isNull("info")) {
            JSONObject i = root.getJSONObject("info");
            Map<String, String> senders = new HashMap<String, String>();
            JSONObject s = i.getJSONObject("senders");
            for (Iterator<String> keys = s.keys(); keys.hasNext(); ) {
                String project = keys.next();
                senders.put(project, RegistrationBook.optionalString(s, project));
            }
            Set<String> roads = new LinkedHashSet<String>();
            JSONArray r = i.optJSONArray("roads");
            for (int k = 0; r != null && k < r.length(); k++) {
                roads.add(r.getString(k));
            }
            if (r == null) {
                roads.add(RelayInfo.ROAD_FCM);
            }
            state.info = new RelayInfo(RegistrationBook.optionalString(i, "default_project"), senders,
                    i.getBoolean("require_vapid"), roads, RegistrationBook.optionalString(i, "webpush_vapid"));
            state.infoFetchedAt = i.getLong("at");
        }
        if (root.has("webpush_keys")) {
            state.webPushKeys = WebPushKeys.fromJson(root.getJSONObject("webpush_keys"));
        }
        state.deviceCheckedAt = root.optLong("device_checked_at", 0);
        state.relayFailingSince = root.optLong("relay_failing_since", 0);
        if (root.has("problems")) {
            state.problems.load(root.getJSONObject("problems"));
        }
        state.deletedMessagesEvents = root.optLong("deleted_messages", 0);
        state.lastDeletedMessagesAt = root.optLong("deleted_messages_at", 0);
        JSONArray deletions = root.getJSONArray("pending_deletions");
        for (int i = 0; i < deletions.length(); i++) {
            state.pendingDeletions.add(deletions.getString(i));
        }
        log.load(root.getJSONArray("log"));
        return state;
    }
}
