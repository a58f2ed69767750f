package org.uprelay.shim.core;

/**
 * One connection between an app and the distributor. Immutable: the book swaps whole values.
 * {@code endpoint} is the last endpoint the app was told (null before the first NEW_ENDPOINT);
 * {@code confirmed} says whether the relay holds this instance for the current device, which
 * stops being true when the device is re-created or the vapid key changes.
 */
public final class Registration {
    public final String token;
    public final String packageName;
    public final String instance;
    public final String vapid;
    public final String description;
    public final String endpoint;
    public final boolean confirmed;
    /**
     * Wall time of the REGISTER that still waits for its answer (NEW_ENDPOINT or
     * REGISTRATION_FAILED), 0 when none does. Persisted, so that a process death cannot leave an
     * app waiting forever.
     */
    public final long requestedAt;
    /** Wall time of the app's last MESSAGE_ACK, 0 when it never sent one. */
    public final long lastAckAt;

    public Registration(String token, String packageName, String instance, String vapid, String description,
                        String endpoint, boolean confirmed, long requestedAt, long lastAckAt) {
        this.token = token;
        this.packageName = packageName;
        this.instance = instance;
        this.vapid = vapid;
        this.description = description;
        this.endpoint = endpoint;
        this.confirmed = confirmed;
        this.requestedAt = requestedAt;
        this.lastAckAt = lastAckAt;
    }

    Registration requested(String newVapid, String newDescription, long at) {
        boolean same = newVapid == null ? vapid == null : newVapid.equals(vapid);
        long owed = same && announced() ? 0 : at;
        return new Registration(token, packageName, instance, newVapid, newDescription, endpoint, confirmed && same,
                owed, lastAckAt);
    }

    /** The relay holds it at {@code newEndpoint} and the app is being told, so no answer is owed any more. */
    Registration confirmedAt(String newEndpoint) {
        return new Registration(token, packageName, instance, vapid, description, newEndpoint, true, 0, lastAckAt);
    }

    Registration unconfirmed() {
        return new Registration(token, packageName, instance, vapid, description, endpoint, false, requestedAt,
                lastAckAt);
    }

    Registration acknowledgedAt(long at) {
        return new Registration(token, packageName, instance, vapid, description, endpoint, confirmed, requestedAt, at);
    }

    /** Whether the app already holds an endpoint, so a failure must not leave it silently dead. */
    public boolean announced() {
        return endpoint != null;
    }

    /**
     * Whether the app waits for an answer: a REGISTER not yet answered, or a registration that
     * never had an endpoint (whose REGISTER is the only reason it exists).
     */
    public boolean answerOwed() {
        return requestedAt != 0 || !announced();
    }
}
