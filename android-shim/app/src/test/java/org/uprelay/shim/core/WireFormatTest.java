package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;

import java.util.Map;
import java.util.Random;

import org.junit.Test;

public class WireFormatTest {
    private final byte[] body = Wire.random(new Random(1), 100);

    @Test
    public void wholeMessageIgnoresPlayServicesExtras() throws Exception {
        WireFragment f = WireFormat.parse(Wire.whole("inst-1", "msg-1", body));
        assertEquals("inst-1", f.instance);
        assertEquals("msg-1", f.messageId);
        assertEquals(WireFragment.WHOLE, f.part);
        assertArrayEquals(body, f.bytes);
    }

    @Test
    public void wholeMessageWithoutIdIsAccepted() throws Exception {
        assertNull(WireFormat.parse(Wire.whole("inst-1", null, body)).messageId);
    }

    @Test
    public void halvesCarryTheirPartAndDecodeAlone() throws Exception {
        WireFragment first = WireFormat.parse(Wire.half("i", "m", body, 1));
        WireFragment second = WireFormat.parse(Wire.half("i", "m", body, 2));
        assertEquals(1, first.part);
        assertEquals(2, second.part);
        assertEquals(body.length, first.bytes.length + second.bytes.length);
    }

    @Test
    public void maximumBodyIsAcceptedAndOneMoreByteIsNot() throws Exception {
        int max = Limits.MAX_DELIVERED_BYTES;
        assertEquals(max, WireFormat.parse(Wire.whole("i", "m", new byte[max])).bytes.length);
        assertThrows(MalformedMessageException.class, () -> WireFormat.parse(Wire.whole("i", "m", new byte[max + 1])));
    }

    @Test
    public void rejectsBrokenMaps() {
        assertRejected(without(Wire.whole("i", "m", body), "i"));
        assertRejected(without(Wire.whole("i", "m", body), "b"));
        assertRejected(with(Wire.whole("i", "m", body), "b", "not base64!"));
        assertRejected(with(Wire.whole("i", "m", body), "b", ""));
        assertRejected(with(Wire.whole("i", "m", body), "s", "3"));
        assertRejected(without(Wire.half("i", "m", body, 1), "m"));
        assertRejected(with(Wire.whole("i", "m", body), "i", ""));
        assertRejected(with(Wire.whole("i", "m", body), "i", "x".repeat(129)));
        assertRejected(with(Wire.whole("i", "m", body), "m", "x".repeat(101)));
    }

    private static void assertRejected(Map<String, String> data) {
        assertThrows(MalformedMessageException.class, () -> WireFormat.parse(data));
    }

    private static Map<String, String> without(Map<String, String> data, String key) {
        data.remove(key);
        return data;
    }

    private static Map<String, String> with(Map<String, String> data, String key, String value) {
        data.put(key, value);
        return data;
    }
}
