package org.uprelay.shim.core;

import java.nio.charset.Charset;

/** Size limits from the UnifiedPush Android spec (AND_3.0.0) and the relay contract. */
public final class Limits {
    public static final int MAX_TOKEN_BYTES = 100;
    public static final int VAPID_KEY_CHARS = 87;
    public static final int MAX_DESCRIPTION_BYTES = 100;
    public static final int MAX_ID_BYTES = 100;
    public static final int MAX_ENDPOINT_BYTES = 1000;
    /** The most a sender may push (RFC 8030 as the relay applies it). */
    public static final int MAX_MESSAGE_BYTES = 4096;
    /**
     * The most the relay may hand an app: a sender's 4096 bytes plus what the relay puts in
     * front of an {@code aesgcm} body (its Encryption and Crypto-Key headers), rejoined from two
     * halves. FCM's own limits keep it far below this; the bound only stops runaway memory.
     */
    public static final int MAX_DELIVERED_BYTES = 16 * 1024;
    public static final int MAX_INSTANCE_BYTES = 128;

    // StandardCharsets needs API 19; this works on every Android release the app targets.
    private static final Charset UTF_8 = Charset.forName("UTF-8");

    private Limits() {
    }

    public static int utf8Length(String s) {
        return s.getBytes(UTF_8).length;
    }

    public static byte[] utf8(String s) {
        return s.getBytes(UTF_8);
    }

    public static String fromUtf8(byte[] b) {
        return new String(b, UTF_8);
    }

    /** The longest prefix of {@code s} whose UTF-8 form fits {@code maxBytes}, never splitting a character. */
    public static String truncateUtf8(String s, int maxBytes) {
        if (utf8Length(s) <= maxBytes) {
            return s;
        }
        int bytes = 0;
        int end = 0;
        while (end < s.length()) {
            int cp = s.codePointAt(end);
            int size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (bytes + size > maxBytes) {
                break;
            }
            bytes += size;
            end += Character.charCount(cp);
        }
        return s.substring(0, end);
    }

    /** The base64url alphabet without padding, as used by VAPID keys and relay instances. */
    public static boolean isBase64Url(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_';
            if (!ok) {
                return false;
            }
        }
        return true;
    }
}
