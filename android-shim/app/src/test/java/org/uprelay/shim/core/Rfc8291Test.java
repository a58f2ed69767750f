package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.util.Random;

import org.junit.Test;

/** The phone's RFC 8291 decryption: the RFC's own example, a round trip, and what it must refuse. */
public class Rfc8291Test {
    // RFC 8291, Appendix A.
    private static final String PLAINTEXT = "When I grow up, I want to be a watermelon";
    private static final String UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    private static final String UA_PUBLIC =
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    private static final String AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    private static final String AS_PUBLIC =
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    private static final String AUTH = "BTBZMqHH6r4Tts7J_aSIgg";
    private static final String SALT = "DGv6ra1nlYgDCS1FRnbzlw";
    private static final String MESSAGE = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
            + "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
            + "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    private final SecureRandom random = new SecureRandom();

    private static WebPushKeys rfcKeys() throws Exception {
        return WebPushKeys.of(P256.privateKey(Base64Codec.decodeUrl(UA_PRIVATE)), Base64Codec.decodeUrl(UA_PUBLIC),
                Base64Codec.decodeUrl(AUTH));
    }

    @Test
    public void theRfcsExampleDecryptsToItsPlaintext() throws Exception {
        byte[] plain = rfcKeys().decrypt(Base64Codec.decodeUrl(MESSAGE));
        assertEquals(PLAINTEXT, new String(plain, StandardCharsets.UTF_8));
    }

    @Test
    public void theTestsOwnEncryptorReproducesTheRfcsExample() throws Exception {
        KeyPair as = new KeyPair(P256.decode(Base64Codec.decodeUrl(AS_PUBLIC)),
                P256.privateKey(Base64Codec.decodeUrl(AS_PRIVATE)));
        byte[] body = WebPushSender.encrypt(PLAINTEXT.getBytes(StandardCharsets.UTF_8), Base64Codec.decodeUrl(UA_PUBLIC),
                Base64Codec.decodeUrl(AUTH), as, Base64Codec.decodeUrl(SALT), 4096, 0, (byte) 2);
        assertEquals(MESSAGE, Base64Codec.encodeUrl(body));
    }

    @Test
    public void aRoundTripWithFreshKeysGivesBackEveryFrameSize() throws Exception {
        WebPushKeys phone = WebPushKeys.generate(random);
        Random sizes = new Random(8291);
        for (int size : new int[] {1, 2, 100, 3992, 3993, 1 + sizes.nextInt(3993), 1 + sizes.nextInt(3993)}) {
            byte[] plain = new byte[size];
            sizes.nextBytes(plain);
            byte[] message = WebPushSender.encrypt(plain, phone.p256dh(), phone.auth());
            assertArrayEquals("size " + size, plain, phone.decrypt(message));
        }
        assertEquals("the biggest frame fills the 4096-byte message exactly", 4096,
                WebPushSender.encrypt(new byte[3993], phone.p256dh(), phone.auth()).length);
    }

    @Test
    public void paddingAfterTheDelimiterIsDropped() throws Exception {
        WebPushKeys phone = WebPushKeys.generate(random);
        byte[] plain = {0, 1, 2, 0, 0};
        byte[] message = WebPushSender.encrypt(plain, WebPushSender.b64url(phone.p256dh()),
                WebPushSender.b64url(phone.auth()), P256.generate(random), new byte[16], 4096, 40, (byte) 2);
        assertArrayEquals(plain, phone.decrypt(message));
    }

    @Test
    public void everyTamperedByteIsRefused() throws Exception {
        byte[] message = Base64Codec.decodeUrl(MESSAGE);
        WebPushKeys keys = rfcKeys();
        // Salt, key id length, key id, ciphertext and tag. (The record size is not authenticated:
        // a larger one describes the same single record, and a smaller one is refused below.)
        for (int at : new int[] {0, 15, 20, 22, 85, 86, 100, message.length - 17, message.length - 1}) {
            byte[] tampered = message.clone();
            tampered[at] ^= 0x01;
            assertThrows("byte " + at, GeneralSecurityException.class, () -> keys.decrypt(tampered));
        }
    }

    @Test
    public void otherKeysAndBrokenMessagesAreRefused() throws Exception {
        byte[] message = Base64Codec.decodeUrl(MESSAGE);
        WebPushKeys other = WebPushKeys.generate(random);
        assertThrows(GeneralSecurityException.class, () -> other.decrypt(message));
        WebPushKeys keys = rfcKeys();
        assertThrows("truncated", GeneralSecurityException.class,
                () -> keys.decrypt(java.util.Arrays.copyOf(message, message.length - 1)));
        assertThrows("header only", GeneralSecurityException.class,
                () -> keys.decrypt(java.util.Arrays.copyOf(message, 86)));
        assertThrows("empty", GeneralSecurityException.class, () -> keys.decrypt(new byte[0]));
        byte[] smallRs = message.clone();
        smallRs[18] = 0;
        smallRs[19] = 50;
        assertThrows("a record longer than rs is not one record", GeneralSecurityException.class,
                () -> keys.decrypt(smallRs));
    }

    @Test
    public void aMessageWithoutTheLastRecordDelimiterIsRefused() throws Exception {
        WebPushKeys phone = WebPushKeys.generate(random);
        byte[] notLast = WebPushSender.encrypt(new byte[] {7, 7}, WebPushSender.b64url(phone.p256dh()),
                WebPushSender.b64url(phone.auth()), P256.generate(random), new byte[16], 4096, 0, (byte) 1);
        assertThrows(GeneralSecurityException.class, () -> phone.decrypt(notLast));
    }

    @Test
    public void aSenderKeyOffTheCurveIsRefusedBeforeAnyEcdh() throws Exception {
        byte[] message = Base64Codec.decodeUrl(MESSAGE);
        byte[] off = message.clone();
        // The last byte of Y: the point no longer satisfies the curve equation.
        off[21 + 64] ^= 0x01;
        GeneralSecurityException e = assertThrows(GeneralSecurityException.class, () -> rfcKeys().decrypt(off));
        assertEquals("point is not on P-256", e.getMessage());
    }

    @Test
    public void keysSurviveTheirJsonForm() throws Exception {
        WebPushKeys phone = WebPushKeys.generate(random);
        WebPushKeys back = WebPushKeys.fromJson(phone.toJson());
        assertEquals(phone.p256dh(), back.p256dh());
        assertEquals(phone.auth(), back.auth());
        assertEquals(87, phone.p256dh().length());
        assertEquals(22, phone.auth().length());
        byte[] message = WebPushSender.encrypt(new byte[] {42}, phone.p256dh(), phone.auth());
        assertArrayEquals(new byte[] {42}, back.decrypt(message));
    }
}
