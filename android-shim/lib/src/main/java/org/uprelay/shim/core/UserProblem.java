package org.uprelay.shim.core;

/**
 * Something only the phone's user can fix, shown on the status screen and, where Android
 * allows, as a notification: an app that believes it has push must not silently have none.
 */
public enum UserProblem {
    /** The relay has not answered for {@link Distributor#RELAY_DOWN_MILLIS}: check the URL or the server. */
    RELAY_UNREACHABLE,
    /** An app was told ACTION_REQUIRED: the relay or Play services refused for a reason a retry cannot fix. */
    REGISTRATION_REFUSED,
    /**
     * Play services refused before even asking Google (microG with Cloud Messaging off, or this
     * app not allowed to register): the user has to turn push on for uprelay.
     */
    PLAY_SERVICES_PUSH_OFF,
    /** Android's battery optimisation may stop delivery in Doze; set by the Android layer. */
    BATTERY_OPTIMISED
}
