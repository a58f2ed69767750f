package org.uprelay.shim.core;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.interfaces.ECPublicKey;
import java.util.Arrays;
import java.util.Base64;

import javax.crypto.Cipher;
import javax.crypto.KeyAgreement;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The sender's (relay's) side of RFC 8291, written for the tests from the RFC alone (its own
 * HKDF, not the shim's), plus the relay's frame: what a Web Push payload to the phone looks like.
 */
public final class WebPushSender {
    private WebPushSender() {
    }

    static byte[] b64url(String s) {
        return Base64.getUrlDecoder().decode(s);
    }

    /** One aes128gcm record: header (salt, rs, the sender's key) then the encrypted padded plaintext. */
    public static byte[] encrypt(byte[] plaintext, byte[] uaPublic, byte[] auth, KeyPair sender, byte[] salt, int rs,
                                 int padding, byte delimiter) throws Exception {
        KeyAgreement ka = KeyAgreement.getInstance("ECDH");
        ka.init(sender.getPrivate());
        ka.doPhase(P256.decode(uaPublic), true);
        byte[] secret = ka.generateSecret();
        byte[] asPublic = P256.encode((ECPublicKey) sender.getPublic());
        ByteArrayOutputStream keyInfo = new ByteArrayOutputStream();
        keyInfo.write("WebPush: info".getBytes(StandardCharsets.US_ASCII));
        keyInfo.write(0);
        keyInfo.write(uaPublic);
        keyInfo.write(asPublic);
        byte[] ikm = hkdf(auth, secret, keyInfo.toByteArray(), 32);
        byte[] cek = hkdf(salt, ikm, "Content-Encoding: aes128gcm\0".getBytes(StandardCharsets.US_ASCII), 16);
        byte[] nonce = hkdf(salt, ikm, "Content-Encoding: nonce\0".getBytes(StandardCharsets.US_ASCII), 12);
        byte[] padded = Arrays.copyOf(plaintext, plaintext.length + 1 + padding);
        padded[plaintext.length] = delimiter;
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(cek, "AES"), new GCMParameterSpec(128, nonce));
        byte[] record = c.doFinal(padded);
        ByteBuffer out = ByteBuffer.allocate(21 + asPublic.length + record.length);
        out.put(salt).putInt(rs).put((byte) asPublic.length).put(asPublic).put(record);
        return out.array();
    }

    /** What the relay sends: random salt, rs 4096, delimiter 2, no padding. */
    public static byte[] encrypt(byte[] plaintext, String p256dh, String auth) throws Exception {
        byte[] salt = new byte[16];
        new java.security.SecureRandom().nextBytes(salt);
        return encrypt(plaintext, b64url(p256dh), b64url(auth), P256.generate(new java.security.SecureRandom()), salt,
                4096, 0, (byte) 2);
    }

    /** The relay's frame, version 1. */
    public static byte[] frame(int part, String messageId, String instance, byte[] body) {
        byte[] id = messageId.getBytes(StandardCharsets.US_ASCII);
        byte[] inst = instance.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + id.length + inst.length + body.length);
        b.put((byte) 1).put((byte) part).put((byte) id.length).put(id).put((byte) inst.length).put(inst).put(body);
        return b.array();
    }

    private static byte[] hkdf(byte[] salt, byte[] ikm, byte[] info, int length) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(salt, "HmacSHA256"));
        byte[] prk = mac.doFinal(ikm);
        mac.init(new SecretKeySpec(prk, "HmacSHA256"));
        mac.update(info);
        mac.update((byte) 1);
        return Arrays.copyOf(mac.doFinal(), length);
    }
}
