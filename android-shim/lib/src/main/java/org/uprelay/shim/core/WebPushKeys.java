package org.uprelay.shim.core;

import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.interfaces.ECPrivateKey;
import java.security.interfaces.ECPublicKey;
import java.security.spec.PKCS8EncodedKeySpec;

import org.json.JSONException;
import org.json.JSONObject;

/**
 * The phone's Web Push key material: a P-256 key pair and a 16-byte auth secret, made here and
 * kept in the distributor's private state. The relay gets the public key and the auth secret
 * (as {@code p256dh} and {@code auth}); the private key never leaves the phone.
 */
public final class WebPushKeys {
    public static final int AUTH_BYTES = 16;

    private final ECPrivateKey privateKey;
    private final byte[] publicKey;
    private final byte[] auth;

    private WebPushKeys(ECPrivateKey privateKey, byte[] publicKey, byte[] auth) {
        this.privateKey = privateKey;
        this.publicKey = publicKey;
        this.auth = auth;
    }

    public static WebPushKeys generate(SecureRandom random) throws GeneralSecurityException {
        KeyPair pair = P256.generate(random);
        byte[] auth = new byte[AUTH_BYTES];
        random.nextBytes(auth);
        return new WebPushKeys((ECPrivateKey) pair.getPrivate(), P256.encode((ECPublicKey) pair.getPublic()), auth);
    }

    /** Keys given as their parts (test vectors). */
    public static WebPushKeys of(ECPrivateKey privateKey, byte[] publicKey, byte[] auth) {
        return new WebPushKeys(privateKey, publicKey.clone(), auth.clone());
    }

    /** {@code p256dh}: the public key, 65 bytes uncompressed, in base64url. */
    public String p256dh() {
        return Base64Codec.encodeUrl(publicKey);
    }

    /** {@code auth}: the 16-byte secret in base64url. */
    public String auth() {
        return Base64Codec.encodeUrl(auth);
    }

    /** The plaintext of an RFC 8291 {@code aes128gcm} message encrypted to these keys. */
    public byte[] decrypt(byte[] message) throws GeneralSecurityException {
        return Rfc8291.decrypt(message, privateKey, publicKey, auth);
    }

    JSONObject toJson() throws JSONException {
        return new JSONObject().put("private", Base64Codec.encode(privateKey.getEncoded()))
                .put("public", p256dh()).put("auth", auth());
    }

    static WebPushKeys fromJson(JSONObject o) throws JSONException {
        try {
            ECPrivateKey priv = (ECPrivateKey) KeyFactory.getInstance("EC")
                    .generatePrivate(new PKCS8EncodedKeySpec(Base64Codec.decode(o.getString("private"))));
            byte[] pub = Base64Codec.decodeUrl(o.getString("public"));
            P256.decode(pub);
            byte[] auth = Base64Codec.decodeUrl(o.getString("auth"));
            if (auth.length != AUTH_BYTES) {
                throw new JSONException("auth secret is not 16 bytes");
            }
            return new WebPushKeys(priv, pub, auth);
        } catch (GeneralSecurityException | IllegalArgumentException e) {
            throw new JSONException("unreadable Web Push keys: " + e.getMessage());
        }
    }
}
