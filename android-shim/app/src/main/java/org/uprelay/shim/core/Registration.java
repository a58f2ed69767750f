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

    public Registration(String token, String packageName, String instance, String vapid, String description,
                        String endpoint, boolean confirmed) {
        this.token = token;
        this.packageName = packageName;
        this.instance = instance;
        this.vapid = vapid;
        this.description = description;
        this.endpoint = endpoint;
        this.confirmed = confirmed;
    }

    Registration withVapid(String newVapid, String newDescription) {
        boolean same = newVapid == null ? vapid == null : newVapid.equals(vapid);
        return new Registration(token, packageName, instance, newVapid, newDescription, endpoint, confirmed && same);
    }

    Registration confirmedAt(String newEndpoint) {
        return new Registration(token, packageName, instance, vapid, description, newEndpoint, true);
    }

    Registration unconfirmed() {
        return new Registration(token, packageName, instance, vapid, description, endpoint, false);
    }

    /** Whether the app already holds an endpoint, so a failure must not leave it silently dead. */
    public boolean announced() {
        return endpoint != null;
    }
}
