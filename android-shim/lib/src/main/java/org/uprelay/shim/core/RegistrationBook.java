package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * Who is registered: connection token (chosen by the app) to app package, relay instance (chosen
 * here, so the app's token never leaves the phone) and endpoint. One app may hold many tokens.
 */
public final class RegistrationBook {
    private static final int FORMAT = 1;

    private final IdSource ids;
    // Insertion order keeps the status screen and re-registration order stable.
    private final LinkedHashMap<String, Registration> byToken = new LinkedHashMap<String, Registration>();

    public RegistrationBook(IdSource ids) {
        this.ids = ids;
    }

    /**
     * Records a REGISTER made at wall time {@code now}. A known token keeps its instance and
     * endpoint; a changed vapid key leaves the registration unconfirmed, because the relay then
     * issues a new endpoint, and owes the app an answer from now on. A known token that already
     * has an endpoint for the same key owes nothing: it is answered from the book at once, even
     * while the relay is unreachable, so that a retry can never cost an app a working endpoint.
     */
    public synchronized Registration request(String packageName, String token, String vapid, String description,
                                             long now)
            throws InvalidRequestException, InvalidVapidException, TokenTakenException {
        if (packageName == null || packageName.isEmpty()) {
            throw new InvalidRequestException("caller identity unknown");
        }
        if (token == null || token.isEmpty() || Limits.utf8Length(token) > Limits.MAX_TOKEN_BYTES) {
            throw new InvalidRequestException("token must be 1.." + Limits.MAX_TOKEN_BYTES + " bytes");
        }
        String key = normaliseVapid(vapid);
        // The connector does not shorten the description; refusing a long one would leave the app waiting.
        String shown = description == null ? null : Limits.truncateUtf8(description, Limits.MAX_DESCRIPTION_BYTES);
        Registration known = byToken.get(token);
        Registration next;
        if (known == null) {
            next = new Registration(token, packageName, ids.newId(), key, shown, null, false, now, 0);
        } else if (!known.packageName.equals(packageName)) {
            throw new TokenTakenException();
        } else {
            next = known.requested(key, shown, now);
        }
        if (next.confirmed) {
            // Answered at once with the endpoint it already has.
            next = next.confirmedAt(next.endpoint);
        }
        byToken.put(token, next);
        return next;
    }

    private static String normaliseVapid(String vapid) throws InvalidRequestException, InvalidVapidException {
        if (vapid == null || vapid.isEmpty()) {
            return null;
        }
        if (vapid.length() != Limits.VAPID_KEY_CHARS || !Limits.isBase64Url(vapid)) {
            throw new InvalidRequestException("vapid must be an uncompressed P-256 key in "
                    + Limits.VAPID_KEY_CHARS + " base64url characters");
        }
        // An uncompressed P-256 point starts with the byte 0x04, which base64url writes as 'B'.
        if (vapid.charAt(0) != 'B') {
            throw new InvalidVapidException("vapid is not an uncompressed P-256 point (it does not start with 0x04)");
        }
        return vapid;
    }

    /** Stores the endpoint the relay returned for {@code token}; returns null if it was removed meanwhile. */
    public synchronized Registration confirm(String token, String endpoint) {
        if (!isAcceptableEndpoint(endpoint)) {
            throw new IllegalArgumentException("endpoint must be an http(s) URL of at most "
                    + Limits.MAX_ENDPOINT_BYTES + " bytes");
        }
        Registration known = byToken.get(token);
        if (known == null) {
            return null;
        }
        Registration next = known.confirmedAt(endpoint);
        byToken.put(token, next);
        return next;
    }

    public static boolean isAcceptableEndpoint(String endpoint) {
        return endpoint != null && Limits.utf8Length(endpoint) <= Limits.MAX_ENDPOINT_BYTES
                && (endpoint.startsWith("https://") || endpoint.startsWith("http://"));
    }

    /** Notes a MESSAGE_ACK; returns null (and changes nothing) for a token this book does not know. */
    public synchronized Registration acknowledge(String token, long at) {
        Registration known = byToken.get(token);
        if (known == null) {
            return null;
        }
        Registration next = known.acknowledgedAt(at);
        byToken.put(token, next);
        return next;
    }

    /** Registrations whose app still waits for an answer to its REGISTER. */
    public synchronized List<Registration> owingAnswers() {
        List<Registration> out = new ArrayList<Registration>();
        for (Registration r : byToken.values()) {
            if (r.answerOwed()) {
                out.add(r);
            }
        }
        return out;
    }

    public synchronized Registration get(String token) {
        return byToken.get(token);
    }

    public synchronized Registration byInstance(String instance) {
        for (Registration r : byToken.values()) {
            if (r.instance.equals(instance)) {
                return r;
            }
        }
        return null;
    }

    public synchronized Registration remove(String token) {
        return byToken.remove(token);
    }

    public synchronized List<Registration> all() {
        return new ArrayList<Registration>(byToken.values());
    }

    public synchronized List<Registration> unconfirmed() {
        List<Registration> out = new ArrayList<Registration>();
        for (Registration r : byToken.values()) {
            if (!r.confirmed) {
                out.add(r);
            }
        }
        return out;
    }

    /** After the relay lost the device, every registration must be made again. */
    public synchronized void unconfirmAll() {
        for (Registration r : new ArrayList<Registration>(byToken.values())) {
            byToken.put(r.token, r.unconfirmed());
        }
    }

    public synchronized JSONObject toJson() throws JSONException {
        JSONArray list = new JSONArray();
        for (Registration r : byToken.values()) {
            JSONObject o = new JSONObject();
            o.put("token", r.token);
            o.put("package", r.packageName);
            o.put("instance", r.instance);
            o.put("vapid", r.vapid);
            o.put("description", r.description);
            o.put("endpoint", r.endpoint);
            o.put("confirmed", r.confirmed);
            o.put("requested_at", r.requestedAt);
            o.put("last_ack_at", r.lastAckAt);
            list.put(o);
        }
        JSONObject root = new JSONObject();
        root.put("format", FORMAT);
        root.put("registrations", list);
        return root;
    }

    /**
     * Rejects anything it did not write, rather than guessing at half-understood state. The
     * times were added later; state written before them reads as "no answer owed, no ACK yet".
     */
    public static RegistrationBook fromJson(JSONObject root, IdSource ids) throws JSONException {
        if (root.getInt("format") != FORMAT) {
            throw new JSONException("unknown registration book format");
        }
        RegistrationBook book = new RegistrationBook(ids);
        JSONArray list = root.getJSONArray("registrations");
        for (int i = 0; i < list.length(); i++) {
            JSONObject o = list.getJSONObject(i);
            Registration r = new Registration(o.getString("token"), o.getString("package"), o.getString("instance"),
                    optionalString(o, "vapid"), optionalString(o, "description"), optionalString(o, "endpoint"),
                    o.getBoolean("confirmed"), o.optLong("requested_at", 0), o.optLong("last_ack_at", 0));
            book.byToken.put(r.token, r);
        }
        return book;
    }

    // org.json's optString turns a missing value into "", which would read back as a real value.
    static String optionalString(JSONObject o, String name) throws JSONException {
        return o.isNull(name) ? null : o.getString(name);
    }
}
