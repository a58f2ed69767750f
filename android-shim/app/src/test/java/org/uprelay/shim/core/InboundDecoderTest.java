package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;

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
    public void messagesWithoutIdCannotBeDeduplicatedAndAreAllDelivered() throws Exception {
        byte[] body = Wire.random(rnd, 10);
        assertNotNull(decoder.accept(Wire.whole("inst", null, body)));
        assertNotNull(decoder.accept(Wire.whole("inst", null, body)));
    }
}
