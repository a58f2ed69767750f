package org.uprelay.shim.core;

/** The {@code reason} extra of REGISTRATION_FAILED (AND_3.0.0); names are the wire values. */
public enum FailureReason {
    /** Retry now: the distributor or relay had a problem of its own. */
    INTERNAL_ERROR,
    /** Retry when the network is back. */
    NETWORK,
    /** The user has to do something first (configure the relay, install Play services, limit reached). */
    ACTION_REQUIRED,
    /** This distributor wants a VAPID key and the app gave none. */
    VAPID_REQUIRED
}
