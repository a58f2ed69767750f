package org.uprelay.shim.core;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * Reads Google Play services' raw intents: answers to a token request (REGISTRATION) and its
 * own commands among the RECEIVE broadcasts.
 */
public final class GmsReplies {
    private static final String REQUEST_ID_PREFIX = "|ID|";
    /** The {@code from} of Play services' own messages (as opposed to FCM data from a sender). */
    public static final String INSTANCE_ID_SENDER = "google.com/iid";
    /**
     * The {@code from} of the RECEIVE the Firebase SDK reads as "refresh your token" (microG's
     * GcmConstants.GCMID_REFRESH); handled like {@code SYNC}.
     */
    public static final String REFRESH_SENDER = "gcm.googleapis.com/refresh";
    /** The error (after the kid) that says the token was deleted. */
    public static final String RESET = "RST";
    /** The extra (a Long in the bundle, seconds) with which Play services asks to wait before asking again. */
    public static final String RETRY_AFTER = "Retry-After";
    private static final String SERVICE_NOT_AVAILABLE = "SERVICE_NOT_AVAILABLE";

    /**
     * Errors after which asking again cannot help until the user does something (add a Google
     * account, fix the sender id, ...). Everything else, unknown codes included, is retried:
     * taking a passing outage for a permanent failure makes every app give up for good.
     */
    private static final Set<String> PERMANENT = new HashSet<String>(Arrays.asList(
            "ACCOUNT_MISSING", "AUTHENTICATION_FAILED", "INVALID_SENDER", "INVALID_PARAMETERS",
            "PHONE_REGISTRATION_ERROR", "TOO_MANY_REGISTRATIONS", "MISSING_INSTANCEID_SERVICE"));

    /** Play services' commands about the token itself ({@code CMD} of a RECEIVE from google.com/iid). */
    private static final Set<String> TOKEN_COMMANDS = new HashSet<String>(Arrays.asList("RST", "RST_FULL", "SYNC"));

    private GmsReplies() {
    }

    /**
     * The FCM token inside a {@code registration_id}. Play services echoes the request's kid in
     * front of it as {@code |ID|1|:token}, microG as {@code |ID|1|token}; older answers carry the
     * bare token. Returns null when nothing usable is left.
     */
    public static String tokenOf(String registrationId) {
        if (isResetReply(registrationId)) {
            return null;
        }
        String token = withoutRequestId(registrationId);
        return token == null || token.isEmpty() || token.indexOf('|') >= 0 ? null : token;
    }

    /**
     * The error code of a REGISTRATION's {@code error}, which carries the same kid prefix as a
     * token ({@code |ID|1|SERVICE_NOT_AVAILABLE} from microG, {@code |ID|1|:SERVICE_NOT_AVAILABLE}
     * from Google's Play services). Null for null.
     */
    public static String errorCodeOf(String error) {
        String code = withoutRequestId(error);
        return code == null ? null : code.trim();
    }

    /**
     * Whether a {@code registration_id} is no token but Play services' word that the token was
     * reset: {@code |ID|1|RST|…} (or {@code RST} alone after the kid).
     */
    public static boolean isResetReply(String registrationId) {
        String v = withoutRequestId(registrationId);
        return v != null && (v.equals(RESET) || v.startsWith(RESET + "|"));
    }

    /**
     * Whether {@code error} came back without the request's kid. Every request this app sends
     * carries one, and Play services echoes it whenever it asked Google; microG answers a bare
     * {@code SERVICE_NOT_AVAILABLE} only when it refused on the phone (Cloud Messaging off, the
     * app not allowed, no check-in yet), which no retry fixes without the user.
     */
    public static boolean refusedBeforeAsking(String error) {
        return error != null && error.trim().equals(SERVICE_NOT_AVAILABLE);
    }

    /** Play services' {@code Retry-After} (delta seconds) in milliseconds, or -1 when absent or unreadable. */
    public static long retryAfterMillis(String value) {
        long seconds = JsonHttp.parseRetryAfter(value);
        return seconds < 0 ? -1 : seconds * 1000;
    }

    /** Whether asking for a token again later may succeed by itself; unknown codes count as temporary. */
    public static boolean isTransientError(String code) {
        return code != null && !PERMANENT.contains(code) && !RESET.equals(code);
    }

    /** The {@code CMD} of a RECEIVE that is Play services' own word about the token, else null. */
    public static String tokenCommandOf(String from, String command) {
        if (REFRESH_SENDER.equals(from)) {
            return "SYNC";
        }
        if (!INSTANCE_ID_SENDER.equals(from) || command == null) {
            return null;
        }
        String cmd = command.trim();
        return TOKEN_COMMANDS.contains(cmd) ? cmd : null;
    }

    /** Whether a token command means the current token no longer works (as opposed to "check it"). */
    public static boolean voidsToken(String command) {
        return "RST".equals(command) || "RST_FULL".equals(command);
    }

    private static String withoutRequestId(String value) {
        if (value == null) {
            return null;
        }
        String v = value.trim();
        if (!v.startsWith(REQUEST_ID_PREFIX)) {
            return v;
        }
        int end = v.indexOf('|', REQUEST_ID_PREFIX.length());
        if (end < 0) {
            return null;
        }
        v = v.substring(end + 1);
        return v.startsWith(":") ? v.substring(1) : v;
    }
}
