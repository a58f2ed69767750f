package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Random;

import org.junit.Test;

public class SplitReassemblerTest {
    private final FakeClock clock = new FakeClock();
    private final Random rnd = new Random(3);

    private static WireFragment half(String instance, String id, byte[] body, int part) throws Exception {
        return WireFormat.parse(Wire.half(instance, id, body, part));
    }

    @Test
    public void joinsHalvesInOrder() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 10_000, 1 << 20);
        byte[] body = Wire.random(rnd, 4096);
        assertNull(r.offer(half("i", "m", body, 1)));
        assertArrayEquals(body, r.offer(half("i", "m", body, 2)));
        assertEquals(0, r.waitingHalves());
        assertEquals(0, r.bufferedBytes());
    }

    @Test
    public void joinsHalvesInReverseOrder() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 10_000, 1 << 20);
        byte[] body = Wire.random(rnd, 3001);
        assertNull(r.offer(half("i", "m", body, 2)));
        assertArrayEquals(body, r.offer(half("i", "m", body, 1)));
    }

    @Test
    public void repeatedHalfDoesNotCompleteThePair() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 10_000, 1 << 20);
        byte[] body = Wire.random(rnd, 3500);
        assertNull(r.offer(half("i", "m", body, 1)));
        assertNull(r.offer(half("i", "m", body, 1)));
        assertEquals(1, r.waitingHalves());
        assertArrayEquals(body, r.offer(half("i", "m", body, 2)));
    }

    @Test
    public void halvesOfDifferentInstancesNeverPair() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 10_000, 1 << 20);
        byte[] body = Wire.random(rnd, 3500);
        assertNull(r.offer(half("app-a", "m", body, 1)));
        assertNull(r.offer(half("app-b", "m", body, 2)));
        assertEquals(2, r.waitingHalves());
    }

    @Test
    public void loneHalfExpiresAfterTheConfiguredTime() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 5_000, 1 << 20);
        byte[] body = Wire.random(rnd, 3500);
        r.offer(half("i", "m", body, 1));
        clock.now += 4_999;
        assertEquals(1, r.waitingHalves());
        clock.now += 1;
        assertEquals(0, r.waitingHalves());
        assertEquals(0, r.bufferedBytes());
        assertNull("the partner of an expired half waits alone", r.offer(half("i", "m", body, 2)));
    }

    @Test
    public void halfJustBeforeExpiryStillCompletes() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 5_000, 1 << 20);
        byte[] body = Wire.random(rnd, 3500);
        r.offer(half("i", "m", body, 2));
        clock.now += 4_999;
        assertArrayEquals(body, r.offer(half("i", "m", body, 1)));
    }

    @Test
    public void clockSteppingBackDropsHalvesInsteadOfKeepingThemForever() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 5_000, 1 << 20);
        r.offer(half("i", "m", Wire.random(rnd, 3500), 1));
        clock.now -= 60_000;
        assertEquals(0, r.waitingHalves());
    }

    @Test
    public void memoryCapEvictsOldestHalvesFirst() throws Exception {
        byte[] a = Wire.random(rnd, 4000);
        byte[] b = Wire.random(rnd, 4000);
        byte[] c = Wire.random(rnd, 4000);
        int halfSize = Wire.firstHalfBytes(a).length;
        SplitReassembler r = new SplitReassembler(clock, 60_000, 2 * halfSize);
        r.offer(half("i", "a", a, 1));
        r.offer(half("i", "b", b, 1));
        assertEquals(2 * halfSize, r.bufferedBytes());
        r.offer(half("i", "c", c, 1));
        assertEquals(2, r.waitingHalves());
        assertEquals(2 * halfSize, r.bufferedBytes());
        assertNull("a was evicted", r.offer(half("i", "a", a, 2)));
        assertArrayEquals(c, r.offer(half("i", "c", c, 2)));
    }

    @Test
    public void halfLargerThanTheWholeCapIsRefusedWithAReason() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 60_000, 100);
        WireFragment big = half("i", "m", Wire.random(rnd, 4000), 1);
        assertThrows(MalformedMessageException.class, () -> r.offer(big));
        assertEquals(0, r.waitingHalves());
    }

    @Test
    public void aLongAesgcmBodyWithItsHeaderPrefixIsRejoined() throws Exception {
        // The relay accepts 4096 bytes of aesgcm ciphertext and puts its header lines in front.
        byte[] body = SenderBodies.aesgcm(4096);
        assertTrue(body.length + " bytes", body.length > 4096);
        SplitReassembler r = new SplitReassembler(clock, 60_000, 1 << 20);
        assertNull(r.offer(WireFormat.parse(Wire.half("i", "m", body, 1))));
        assertArrayEquals(body, r.offer(WireFormat.parse(Wire.half("i", "m", body, 2))));
    }

    @Test
    public void pairLongerThanAnythingTheRelaySendsIsRefusedWithAReason() throws Exception {
        SplitReassembler r = new SplitReassembler(clock, 60_000, 1 << 20);
        byte[] big = Wire.random(rnd, 3000);
        r.offer(WireFormat.parse(Wire.half("i", "m", big, 1)));
        // A forged second half that would take the total past the bound.
        WireFragment forged = new WireFragment("i", "m", 2,
                new byte[Limits.MAX_DELIVERED_BYTES - Wire.firstHalfBytes(big).length + 1]);
        assertThrows(MalformedMessageException.class, () -> r.offer(forged));
        assertEquals(0, r.waitingHalves());
    }
}
