package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.Test;

public class DistributorTest {
    private static final String SENDER = FakeRelay.SENDER;
    private final FakeClock clock = new FakeClock();
    private final FakeRelay relay = new FakeRelay();
    private final RecordingApps apps = new RecordingApps();
    private final RecordingTokenSource tokens = new RecordingTokenSource();
    /** The sender of every token request, in order. */
    private final List<String> tokenRequests = tokens.requests;
    private String saved;
    private Distributor distributor = create(relay, "", freshState());

    private DistributorState freshState() {
        return new DistributorState(new RegistrationBook(new SequentialIds()), new ActivityLog(clock, 20));
    }

    private Distributor create(RelayApi api, String manualSender, DistributorState state) {
        InboundDecoder decoder = new InboundDecoder(new SplitReassembler(clock, 60_000, 1 << 20), new SeenIds(100));
        return new Distributor(state, decoder, api, "proj", manualSender, clock, apps, tokens, json -> saved = json);
    }

    private String deviceId() {
        return distributor.state().device().deviceId;
    }

    /** Play services' REGISTRATION answer carrying {@code token}, as Google's Play services writes it. */
    private long token(String token) {
        return distributor.onGmsRegistration(Map.of("registration_id", "|ID|1|:" + token));
    }

    private long tokenError(String error) {
        return distributor.onGmsRegistration(Map.of("error", error));
    }

    /** A RECEIVE that is Play services' own command about the token. */
    private void command(String cmd) {
        distributor.onGmsReceive(Map.of("from", "google.com/iid", "CMD", cmd));
    }

    /** A distributor with an FCM token and one confirmed registration of org.app / tok-1, as a phone gets there. */
    private void registered() {
        distributor.register("org.app", "tok-1", null, null);
        token("fcm-1");
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        tokenRequests.clear();
    }

    @Test
    public void firstRegisterWaitsForTheTokenThenCreatesTheDeviceAndAnswers() {
        distributor.register("org.app", "tok-1", null, "chat");
        assertEquals(List.of(SENDER), tokenRequests);
        assertTrue("nothing to say before the relay answered", apps.sent.isEmpty());
        assertTrue(relay.calls.isEmpty());

        token("fcm-1");
        assertEquals(List.of("createDevice fcm-1", "register dev-1 instance-1"), relay.calls);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        assertFalse(distributor.needsRetry());
        assertEquals(-1, distributor.nextAnswerDeadline());
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
        token("fcm-1");
        distributor.register("org.app", "t".repeat(101), null, null);
        distributor.register("org.app", "tok", "short-vapid", null);
        assertTrue(apps.sent.isEmpty());
        assertTrue(distributor.state().book.all().isEmpty());
    }

    @Test
    public void aLongDescriptionIsCutAndTheAppStillGetsItsEndpoint() {
        token("fcm-1");
        distributor.register("org.app", "tok-1", null, "d".repeat(150));
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        assertEquals("d".repeat(100), distributor.state().book.get("tok-1").description);
    }

