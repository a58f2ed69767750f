package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.List;

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
    public void errorsCarryTheSamePrefixAsTokens() {
        assertEquals("SERVICE_NOT_AVAILABLE", GmsReplies.errorCodeOf("|ID|1|:SERVICE_NOT_AVAILABLE"));
        assertEquals("SERVICE_NOT_AVAILABLE", GmsReplies.errorCodeOf("|ID|1|SERVICE_NOT_AVAILABLE"));
        assertEquals("SERVICE_NOT_AVAILABLE", GmsReplies.errorCodeOf("SERVICE_NOT_AVAILABLE"));
        assertEquals("RST", GmsReplies.errorCodeOf("|ID|1|:RST"));
        assertNull(GmsReplies.errorCodeOf(null));
    }

    @Test
    public void temporaryErrorsAndUnknownCodesAreRetriedOnlyKnownPermanentOnesAreNot() {
        for (String code : List.of("SERVICE_NOT_AVAILABLE", "INTERNAL_SERVER_ERROR", "InternalServerError", "TIMEOUT",
                "SOMETHING_NEW")) {
            assertTrue(code, GmsReplies.isTransientError(GmsReplies.errorCodeOf("|ID|1|:" + code)));
            assertTrue(code, GmsReplies.isTransientError(GmsReplies.errorCodeOf("|ID|1|" + code)));
        }
        for (String code : List.of("PHONE_REGISTRATION_ERROR", "INVALID_SENDER", "ACCOUNT_MISSING", "AUTHENTICATION_FAILED",
                "TOO_MANY_REGISTRATIONS", "INVALID_PARAMETERS", "MISSING_INSTANCEID_SERVICE")) {
            assertFalse(code, GmsReplies.isTransientError(GmsReplies.errorCodeOf("|ID|1|:" + code)));
        }
        assertFalse("a reset is not an error to retry", GmsReplies.isTransientError("RST"));
    }

    @Test
    public void tokenCommandsComeOnlyFromInstanceId() {
        assertEquals("RST", GmsReplies.tokenCommandOf("google.com/iid", "RST"));
        assertEquals("RST_FULL", GmsReplies.tokenCommandOf("google.com/iid", "RST_FULL"));
        assertEquals("SYNC", GmsReplies.tokenCommandOf("google.com/iid", "SYNC"));
        assertNull("an FCM sender cannot reset the token", GmsReplies.tokenCommandOf("1234567890", "RST"));
        assertNull(GmsReplies.tokenCommandOf("google.com/iid", "PING"));
        assertNull(GmsReplies.tokenCommandOf("google.com/iid", null));
        assertTrue(GmsReplies.voidsToken("RST"));
        assertTrue(GmsReplies.voidsToken("RST_FULL"));
        assertFalse(GmsReplies.voidsToken("SYNC"));
    }
}
