package org.uprelay.shim.core;

import java.util.Arrays;

/**
 * Strict decoder for standard, padded base64 (RFC 4648 section 4).
 * java.util.Base64 only exists from Android API 26 and android.util.Base64 is not on the JVM,
 * and the relay always emits canonical padded text, so anything else is treated as corruption.
 */
public final class Base64Codec {
    private static final String ALPHABET =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    private static final int[] VALUES = new int[128];

    static {
        Arrays.fill(VALUES, -1);
        for (int i = 0; i < ALPHABET.length(); i++) {
            VALUES[ALPHABET.charAt(i)] = i;
        }
    }

    private Base64Codec() {
    }

    private static final String URL_ALPHABET =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /** Unpadded base64url (RFC 4648 section 5), as Web Push keys are written. */
    public static String encodeUrl(byte[] bytes) {
        String padded = encode(bytes);
        StringBuilder b = new StringBuilder(padded.length());
        for (int i = 0; i < padded.length(); i++) {
            char c = padded.charAt(i);
            if (c == '=') {
                break;
            }
            b.append(c == '+' ? '-' : c == '/' ? '_' : c);
        }
        return b.toString();
    }

    /** Unpadded (or padded) base64url; anything outside its alphabet is refused. */
    public static byte[] decodeUrl(String text) {
        StringBuilder b = new StringBuilder(text.length() + 3);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '=') {
                break;
            }
            if (URL_ALPHABET.indexOf(c) < 0) {
                throw new IllegalArgumentException("invalid base64url character at " + i);
            }
            b.append(c == '-' ? '+' : c == '_' ? '/' : c);
        }
        while (b.length() % 4 != 0) {
            b.append('=');
        }
        return decode(b.toString());
    }

    /**
     * Standard base64 as Android's Base64.DEFAULT writes it (microG's {@code gcm.rawData64}):
     * padded, with line breaks, which are dropped before the strict decode.
     */
    public static byte[] decodeLenient(String text) {
        StringBuilder b = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c != '\n' && c != '\r' && c != ' ' && c != '\t') {
                b.append(c);
            }
        }
        return decode(b.toString());
    }

    /** Standard, padded base64 of {@code bytes}. */
    public static String encode(byte[] bytes) {
        StringBuilder b = new StringBuilder((bytes.length + 2) / 3 * 4);
        for (int i = 0; i < bytes.length; i += 3) {
            int n = (bytes[i] & 0xff) << 16;
            int left = bytes.length - i;
            if (left > 1) {
                n |= (bytes[i + 1] & 0xff) << 8;
            }
            if (left > 2) {
                n |= bytes[i + 2] & 0xff;
            }
            b.append(ALPHABET.charAt(n >> 18 & 63)).append(ALPHABET.charAt(n >> 12 & 63));
            b.append(left > 1 ? ALPHABET.charAt(n >> 6 & 63) : '=');
            b.append(left > 2 ? ALPHABET.charAt(n & 63) : '=');
        }
        return b.toString();
    }

    public static byte[] decode(String text) {
        int n = text.length();
        if (n % 4 != 0) {
            throw new IllegalArgumentException("base64 length " + n + " is not a multiple of 4");
        }
        if (n == 0) {
            return new byte[0];
        }
        int pad = text.charAt(n - 1) == '=' ? (text.charAt(n - 2) == '=' ? 2 : 1) : 0;
        byte[] out = new byte[n / 4 * 3 - pad];
        int o = 0;
        for (int i = 0; i < n; i += 4) {
            boolean last = i + 4 == n;
            int a = value(text, i);
            int b = value(text, i + 1);
            if (last && pad == 2) {
                requireZeroBits(b & 0x0f);
                out[o] = (byte) ((a << 2) | (b >> 4));
                return out;
            }
            int c = value(text, i + 2);
            if (last && pad == 1) {
                requireZeroBits(c & 0x03);
                out[o] = (byte) ((a << 2) | (b >> 4));
                out[o + 1] = (byte) ((b << 4) | (c >> 2));
                return out;
            }
            int d = value(text, i + 3);
            out[o++] = (byte) ((a << 2) | (b >> 4));
            out[o++] = (byte) ((b << 4) | (c >> 2));
            out[o++] = (byte) ((c << 6) | d);
        }
        return out;
    }

    private static int value(String text, int index) {
        char c = text.charAt(index);
        int v = c < 128 ? VALUES[c] : -1;
        if (v < 0) {
            throw new IllegalArgumentException("invalid base64 character at " + index);
        }
        return v;
    }

    // Non-zero discarded bits mean two different texts would decode to the same bytes.
    private static void requireZeroBits(int bits) {
        if (bits != 0) {
            throw new IllegalArgumentException("non-canonical base64 padding bits");
        }
    }
}
