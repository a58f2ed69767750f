package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class GmsRepliesTest {
    private static final String TOKEN = "dXk9:APA91bH-xyz_123";

    @Test
    public void stripsTheRequestIdWithOrWithoutColon() {
        assertEquals(TOKEN, GmsReplies.tokenOf("|ID|1|:" + TOKEN));
        assertEquals(TOKEN, GmsReplies.tokenOf("|ID|1|" + TOKEN));
        assertEquals(TOKEN, GmsReplies.tokenOf("|ID|42|:" + TOKEN));
    }

    @Test
    public void bareTokenIsKept() {
        assertEquals(TOKEN, GmsReplies.tokenOf(TOKEN));
    }

    @Test
    public void unusableRepliesGiveNull() {
        assertNull(GmsReplies.tokenOf(null));
        assertNull(GmsReplies.tokenOf(""));
        assertNull(GmsReplies.tokenOf("|ID|1|"));
        assertNull(GmsReplies.tokenOf("|ID|1|:"));
        assertNull(GmsReplies.tokenOf("|ID|1"));
        assertNull(GmsReplies.tokenOf("|ID|1|:|ID|2|:x"));
    }

    @Test
    public void onlyServiceOutagesAreWorthRetrying() {
        assertTrue(GmsReplies.isTransientError("SERVICE_NOT_AVAILABLE"));
        assertFalse(GmsReplies.isTransientError("PHONE_REGISTRATION_ERROR"));
        assertFalse(GmsReplies.isTransientError("INVALID_SENDER"));
    }
}
