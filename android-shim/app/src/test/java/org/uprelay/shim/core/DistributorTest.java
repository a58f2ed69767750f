package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.Collections;
import java.util.List;

import org.junit.Test;

public class DistributorTest {
    private final FakeClock clock = new FakeClock();
    private final FakeRelay relay = new FakeRelay();
    private final RecordingApps apps = new RecordingApps();
    private int tokenRequests;
    private String unavailable;
    private String saved;
    private final Distributor.TokenSource tokens = new Distributor.TokenSource() {
        @Override
        public String unavailableReason() {
            return unavailable;
        }

        @Override
        public void requestToken() {
            tokenRequests++;
        }
    };
    private Distributor distributor = create(relay, new DistributorState(new RegistrationBook(new SequentialIds()),
            new ActivityLog(clock, 20)));

    private Distributor create(RelayApi api, DistributorState state) {
        InboundDecoder decoder = new InboundDecoder(new SplitReassembler(clock, 60_000, 1 << 20), new SeenIds(100));
        return new Distributor(state, decoder, api, "proj", apps, tokens, json -> saved = json);
    }

    private String deviceId() {
        return distributor.state().device().deviceId;
    }

    /** A distributor with an FCM token and one confirmed registration of org.app / tok-1. */
    private void registered() {
        distributor.onFcmToken("fcm-1");
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
    }

    @Test
    public void firstRegisterWaitsForTheTokenThenCreatesTheDeviceAndAnswers() {
        distributor.register("org.app", "tok-1", null, "chat");
        assertEquals(1, tokenRequests);
        assertTrue("nothing to say before the relay answered", apps.sent.isEmpty());
        assertTrue(relay.calls.isEmpty());

        distributor.onFcmToken("fcm-1");
        assertEquals(List.of("createDevice fcm-1", "register dev-1 instance-1"), relay.calls);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        assertFalse(distributor.needsRetry());
    }

    @Test
    public void reRegisterAnswersTheSameEndpointWithoutAskingTheRelay() {
        registered();
        int calls = relay.calls.size();
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        assertEquals(calls, relay.calls.size());
    }

