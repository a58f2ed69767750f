package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.Arrays;

import org.junit.Test;

/** The relay's Web Push frame, version 1: what the phone accepts and what it refuses. */
public class WebPushFrameTest {
    private static final byte[] BODY = {0, (byte) 0xff, 10, 13, 'a'};

    @Test
    public void wholeAndBothHalvesAreRead() throws Exception {
        for (int part = 0; part <= 2; part++) {
            WireFragment f = WebPushFrame.parse(WebPushSender.frame(part, "01HZX3M4", "inst-\u00e9\u2603", BODY));
            assertEquals(part, f.part);
            assertEquals("01HZX3M4", f.messageId);
            assertEquals("inst-\u00e9\u2603", f.instance);
            assertArrayEquals(BODY, f.bytes);
        }
    }

    @Test
    public void theLongestIdAndInstanceFit() throws Exception {
        String id = "m".repeat(Limits.MAX_ID_BYTES);
        String instance = "i".repeat(Limits.MAX_INSTANCE_BYTES);
        WireFragment f = WebPushFrame.parse(WebPushSender.frame(0, id, instance, BODY));
        assertEquals(id, f.messageId);
        assertEquals(instance, f.instance);
    }

    @Test
    public void brokenFramesAreRefused() {
        byte[] good = WebPushSender.frame(0, "m1", "inst", BODY);
        refused("empty", new byte[0]);
        refused("header only", Arrays.copyOf(good, 3));
        byte[] version = good.clone();
        version[0] = 2;
        refused("version 2", version);
        byte[] part = good.clone();
        part[1] = 3;
        refused("part 3", part);
        refused("no message id", WebPushSender.frame(0, "", "inst", BODY));
        refused("no instance", WebPushSender.frame(0, "m1", "", BODY));
        refused("no body", WebPushSender.frame(0, "m1", "inst", new byte[0]));
        byte[] idOverruns = good.clone();
        idOverruns[2] = (byte) 200;
        refused("id longer than the frame", idOverruns);
        byte[] instanceOverruns = good.clone();
        instanceOverruns[2 + 1 + 2] = (byte) 120;
        refused("instance longer than the frame", instanceOverruns);
        refused("instance over the spec's 128 bytes", WebPushSender.frame(0, "m1", "i".repeat(129), BODY));
        byte[] nonAscii = good.clone();
        nonAscii[3] = (byte) 0xe9;
        refused("non-ASCII id", nonAscii);
        byte[] badUtf8 = good.clone();
        badUtf8[2 + 1 + 2 + 1] = (byte) 0xc3;
        badUtf8[2 + 1 + 2 + 2] = (byte) 0x28;
        refused("instance not UTF-8", badUtf8);
    }

    private static void refused(String what, byte[] frame) {
        assertThrows(what, MalformedMessageException.class, () -> WebPushFrame.parse(frame));
    }
}
