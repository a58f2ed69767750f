package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Random;

import org.junit.Test;

public class InboundDecoderTest {
    private final FakeClock clock = new FakeClock();
    private final InboundDecoder decoder = new InboundDecoder(new SplitReassembler(clock, 60_000, 1 << 20), new SeenIds(100));
    private final Random rnd = new Random(5);

    @Test
    public void wholeMessageIsDeliveredOnce() throws Exception {
        byte[] body = Wire.random(rnd, 10);
        InboundMessage m = decoder.accept(Wire.whole("inst", "m1", body));
        assertEquals("inst", m.instance);
        assertEquals("m1", m.id);
        assertArrayEquals(body, m.body);
        assertNull(decoder.accept(Wire.whole("inst", "m1", body)));
    }

    @Test
    public void splitMessageIsDeliveredOnceEvenIfAHalfComesAgain() throws Exception {
        byte[] body = Wire.random(rnd, 4096);
        assertNull(decoder.accept(Wire.half("inst", "m2", body, 2)));
        InboundMessage m = decoder.accept(Wire.half("inst", "m2", body, 1));
        assertNotNull(m);
        assertArrayEquals(body, m.body);
        assertNull(decoder.accept(Wire.half("inst", "m2", body, 1)));
        assertNull(decoder.accept(Wire.half("inst", "m2", body, 2)));
    }

    @Test
    public void matrixGatewayAndAesgcmBodiesComeOutByteForByteWholeOrSplit() throws Exception {
        byte[] matrixShort = SenderBodies.matrixShort();
        byte[] matrixLong = SenderBodies.matrixLong();
        byte[] aesgcmShort = SenderBodies.aesgcm(180);
        byte[] aesgcmLong = SenderBodies.aesgcm(3500);
        assertTrue(matrixLong.length + " bytes", matrixLong.length > 3500 && matrixLong.length <= Limits.MAX_MESSAGE_BYTES);
        assertTrue(aesgcmLong.length <= Limits.MAX_MESSAGE_BYTES);
        String head = "aesgcm\nEncryption: salt=lngarbyKfMoi9Z75xYXmkg\nCrypto-Key: dh="
                + "BNoRDbb84JGm8g5Z5CFxurSqsXWJ11ItfXEWYVLE85Y7CYkDjXsIEc4aqxYaQ1G8BqkXCJ6DPpDrWtdWj_mugHU\n";
        assertEquals(head, new String(aesgcmShort, 0, head.length(), StandardCharsets.US_ASCII));
        assertEquals(head.length() + 180, aesgcmShort.length);

        assertArrayEquals(matrixShort, decoder.accept(Wire.whole("inst", "mx1", matrixShort)).body);
        assertArrayEquals(aesgcmShort, decoder.accept(Wire.whole("inst", "ae1", aesgcmShort)).body);

        // The cut of a split body falls inside a multi-byte character and inside the ciphertext.
        byte[] firstHalf = Wire.firstHalfBytes(matrixLong);
        assertTrue("the cut splits a UTF-8 character at " + firstHalf.length,
                (matrixLong[firstHalf.length] & 0xc0) == 0x80);
        assertNull(decoder.accept(Wire.half("inst", "mx2", matrixLong, 2)));
        assertArrayEquals(matrixLong, decoder.accept(Wire.half("inst", "mx2", matrixLong, 1)).body);
        assertNull(decoder.accept(Wire.half("inst", "ae2", aesgcmLong, 1)));
        assertArrayEquals(aesgcmLong, decoder.accept(Wire.half("inst", "ae2", aesgcmLong, 2)).body);
    }

    @Test
    public void messagesWithoutIdCannotBeDeduplicatedAndAreAllDelivered() throws Exception {
        byte[] body = Wire.random(rnd, 10);
        assertNotNull(decoder.accept(Wire.whole("inst", null, body)));
        assertNotNull(decoder.accept(Wire.whole("inst", null, body)));
    }
}
