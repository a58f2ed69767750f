package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;

import java.util.Map;

import org.junit.Test;

/** What Play services is asked for, on each road. */
public class TokenRequestTest {
    private static final String VAPID =
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";

    @Test
    public void theWebPushRoadAsksWithTheVapidKeyAsSenderScopeGcmAndAWebPushSubtype() {
        Map<String, String> e = TokenRequest.extras(VAPID, "org.uprelay.shim");
        assertEquals(Map.of("sender", VAPID, "subscription", VAPID, "X-subscription", VAPID, "scope", "GCM",
                "subtype", "wp:org.uprelay.shim#uprelay", "X-subtype", "wp:org.uprelay.shim#uprelay",
                "kid", "|ID|2|"), e);
    }

    @Test
    public void theFcmRoadAsksWithTheProjectNumber() {
        assertEquals(Map.of("sender", "123456789012", "subtype", "123456789012", "scope", "*", "kid", "|ID|1|"),
                TokenRequest.extras("123456789012", "org.uprelay.shim"));
    }

    @Test
    public void bothRepliesAreReadAlike() {
        assertEquals("wp-token", GmsReplies.tokenOf("|ID|2|wp-token"));
        assertEquals("wp-token", GmsReplies.tokenOf("|ID|2|:wp-token"));
        assertEquals("SERVICE_NOT_AVAILABLE", GmsReplies.errorCodeOf("|ID|2|SERVICE_NOT_AVAILABLE"));
    }
}
