package org.uprelay.shim.core;

/** Reads Google Play services' answers to a token request (the REGISTRATION broadcast). */
public final class GmsReplies {
    private static final String REQUEST_ID_PREFIX = "|ID|";

    private GmsReplies() {
    }

    /**
     * The FCM token inside a {@code registration_id}. Play services echoes the request's kid in
     * front of it as {@code |ID|1|:token}, microG as {@code |ID|1|token}; older answers carry the
     * bare token. Returns null when nothing usable is left.
     */
    public static String tokenOf(String registrationId) {
        if (registrationId == null) {
            return null;
        }
        String token = registrationId.trim();
        if (token.startsWith(REQUEST_ID_PREFIX)) {
            int end = token.indexOf('|', REQUEST_ID_PREFIX.length());
            if (end < 0) {
                return null;
            }
            token = token.substring(end + 1);
            if (token.startsWith(":")) {
                token = token.substring(1);
            }
        }
        return token.isEmpty() || token.indexOf('|') >= 0 ? null : token;
    }

    /** Errors that Play services documents as "try again later". */
    public static boolean isTransientError(String error) {
        return "SERVICE_NOT_AVAILABLE".equals(error) || "INTERNAL_SERVER_ERROR".equals(error)
                || "TIMEOUT".equals(error);
    }
}