    @Test
    public void manyRegistrationsShareOneDevice() {
        registered();
        distributor.register("org.app", "tok-2", null, null);
        distributor.register("org.other", "tok-3", null, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-2 https://relay.example/up/ep2",
                "NEW_ENDPOINT org.other tok-3 https://relay.example/up/ep3"), apps.drain());
        assertEquals(1, relay.tokenOfDevice.size());
        assertEquals(3, relay.registrationsOf("dev-1"));
    }

    @Test
    public void tokenOfAnotherAppIsRefused() {
        registered();
        distributor.register("org.evil", "tok-1", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.evil tok-1 INTERNAL_ERROR"), apps.drain());
        assertEquals("org.app", distributor.state().book.get("tok-1").packageName);
    }

    @Test
    public void invalidRegisterIsIgnoredAsTheSpecSays() {
        distributor.onFcmToken("fcm-1");
        distributor.register("org.app", "t".repeat(101), null, null);
        distributor.register("org.app", "tok", "short-vapid", null);
        assertTrue(apps.sent.isEmpty());
        assertTrue(distributor.state().book.all().isEmpty());
    }

    @Test
    public void missingRelayOrPlayServicesNeedsTheUser() {
        Distributor unconfigured = create(null, new DistributorState(new RegistrationBook(new SequentialIds()),
                new ActivityLog(clock, 20)));
        unconfigured.register("org.app", "tok-1", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 ACTION_REQUIRED"), apps.drain());
        assertTrue(unconfigured.state().book.all().isEmpty());

        unavailable = "Google Play services is not installed";
        distributor.register("org.app", "tok-2", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-2 ACTION_REQUIRED"), apps.drain());
        assertEquals(0, tokenRequests);
    }

    @Test
    public void registrationLimitNeedsTheUserAndForgetsTheToken() {
        registered();
        relay.failNext("register", RelayFailure.Kind.REGISTRATION_LIMIT, 403, "registration_limit");
        distributor.register("org.app", "tok-2", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-2 ACTION_REQUIRED"), apps.drain());
        assertNull(distributor.state().book.get("tok-2"));
        assertFalse(distributor.needsRetry());
    }

    @Test
    public void unreachableRelayAnswersEveryWaitingAppWithNetwork() {
        distributor.register("org.app", "tok-1", null, null);
        distributor.register("org.other", "tok-2", null, null);
        relay.failNext("createDevice", RelayFailure.Kind.NETWORK, 0, null);
        distributor.onFcmToken("fcm-1");
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 NETWORK", "REGISTRATION_FAILED org.other tok-2 NETWORK"),
                apps.drain());
        assertEquals("one unreachable relay is not asked twice", 1, relay.calls.size());
        assertTrue(distributor.state().book.all().isEmpty());
    }

    @Test
    public void lostDeviceIsRecreatedAndEveryAppGetsItsNewEndpoint() {
        registered();
        distributor.register("org.other", "tok-2", null, null);
        apps.drain();
        relay.forgetDevice("dev-1");

        distributor.register("org.app", "tok-3", null, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep3",
                "NEW_ENDPOINT org.other tok-2 https://relay.example/up/ep4",
                "NEW_ENDPOINT org.app tok-3 https://relay.example/up/ep5"), apps.drain());
        assertEquals("dev-2", deviceId());
        assertEquals(3, relay.registrationsOf("dev-2"));
    }

    @Test
    public void tokenRotationUpdatesTheRelayAndKeepsEndpoints() {
        registered();
        distributor.onFcmToken("fcm-2");
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-1"));
        assertTrue("endpoints stay the same, so apps hear nothing", apps.sent.isEmpty());
        assertFalse(distributor.needsRetry());
    }

    @Test
    public void tokenRotationThatFailsIsRetriedOnTheNextSync() {
        registered();
        relay.failNext("updateToken", RelayFailure.Kind.SERVER, 503, "unavailable");
        distributor.onFcmToken("fcm-2");
        assertEquals("fcm-1", relay.tokenOfDevice.get("dev-1"));
        assertTrue(distributor.needsRetry());
        distributor.sync();
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-1"));
        assertFalse(distributor.needsRetry());
    }

    @Test
    public void tokenRotationForALostDeviceRecreatesIt() {
        registered();
        relay.forgetDevice("dev-1");
        distributor.onFcmToken("fcm-2");
        assertEquals("dev-2", deviceId());
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-2"));
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep2"), apps.drain());
    }

    @Test
    public void backgroundResyncKeepsAnnouncedRegistrationsThroughOutages() {
        registered();
        relay.forgetDevice("dev-1");
        relay.failNext("createDevice", RelayFailure.Kind.SERVER, 500, "internal");
        distributor.onFcmToken("fcm-2");
        assertTrue("the app keeps its endpoint until the relay is back", apps.sent.isEmpty());
        assertNotNull(distributor.state().book.get("tok-1"));
        assertTrue(distributor.needsRetry());
        distributor.sync();
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep2"), apps.drain());
    }

    @Test
    public void unregisterDeletesAtTheRelayAndConfirms() {
        registered();
        String instance = distributor.state().book.get("tok-1").instance;
        distributor.unregister("org.app", "tok-1");
        assertEquals(List.of("UNREGISTERED org.app tok-1"), apps.drain());
        assertTrue(relay.calls.contains("unregister dev-1 " + instance));
        assertEquals(0, relay.registrationsOf("dev-1"));
        assertNull(distributor.state().book.get("tok-1"));
    }

    @Test
    public void unregisterByAnotherAppIsIgnored() {
        registered();
        distributor.unregister("org.evil", "tok-1");
        assertTrue(apps.sent.isEmpty());
        assertNotNull(distributor.state().book.get("tok-1"));
    }

    @Test
    public void unregisterWhileTheRelayIsDownIsFinishedLater() {
        registered();
        relay.failNext("unregister", RelayFailure.Kind.NETWORK, 0, null);
        distributor.unregister("org.app", "tok-1");
        assertEquals(List.of("UNREGISTERED org.app tok-1"), apps.drain());
        assertEquals(1, relay.registrationsOf("dev-1"));
        assertTrue(distributor.needsRetry());
        distributor.sync();
        assertEquals(0, relay.registrationsOf("dev-1"));
        assertFalse(distributor.needsRetry());
    }

    @Test
    public void messagesReachTheOwningAppWithTheirId() {
        registered();
        distributor.register("org.other", "tok-2", null, null);
        String instance = distributor.state().book.get("tok-2").instance;
        byte[] body = {1, 2, 3};
        distributor.onFcmMessage(Wire.whole(instance, "msg-1", body));
        distributor.onFcmMessage(Wire.whole(instance, "msg-1", body));
        assertEquals(List.of("NEW_ENDPOINT org.other tok-2 https://relay.example/up/ep2", "MESSAGE org.other tok-2 msg-1"),
                apps.drain());
        assertArrayEquals(body, apps.bodies.get(0));
    }

    @Test
    public void messageForAnUnknownInstanceMakesTheRelayForgetIt() {
        registered();
        distributor.onFcmMessage(Wire.whole("stale-instance", "msg-1", new byte[] {1}));
        assertTrue(apps.sent.isEmpty());
        assertTrue(distributor.needsRetry());
        distributor.sync();
        assertTrue(relay.calls.contains("unregister dev-1 stale-instance"));
        assertFalse(distributor.needsRetry());
    }

    @Test
    public void malformedMessagesAreDroppedQuietly() {
        registered();
        distributor.onFcmMessage(Collections.singletonMap("b", "AAAA"));
        assertTrue(apps.sent.isEmpty());
    }

    @Test
    public void transientTokenErrorsBackOffThenGiveUpWithNetwork() {
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(10_000, distributor.onFcmTokenError("SERVICE_NOT_AVAILABLE"));
        assertEquals(20_000, distributor.onFcmTokenError("SERVICE_NOT_AVAILABLE"));
        assertEquals(40_000, distributor.onFcmTokenError("SERVICE_NOT_AVAILABLE"));
        assertEquals(80_000, distributor.onFcmTokenError("SERVICE_NOT_AVAILABLE"));
        assertTrue(apps.sent.isEmpty());
        assertEquals(-1, distributor.onFcmTokenError("SERVICE_NOT_AVAILABLE"));
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 NETWORK"), apps.drain());
    }

    @Test
    public void permanentTokenErrorNeedsTheUser() {
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(-1, distributor.onFcmTokenError("INVALID_SENDER"));
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 ACTION_REQUIRED"), apps.drain());
    }

    @Test
    public void tokenResetAsksForANewTokenAndPassesItOn() {
        registered();
        distributor.onFcmTokenReset();
        assertEquals(1, tokenRequests);
        assertNull(distributor.state().fcmToken());
        distributor.onFcmToken("fcm-2");
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-1"));
        assertTrue(apps.sent.isEmpty());
    }

    @Test
    public void newRelaySettingsMoveEveryRegistration() {
        registered();
        FakeRelay other = new FakeRelay();
        distributor.reconfigure(other, "proj", false);
        assertTrue("the old relay forgets this phone", relay.tokenOfDevice.isEmpty());
        assertEquals(List.of("createDevice fcm-1", "register dev-1 instance-1"), other.calls);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
    }

    @Test
    public void newSenderNeedsANewTokenFirst() {
        registered();
        distributor.reconfigure(relay, "proj", true);
        assertEquals(1, tokenRequests);
        assertNull(distributor.state().fcmToken());
        assertTrue(apps.sent.isEmpty());
        distributor.onFcmToken("fcm-new-sender");
        assertEquals("fcm-new-sender", relay.tokenOfDevice.get("dev-2"));
        assertEquals(1, apps.drain().size());
    }

    @Test
    public void persistedStateRestoresDeviceTokenAndRegistrations() throws Exception {
        registered();
        // Twice: the deletion is retried at the start of the next registration's sync too.
        relay.failNext("unregister", RelayFailure.Kind.NETWORK, 0, null);
        relay.failNext("unregister", RelayFailure.Kind.NETWORK, 0, null);
        distributor.unregister("org.app", "tok-1");
        distributor.register("org.app", "tok-2", RegistrationBookTest.VAPID, null);
        apps.drain();
        DistributorState restored = DistributorState.fromJson(saved, new SequentialIds(), new ActivityLog(clock, 20));
        assertEquals("dev-1", restored.device().deviceId);
        assertEquals("secret-dev-1", restored.device().secret);
        assertEquals("fcm-1", restored.fcmToken());
        assertEquals(RegistrationBookTest.VAPID, restored.book.get("tok-2").vapid);
        assertEquals(1, restored.pendingDeletions().size());
        assertFalse(restored.log.entries().isEmpty());

        distributor = create(relay, restored);
        distributor.sync();
        assertEquals(1, relay.registrationsOf("dev-1"));
        distributor.register("org.app", "tok-2", RegistrationBookTest.VAPID, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-2 https://relay.example/up/ep2"), apps.drain());
    }
}
