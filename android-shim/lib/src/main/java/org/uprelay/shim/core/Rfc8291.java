package org.uprelay.shim.core;

import java.security.GeneralSecurityException;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.util.Arrays;

import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The user agent's side of RFC 8291 (Message Encryption for Web Push) over RFC 8188's
 * {@code aes128gcm}: ECDH with the sender's key from the header, HKDF-SHA-256 keyed by the auth
 * secret, one AES-128-GCM record. Only javax.crypto and java.security, which Android has.
 */
public final class Rfc8291 {
    /** salt (16) + record size (4) + key id length (1). */
    public static final int HEADER_FIXED_BYTES = 21;
    private static final int TAG_BYTES = 16;
    private static final byte[] KEY_INFO = Limits.utf8("WebPush: info\u0000");
    private static final byte[] CEK_INFO = Limits.utf8("Content-Encoding: aes128gcm\u0000");
    private static final byte[] NONCE_INFO = Limits.utf8("Content-Encoding: nonce\u0000");

    private Rfc8291() {
    }

    /**
     * The plaintext of {@code message} (header and one record) encrypted to {@code uaPublic} /
     * {@code authSecret}. Throws for anything that does not decrypt and verify: a wrong key, a
     * tampered byte, a bad header, more than one record, bad padding.
     */
    public static byte[] decrypt(byte[] message, ECPrivateKey uaPrivate, byte[] uaPublic, byte[] authSecret)
            throws GeneralSecurityException {
        if (message.length < HEADER_FIXED_BYTES) {
            throw new GeneralSecurityException("shorter than an aes128gcm header");
        }
        byte[] salt = Arrays.copyOfRange(message, 0, 16);
        long rs = ((message[16] & 0xffL) << 24) | ((message[17] & 0xff) << 16) | ((message[18] & 0xff) << 8)
                | (message[19] & 0xff);
        int idLength = message[20] & 0xff;
        if (idLength != P256.POINT_BYTES || message.length < HEADER_FIXED_BYTES + idLength + TAG_BYTES + 1) {
            throw new GeneralSecurityException("the key id is not a P-256 key, or no record follows");
        }
        byte[] record = Arrays.copyOfRange(message, HEADER_FIXED_BYTES + idLength, message.length);
        if (rs < TAG_BYTES + 2 || record.length > rs) {
            // RFC 8291 section 4: a push message is a single record.
            throw new GeneralSecurityException("not a single record of at most rs = " + rs + " bytes");
        }
        ECPublicKey sender = P256.decode(Arrays.copyOfRange(message, HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + idLength));
        KeyAgreement ka = KeyAgreement.getInstance("ECDH");
        ka.init(uaPrivate);
        ka.doPhase(sender, true);
        byte[] ecdhSecret = ka.generateSecret();
        byte[] keyInfo = concat(KEY_INFO, uaPublic, P256.encode(sender));
        byte[] ikm = expand(extract(authSecret, ecdhSecret), keyInfo, 32);
        byte[] prk = extract(salt, ikm);
        byte[] cek = expand(prk, CEK_INFO, 16);
        byte[] nonce = expand(prk, NONCE_INFO, 12);
        Cipher aes = Cipher.getInstance("AES/GCM/NoPadding");
        aes.init(Cipher.DECRYPT_MODE, new SecretKeySpec(cek, "AES"), new GCMParameterSpec(TAG_BYTES * 8, nonce));
        byte[] padded = aes.doFinal(record);
        // The last (and only) record ends with the delimiter 0x02, then zero padding.
        int end = padded.length - 1;
        while (end >= 0 && padded[end] == 0) {
            end--;
        }
        if (end < 0 || padded[end] != 2) {
            throw new GeneralSecurityException("no last-record delimiter");
        }
        return Arrays.copyOf(padded, end);
    }

    /** HKDF-Extract (RFC 5869) with HMAC-SHA-256. */
    static byte[] extract(byte[] salt, byte[] ikm) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(salt, "HmacSHA256"));
        return mac.doFinal(ikm);
    }

    /** HKDF-Expand for at most one block (32 bytes), which is all Web Push needs. */
    static byte[] expand(byte[] prk, byte[] info, int length) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(prk, "HmacSHA256"));
        mac.update(info);
        mac.update((byte) 1);
        return Arrays.copyOf(mac.doFinal(), length);
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
