package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.Base64;
import java.util.Random;

import org.junit.Test;

public class Base64CodecTest {
    @Test
    public void decodesWhatTheJdkEncodesForEveryLengthAndByteValue() {
        Random rnd = new Random(7);
        for (int n = 0; n <= 300; n++) {
            byte[] bytes = Wire.random(rnd, n);
            assertArrayEquals("length " + n, bytes, Base64Codec.decode(Base64.getEncoder().encodeToString(bytes)));
        }
        byte[] all = new byte[256];
        for (int i = 0; i < 256; i++) {
            all[i] = (byte) i;
        }
        assertArrayEquals(all, Base64Codec.decode(Base64.getEncoder().encodeToString(all)));
    }

    @Test
    public void knownVectors() {
        assertEquals("f", Limits.fromUtf8(Base64Codec.decode("Zg==")));
        assertEquals("fo", Limits.fromUtf8(Base64Codec.decode("Zm8=")));
        assertEquals("foobar", Limits.fromUtf8(Base64Codec.decode("Zm9vYmFy")));
    }

    @Test
    public void rejectsUnpaddedUrlSafeAndMalformedText() {
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("Zg"));
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("-_8="));
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("Zg=a"));
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("Z==="));
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("Zg==Zg=="));
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("Zm9v\nYmFy"));
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("Zm9vYmF\u00e9"));
    }

    @Test
    public void rejectsNonCanonicalPaddingBits() {
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("Zh=="));
        assertThrows(IllegalArgumentException.class, () -> Base64Codec.decode("Zm9="));
    }
}