    @Test
    public void missingRelayOrPlayServicesNeedsTheUser() {
        Distributor unconfigured = create(null, "", freshState());
        unconfigured.register("org.app", "tok-1", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 ACTION_REQUIRED"), apps.drain());
        assertTrue(unconfigured.state().book.all().isEmpty());

        tokens.unavailable = "Google Play services is not installed";
        distributor.register("org.app", "tok-2", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-2 ACTION_REQUIRED"), apps.drain());
        assertTrue(tokenRequests.isEmpty());
    }

    @Test
    public void theSenderIdComesFromTheRelaysInfo() {
        Distributor withTypedSender = create(relay, "555", freshState());
        withTypedSender.register("org.app", "tok-1", null, null);
        assertEquals("the relay's published number wins over a typed one", List.of(SENDER), tokenRequests);
        assertEquals(1, relay.infoCalls);
        assertEquals(SENDER, withTypedSender.sender());
    }

    @Test
    public void aTypedSenderIsUsedWhenTheRelayPublishesNone() {
        relay.info = RelayInfo.NONE;
        Distributor withTypedSender = create(relay, "555", freshState());
        withTypedSender.register("org.app", "tok-1", null, null);
        assertEquals(List.of("555"), tokenRequests);

        Distributor withNone = create(relay, "", freshState());
        withNone.register("org.app", "tok-2", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-2 ACTION_REQUIRED"), apps.drain());
        assertEquals(List.of("555"), tokenRequests);
    }

    @Test
    public void theRelaysInfoIsReadOnceADay() {
        registered();
        distributor.register("org.app", "tok-2", null, null);
        assertEquals(1, relay.infoCalls);
        clock.now += Distributor.INFO_REFRESH_MILLIS;
        distributor.resume();
        assertEquals(2, relay.infoCalls);
    }

    @Test
    public void unreachableRelayForTheInfoAnswersNetworkAtOnce() {
        relay.failNext("info", RelayFailure.Kind.NETWORK, 0, null);
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 NETWORK"), apps.drain());
        assertTrue(distributor.needsRetry());
    }

    @Test
    public void aRelayThatRequiresVapidRefusesARegisterWithoutOneAtOnce() {
        relay.info = new RelayInfo("proj", Map.of("proj", SENDER), true);
        distributor.register("org.app", "tok-1", null, null);
        assertEquals("even before there is a token", List.of("REGISTRATION_FAILED org.app tok-1 VAPID_REQUIRED"),
                apps.drain());
        assertNull(distributor.state().book.get("tok-1"));
        token("fcm-1");
        distributor.register("org.app", "tok-2", RegistrationBookTest.VAPID, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-2 https://relay.example/up/ep1"), apps.drain());
        assertEquals(List.of("createDevice fcm-1", "register dev-1 instance-2"), relay.calls);
    }

    @Test
    public void theRelaysOwnVapidRequiredAnswerIsPassedOn() {
        registered();
        relay.failNext("register", RelayFailure.Kind.BAD_REQUEST, 400, "vapid_required");
        distributor.register("org.app", "tok-2", null, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-2 VAPID_REQUIRED"), apps.drain());
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
        token("fcm-1");
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 NETWORK", "REGISTRATION_FAILED org.other tok-2 NETWORK"),
                apps.drain());
        assertEquals("one unreachable relay is not asked twice", 1, relay.calls.size());
        assertTrue(distributor.state().book.all().isEmpty());
    }

    @Test
    public void aRegisterWaitingForTheTokenIsAnsweredWithNetworkAfter30Seconds() {
        distributor.register("org.app", "tok-1", null, null);
        long deadline = clock.now + Distributor.ANSWER_DEADLINE_MILLIS;
        assertEquals(deadline, distributor.nextAnswerDeadline());
        clock.now = deadline - 1;
        distributor.answerOverdue();
        assertTrue(apps.sent.isEmpty());
        clock.now = deadline;
        distributor.answerOverdue();
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 NETWORK"), apps.drain());
        assertNull(distributor.state().book.get("tok-1"));
        assertEquals(-1, distributor.nextAnswerDeadline());
        distributor.answerOverdue();
        assertTrue("answered once", apps.sent.isEmpty());
    }

    @Test
    public void aWaitingRegisterSurvivesTheProcessAndIsAnsweredAfterARestart() throws Exception {
        distributor.register("org.app", "tok-1", null, null);
        long registeredAt = clock.now;
        // The process dies; Android starts it again a minute later.
        clock.now += 60_000;
        distributor = create(relay, "", DistributorState.fromJson(saved, new SequentialIds(), new ActivityLog(clock, 20)));
        assertEquals(registeredAt + Distributor.ANSWER_DEADLINE_MILLIS, distributor.nextAnswerDeadline());
        distributor.resume();
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 NETWORK"), apps.drain());
    }

    @Test
    public void anOverdueRegisterWithTokenAndRelayAtHandIsAnInternalError() throws Exception {
        registered();
        // A REGISTER recorded, then the process died before the relay was asked.
        distributor.state().book.request("org.app", "tok-2", null, null, clock.now);
        clock.now += Distributor.ANSWER_DEADLINE_MILLIS;
        distributor.answerOverdue();
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-2 INTERNAL_ERROR"), apps.drain());
    }

    @Test
    public void theDeadlineAnswersWhileTheRelayIsStillBusyAndTheLateEndpointIsUndone() {
        token("fcm-1");
        // The deadline fires on another thread while register() waits for a slow relay.
        relay.duringNextRegister = () -> {
            clock.now += Distributor.ANSWER_DEADLINE_MILLIS;
            distributor.answerOverdue();
        };
        distributor.register("org.app", "tok-1", null, null);
        assertEquals("one answer, no NEW_ENDPOINT after it", List.of("REGISTRATION_FAILED org.app tok-1 NETWORK"),
                apps.drain());
        assertTrue(distributor.needsRetry());
        distributor.sync();
        assertEquals("the relay forgets the registration it made too late", 0, relay.registrationsOf("dev-1"));
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
        token("fcm-2");
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-1"));
        assertTrue("endpoints stay the same, so apps hear nothing", apps.sent.isEmpty());
        assertFalse(distributor.needsRetry());
    }

    @Test
    public void tokenRotationThatFailsIsRetriedOnTheNextSync() {
        registered();
        relay.failNext("updateToken", RelayFailure.Kind.SERVER, 503, "unavailable");
        token("fcm-2");
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
        token("fcm-2");
        assertEquals("dev-2", deviceId());
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-2"));
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep2"), apps.drain());
    }

    @Test
    public void backgroundResyncKeepsAnnouncedRegistrationsThroughOutages() {
        registered();
        relay.forgetDevice("dev-1");
        relay.failNext("createDevice", RelayFailure.Kind.SERVER, 500, "internal");
        token("fcm-2");
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
    public void unregisterOfAnUnknownTokenIsIgnoredWithoutAnAnswer() {
        registered();
        int calls = relay.calls.size();
        distributor.unregister("org.app", "never-registered");
        assertTrue(apps.sent.isEmpty());
        assertEquals(calls, relay.calls.size());
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
        distributor.onGmsReceive(Wire.whole(instance, "msg-1", body));
        distributor.onGmsReceive(Wire.whole(instance, "msg-1", body));
        assertEquals(List.of("NEW_ENDPOINT org.other tok-2 https://relay.example/up/ep2", "MESSAGE org.other tok-2 msg-1"),
                apps.drain());
        assertArrayEquals(body, apps.bodies.get(0));
    }

    @Test
    public void messageAcksNeedNoIdentityAndAreMatchedByToken() throws Exception {
        registered();
        clock.now += 1234;
        distributor.messageAcknowledged("tok-1", "msg-1");
        assertEquals(clock.now, distributor.state().book.get("tok-1").lastAckAt);
        distributor.messageAcknowledged("unknown-token", "msg-2");
        distributor.messageAcknowledged(null, "msg-3");
        assertNull(distributor.state().book.get("unknown-token"));
        assertTrue(apps.sent.isEmpty());
        DistributorState restored = DistributorState.fromJson(saved, new SequentialIds(), new ActivityLog(clock, 20));
        assertEquals("kept for the status screen", clock.now, restored.book.get("tok-1").lastAckAt);
    }

    @Test
    public void messageForAnUnknownInstanceMakesTheRelayForgetIt() {
        registered();
        distributor.onGmsReceive(Wire.whole("stale-instance", "msg-1", new byte[] {1}));
        assertTrue(apps.sent.isEmpty());
        assertTrue(distributor.needsRetry());
        distributor.sync();
        assertTrue(relay.calls.contains("unregister dev-1 stale-instance"));
        assertFalse(distributor.needsRetry());
    }

    @Test
    public void malformedMessagesAreDroppedQuietly() {
        registered();
        distributor.onGmsReceive(Collections.singletonMap("b", "AAAA"));
        assertTrue(apps.sent.isEmpty());
    }

    @Test
    public void deletedMessagesAreCountedAndKept() throws Exception {
        registered();
        distributor.onGmsReceive(Map.of("message_type", "deleted_messages", "from", SENDER));
        clock.now += 5;
        distributor.onGmsReceive(Map.of("message_type", "deleted_messages", "from", SENDER));
        assertEquals(2, distributor.state().deletedMessagesEvents());
        assertEquals("each time, every app hears its own endpoint again: the connector's cue to sync",
                List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1",
                        "NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        DistributorState restored = DistributorState.fromJson(saved, new SequentialIds(), new ActivityLog(clock, 20));
        assertEquals(2, restored.deletedMessagesEvents());
        assertEquals(clock.now, restored.lastDeletedMessagesAt());
    }

    @Test
    public void prefixedTemporaryTokenErrorsAreRetriedWithBackoffAndNeverGiveUp() {
        distributor.register("org.app", "tok-1", null, null);
        // Google's Play services and microG put the request's kid in front of errors too.
        assertEquals(10_000, tokenError("|ID|1|:SERVICE_NOT_AVAILABLE"));
        assertEquals(20_000, tokenError("|ID|1|SERVICE_NOT_AVAILABLE"));
        assertEquals(40_000, tokenError("|ID|1|:INTERNAL_SERVER_ERROR"));
        assertEquals(80_000, tokenError("|ID|1|:InternalServerError"));
        assertEquals(160_000, tokenError("|ID|1|:TIMEOUT"));
        assertEquals(320_000, tokenError("|ID|1|:A_CODE_NOBODY_DOCUMENTED"));
        assertTrue("no ACTION_REQUIRED for a passing outage", apps.sent.isEmpty());
        for (int i = 0; i < 20; i++) {
            tokenError("|ID|1|:SERVICE_NOT_AVAILABLE");
        }
        assertEquals("capped at an hour", 3_600_000, tokenError("|ID|1|:SERVICE_NOT_AVAILABLE"));
        clock.now += Distributor.ANSWER_DEADLINE_MILLIS;
        distributor.answerOverdue();
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 NETWORK"), apps.drain());
        token("fcm-1");
        assertEquals("the backoff starts again after a success", 10_000, tokenError("|ID|1|:SERVICE_NOT_AVAILABLE"));
    }

    @Test
    public void prefixedPermanentTokenErrorNeedsTheUser() {
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(-1, tokenError("|ID|1|:INVALID_SENDER"));
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 ACTION_REQUIRED"), apps.drain());
    }

    @Test
    public void playServicesResetMakesANewTokenReachTheRelayWithTheSameEndpoints() {
        resetGetsANewTokenToTheRelay("RST");
    }

    @Test
    public void aFullResetDoesTheSame() {
        resetGetsANewTokenToTheRelay("RST_FULL");
    }

    private void resetGetsANewTokenToTheRelay(String cmd) {
        registered();
        command(cmd);
        assertEquals(List.of(SENDER), tokenRequests);
        assertNull("the token is void", distributor.state().fcmToken());
        token("fcm-2");
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-1"));
        assertTrue("endpoints stay, apps hear nothing", apps.sent.isEmpty());
        assertEquals("dev-1", deviceId());
        assertEquals(List.of("createDevice fcm-1", "register dev-1 instance-1", "updateToken dev-1 fcm-2"), relay.calls);
    }

    @Test
    public void aResetAsPrefixedErrorIsAResetToo() {
        registered();
        assertEquals(-1, tokenError("|ID|1|:RST"));
        assertEquals(List.of(SENDER), tokenRequests);
        token("fcm-2");
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-1"));
        assertTrue(apps.sent.isEmpty());
    }

    @Test
    public void syncRechecksTheTokenAndOnlyAChangedOneIsSent() {
        registered();
        command("SYNC");
        assertEquals(List.of(SENDER), tokenRequests);
        assertEquals("the token stays usable meanwhile", "fcm-1", distributor.state().fcmToken());
        token("fcm-1");
        assertFalse(relay.calls.stream().anyMatch(c -> c.startsWith("updateToken")));
        command("SYNC");
        assertEquals("a temporary failure is retried", 10_000, tokenError("|ID|1|:SERVICE_NOT_AVAILABLE"));
        distributor.resume();
        assertEquals(3, tokenRequests.size());
        token("fcm-2");
        distributor.resume();
        assertEquals("answered: no more requests", 3, tokenRequests.size());
        assertEquals(List.of("updateToken dev-1 fcm-2"),
                relay.calls.stream().filter(c -> c.startsWith("updateToken")).collect(java.util.stream.Collectors.toList()));
    }

    @Test
    public void otherPlayServicesMessagesAreNotMessagesForApps() {
        registered();
        Map<String, String> ping = new HashMap<>(Map.of("from", "google.com/iid", "CMD", "PING"));
        distributor.onGmsReceive(ping);
        distributor.onGmsReceive(Map.of("message_type", "send_event", "from", SENDER));
        assertTrue(apps.sent.isEmpty());
        assertTrue(tokenRequests.isEmpty());
    }

    @Test
    public void aWeekOldTokenIsAskedForAgainAndTheRelayUpdatedWhenItChanged() {
        registered();
        distributor.resume();
        assertTrue("a fresh token is left alone", tokenRequests.isEmpty());
        clock.now += Distributor.TOKEN_REFRESH_MILLIS;
        distributor.resume();
        assertEquals(List.of(SENDER), tokenRequests);
        token("fcm-1");
        assertFalse("the same token needs no PUT", relay.calls.stream().anyMatch(c -> c.startsWith("updateToken")));
        distributor.resume();
        assertEquals("confirming the token made it fresh again", 1, tokenRequests.size());
        clock.now += Distributor.TOKEN_REFRESH_MILLIS;
        distributor.resume();
        token("fcm-2");
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-1"));
        assertTrue(apps.sent.isEmpty());
    }

    @Test
    public void newRelaySettingsMoveEveryRegistration() {
        registered();
        FakeRelay other = new FakeRelay();
        distributor.reconfigure(other, "proj", "");
        assertTrue("the old relay forgets this phone", relay.tokenOfDevice.isEmpty());
        assertEquals(List.of("createDevice fcm-1", "register dev-1 instance-1"), other.calls);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
    }

    @Test
    public void aRelayOfAnotherFirebaseProjectNeedsANewTokenFirst() {
        registered();
        FakeRelay other = new FakeRelay();
        other.info = new RelayInfo("other", Map.of("other", "999"), false);
        distributor.reconfigure(other, "", "");
        assertEquals(List.of("999"), tokenRequests);
        assertTrue("no device with a token of the wrong project", other.calls.isEmpty());
        assertTrue(apps.sent.isEmpty());
        token("fcm-for-999");
        assertEquals("fcm-for-999", other.tokenOfDevice.get("dev-1"));
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
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
        assertEquals(SENDER, restored.tokenSender());
        assertEquals(clock.now, restored.tokenObtainedAt());
        assertEquals(SENDER, restored.info().senderFor(""));
        assertEquals(RegistrationBookTest.VAPID, restored.book.get("tok-2").vapid);
        assertEquals(1, restored.pendingDeletions().size());
        assertFalse(restored.log.entries().isEmpty());

        distributor = create(relay, "", restored);
        distributor.sync();
        assertEquals(1, relay.registrationsOf("dev-1"));
        distributor.register("org.app", "tok-2", RegistrationBookTest.VAPID, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-2 https://relay.example/up/ep2"), apps.drain());
        assertEquals("the info was restored, not read again", 1, relay.infoCalls);
    }

    // --- an app never silently loses its pushes ---

    @Test
    public void theSameTokenAgainFromPlayServicesFindsTheDeviceTheRelayDeleted() {
        registered();
        distributor.register("org.other", "tok-2", null, null);
        apps.drain();
        // FCM called the token dead; the relay deleted the device. Play services hands out the same token.
        relay.forgetDevice("dev-1");
        token("fcm-1");
        assertEquals("dev-2", deviceId());
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep3",
                "NEW_ENDPOINT org.other tok-2 https://relay.example/up/ep4"), apps.drain());
        assertEquals(2, relay.registrationsOf("dev-2"));
    }

    @Test
    public void aReRegisterIsAnsweredFromTheBookAndThenFindsTheDeviceGone() {
        registered();
        relay.forgetDevice("dev-1");
        int checks = relay.deviceChecks;
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(checks + 1, relay.deviceChecks);
        assertEquals("first the endpoint it has, then the new one",
                List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1",
                        "NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep2"), apps.drain());
        assertEquals("dev-2", deviceId());
    }

    @Test
    public void theDeviceIsCheckedPeriodicallyAndNotOnEveryResume() {
        registered();
        int checks = relay.deviceChecks;
        distributor.resume();
        assertEquals("checked just now", checks, relay.deviceChecks);
        relay.forgetDevice("dev-1");
        clock.now += Distributor.DEVICE_CHECK_MILLIS;
        distributor.resume();
        assertEquals(checks + 1, relay.deviceChecks);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep2"), apps.drain());
    }

    @Test
    public void aDeviceCheckThatCannotReachTheRelayChangesNothingAndIsRetried() {
        registered();
        relay.failNext("deviceExists", RelayFailure.Kind.NETWORK, 0, null);
        token("fcm-1");
        assertTrue(apps.sent.isEmpty());
        assertEquals("dev-1", deviceId());
        assertTrue(distributor.needsRetry());
        distributor.sync();
        assertFalse(distributor.needsRetry());
        assertTrue(apps.sent.isEmpty());
    }

    @Test
    public void clearingTheRelayUrlTellsEveryAppAtOnce() {
        registered();
        distributor.register("org.other", "tok-2", null, null);
        apps.drain();
        distributor.reconfigure(null, "", "");
        assertEquals(List.of("UNREGISTERED org.app tok-1", "UNREGISTERED org.other tok-2"), apps.drain());
        assertTrue(distributor.state().book.all().isEmpty());
        assertTrue("the device was deleted at the relay", relay.tokenOfDevice.isEmpty());
    }

    @Test
    public void aRejoinedAesgcmBodyLongerThan4096BytesReachesTheApp() {
        registered();
        String instance = distributor.state().book.get("tok-1").instance;
        byte[] body = SenderBodies.aesgcm(4096);
        distributor.onGmsReceive(Wire.half(instance, "m-1", body, 2));
        distributor.onGmsReceive(Wire.half(instance, "m-1", body, 1));
        assertEquals(List.of("MESSAGE org.app tok-1 m-1"), apps.drain());
        assertArrayEquals(body, apps.bodies.get(0));
    }

    @Test
    public void aDroppedMessageIsAlwaysLogged() {
        registered();
        String instance = distributor.state().book.get("tok-1").instance;
        byte[] big = new byte[3000];
        distributor.onGmsReceive(Wire.half(instance, "m-1", big, 1));
        Map<String, String> forged = new HashMap<>(Wire.half(instance, "m-1", big, 2));
        forged.put("b", java.util.Base64.getEncoder().encodeToString(new byte[Limits.MAX_DELIVERED_BYTES]));
        distributor.onGmsReceive(forged);
        assertTrue(apps.sent.isEmpty());
        assertTrue(distributor.state().log.entries().get(0).text.startsWith("dropped"));
    }

    @Test
    public void aReRegisterWhileTheRelayIsDownKeepsTheEndpointTheAppHas() {
        registered();
        // The relay lost the device and is down now: the registration waits to be made again.
        relay.forgetDevice("dev-1");
        relay.failNext("createDevice", RelayFailure.Kind.NETWORK, 0, null);
        relay.failNext("createDevice", RelayFailure.Kind.NETWORK, 0, null);
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        // Again, after the 30 s deadline of the first.
        clock.now += Distributor.ANSWER_DEADLINE_MILLIS;
        distributor.answerOverdue();
        distributor.register("org.app", "tok-1", null, null);
        assertEquals("answered from the book, never REGISTRATION_FAILED",
                List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        assertNotNull(distributor.state().book.get("tok-1"));
        distributor.sync();
        assertEquals("once the relay is back the app gets its new endpoint",
                List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep2"), apps.drain());
    }

    @Test
    public void aReRegisterWithAnotherVapidKeyStillGoesToTheRelay() {
        registered();
        distributor.register("org.app", "tok-1", RegistrationBookTest.VAPID, null);
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep2"), apps.drain());
    }

    @Test
    public void aRegisterIsRecordedAndPersistedAsItIsReceived() throws Exception {
        saved = null;
        assertTrue(distributor.accept("org.app", "tok-1", null, null));
        assertTrue("nothing asked yet", relay.calls.isEmpty() && tokenRequests.isEmpty() && relay.infoCalls == 0);
        assertEquals("the deadline runs from receipt", clock.now + Distributor.ANSWER_DEADLINE_MILLIS,
                distributor.nextAnswerDeadline());
        DistributorState restored = DistributorState.fromJson(saved, new SequentialIds(), new ActivityLog(clock, 20));
        assertEquals(clock.now, restored.book.get("tok-1").requestedAt);
        distributor.proceed("tok-1");
        assertEquals(List.of(SENDER), tokenRequests);
    }

    @Test
    public void aRelayRefusalIsActionRequired() {
        registered();
        relay.failNext("register", RelayFailure.Kind.BAD_REQUEST, 400, "invalid_vapid");
        distributor.register("org.app", "tok-2", RegistrationBookTest.VAPID, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-2 ACTION_REQUIRED"), apps.drain());
    }

    @Test
    public void aVapidKeyThatIsNoUncompressedPointIsAnswered() {
        registered();
        String notAPoint = "A" + RegistrationBookTest.VAPID.substring(1);
        distributor.register("org.app", "tok-2", notAPoint, null);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-2 ACTION_REQUIRED"), apps.drain());
        assertNull(distributor.state().book.get("tok-2"));
    }

    @Test
    public void aRefreshFromGcmAsksForTheTokenAgain() {
        registered();
        distributor.onGmsReceive(Map.of("from", "gcm.googleapis.com/refresh"));
        assertEquals(List.of(SENDER), tokenRequests);
        assertTrue(apps.sent.isEmpty());
    }

    @Test
    public void aResetInTheRegistrationIdVoidsTheToken() {
        registered();
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|1|RST|"));
        assertNull(distributor.state().fcmToken());
        assertEquals(List.of(SENDER), tokenRequests);
        token("fcm-2");
        assertEquals("fcm-2", relay.tokenOfDevice.get("dev-1"));
    }

    @Test
    public void playServicesRetryAfterIsHonoured() {
        distributor.register("org.app", "tok-1", null, null);
        Map<String, Object> bundle = new HashMap<>();
        bundle.put("error", "|ID|1|SERVICE_NOT_AVAILABLE");
        bundle.put("Retry-After", 120L);
        assertEquals(120_000, distributor.onGmsRegistration(GmsExtras.strings(bundle)));
    }

    @Test
    public void aBareServiceNotAvailableIsTheUsersToFix() {
        distributor.register("org.app", "tok-1", null, null);
        long retry = tokenError("SERVICE_NOT_AVAILABLE");
        assertTrue("still retried, in case the user turns push on", retry > 0);
        assertEquals(List.of("REGISTRATION_FAILED org.app tok-1 ACTION_REQUIRED"), apps.drain());
        assertTrue(distributor.state().problems.has(UserProblem.PLAY_SERVICES_PUSH_OFF));
        distributor.register("org.app", "tok-2", null, null);
        token("fcm-1");
        assertFalse("a token closes the problem", distributor.state().problems.has(UserProblem.PLAY_SERVICES_PUSH_OFF));
    }

    @Test
    public void aRelayDownForHoursIsShownToTheUserAndClearedWhenItAnswers() throws Exception {
        registered();
        List<List<Problems.Open>> told = new java.util.ArrayList<>();
        distributor.setProblemListener(told::add);
        relay.failNext("deviceExists", RelayFailure.Kind.NETWORK, 0, null);
        token("fcm-1");
        assertFalse(distributor.state().problems.has(UserProblem.RELAY_UNREACHABLE));
        clock.now += Distributor.RELAY_DOWN_MILLIS;
        relay.failNext("deviceExists", RelayFailure.Kind.NETWORK, 0, null);
        distributor.sync();
        assertTrue(distributor.state().problems.has(UserProblem.RELAY_UNREACHABLE));
        assertEquals(1, told.size());
        DistributorState restored = DistributorState.fromJson(saved, new SequentialIds(), new ActivityLog(clock, 20));
        assertTrue("kept across restarts", restored.problems.has(UserProblem.RELAY_UNREACHABLE));
        distributor.sync();
        assertFalse(distributor.state().problems.has(UserProblem.RELAY_UNREACHABLE));
        assertEquals(2, told.size());
    }

    @Test
    public void anActionRequiredAnswerIsShownToTheUser() {
        Distributor unconfigured = create(null, "", freshState());
        unconfigured.register("org.app", "tok-1", null, null);
        assertTrue(unconfigured.state().problems.has(UserProblem.REGISTRATION_REFUSED));
    }
}
