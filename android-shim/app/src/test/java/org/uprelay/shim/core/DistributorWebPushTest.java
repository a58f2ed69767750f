package org.uprelay.shim.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import org.junit.Test;

/** The Web Push road on the phone: the road the relay offers, the keys, and what arrives in rawData. */
public class DistributorWebPushTest {
    /** A relay VAPID key (any on-curve point serves; the phone only hands it to Play services). */
    private static final String RELAY_VAPID =
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    private static final String SENDER = FakeRelay.SENDER;

    private final FakeClock clock = new FakeClock();
    private final FakeRelay relay = new FakeRelay();
    private final RecordingApps apps = new RecordingApps();
    private final RecordingTokenSource tokens = new RecordingTokenSource();
    private String saved;
    private Distributor distributor = create(freshState());

    private DistributorState freshState() {
        return new DistributorState(new RegistrationBook(new SequentialIds()), new ActivityLog(clock, 20));
    }

    private Distributor create(DistributorState state) {
        InboundDecoder decoder = new InboundDecoder(new SplitReassembler(clock, 60_000, 1 << 20), new SeenIds(100));
        return new Distributor(state, decoder, relay, "proj", "", clock, apps, tokens, json -> saved = json);
    }

    private void offerBothRoads() {
        relay.info = new RelayInfo("proj", Map.of("proj", SENDER), false, Set.of("fcm", "webpush"), RELAY_VAPID);
    }

    /** Play services' RECEIVE for a Web Push payload, as GmsReceiver hands it over. */
    private void receive(byte[] rawData) {
        Map<String, Object> bundle = new HashMap<>();
        bundle.put("from", "wp:org.uprelay.shim#uprelay");
        bundle.put("google.message_id", "0:123%abc");
        bundle.put("rawData", rawData);
        distributor.onGmsReceive(GmsExtras.strings(bundle));
    }

    private byte[] encrypted(int part, String id, String instance, byte[] body) throws Exception {
        WebPushKeys keys = distributor.state().webPushKeys();
        return WebPushSender.encrypt(WebPushSender.frame(part, id, instance, body), keys.p256dh(), keys.auth());
    }

    /** One registration of org.app / tok-1 on the Web Push road. */
    private String registeredOnWebPush() {
        offerBothRoads();
        distributor.register("org.app", "tok-1", null, null);
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|2|wp-token-1"));
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        return distributor.state().book.get("tok-1").instance;
    }

    @Test
    public void whenTheRelayOffersWebPushTheTokenIsAskedForItsVapidKeyAndTheDeviceCarriesThePhonesKeys() {
        registeredOnWebPush();
        assertEquals("Play services is asked with the relay's VAPID key as the sender", List.of(RELAY_VAPID),
                tokens.requests);
        DeviceTarget target = relay.targets.get(0);
        assertTrue(target.isWebPush());
        assertEquals("wp-token-1", target.token);
        WebPushKeys keys = distributor.state().webPushKeys();
        assertNotNull(keys);
        assertEquals(keys.p256dh(), target.p256dh);
        assertEquals(keys.auth(), target.auth);
        assertTrue(distributor.onWebPushRoad());
    }

    @Test
    public void theRoadSettingOverridesAndARelayWithoutWebPushStaysOnFcm() {
        offerBothRoads();
        distributor.setRoadChoice(Distributor.RoadChoice.FCM);
        distributor.register("org.app", "tok-1", null, null);
        assertEquals(List.of(SENDER), tokens.requests);
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|1|:fcm-1"));
        assertFalse(relay.targets.get(0).isWebPush());
        assertEquals("no keys are made for a road not taken", null, distributor.state().webPushKeys());

        relay.info = new RelayInfo("proj", Map.of("proj", SENDER), false);
        Distributor plain = create(freshState());
        plain.setRoadChoice(Distributor.RoadChoice.WEBPUSH);
        plain.register("org.app", "tok-2", null, null);
        assertEquals("Web Push is not offered: FCM it is", List.of(SENDER, SENDER), tokens.requests);
    }

    @Test
    public void aDeviceMovesToTheWebPushRoadWithItsEndpointsWhenTheRelayStartsOfferingIt() {
        distributor.register("org.app", "tok-1", null, null);
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|1|:fcm-1"));
        assertEquals(List.of("NEW_ENDPOINT org.app tok-1 https://relay.example/up/ep1"), apps.drain());
        offerBothRoads();
        clock.now += Distributor.INFO_REFRESH_MILLIS;
        distributor.resume();
        assertEquals(List.of(SENDER, RELAY_VAPID), tokens.requests);
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|2|wp-token-1"));
        assertEquals("one PUT moves the device", List.of("createDevice fcm-1", "register dev-1 instance-1",
                "updateToken dev-1 wp-token-1"), relay.calls);
        assertTrue(relay.targets.get(1).isWebPush());
        assertTrue("endpoints stay, apps hear nothing", apps.sent.isEmpty());
    }

    @Test
    public void aWebPushPayloadReachesTheAppAsExactlyTheSendersBytes() throws Exception {
        String instance = registeredOnWebPush();
        byte[] body = SenderBodies.aesgcm(300);
        receive(encrypted(0, "m-1", instance, body));
        assertEquals(List.of("MESSAGE org.app tok-1 m-1"), apps.drain());
        assertArrayEquals(body, apps.bodies.get(0));
    }

    @Test
    public void splitHalvesAreRejoinedInAnyOrderAndDuplicatesDropped() throws Exception {
        String instance = registeredOnWebPush();
        byte[] body = new byte[7000];
        new Random(22).nextBytes(body);
        byte[] first = java.util.Arrays.copyOfRange(body, 0, 3500);
        byte[] second = java.util.Arrays.copyOfRange(body, 3500, 7000);
        receive(encrypted(2, "m-2", instance, second));
        assertTrue(apps.sent.isEmpty());
        receive(encrypted(1, "m-2", instance, first));
        receive(encrypted(1, "m-2", instance, first));
        receive(encrypted(0, "m-2", instance, body));
        assertEquals("once", List.of("MESSAGE org.app tok-1 m-2"), apps.drain());
        assertArrayEquals(body, apps.bodies.get(0));
    }

    @Test
    public void aPayloadThatDoesNotDecryptOrParseIsLoggedAndNeverHandedToAnApp() throws Exception {
        String instance = registeredOnWebPush();
        byte[] good = encrypted(0, "m-3", instance, new byte[] {1, 2, 3});
        byte[] tampered = good.clone();
        tampered[tampered.length - 5] ^= 0x40;
        receive(tampered);
        assertTrue(apps.sent.isEmpty());
        assertTrue(distributor.state().log.entries().get(0).text.startsWith("dropped a Web Push message that did not decrypt"));
        WebPushKeys keys = distributor.state().webPushKeys();
        receive(WebPushSender.encrypt(new byte[] {9, 1, 0, 0}, keys.p256dh(), keys.auth()));
        assertTrue(apps.sent.isEmpty());
        assertTrue(distributor.state().log.entries().get(0).text.startsWith("dropped a malformed Web Push message"));
        Map<String, String> notBase64 = new HashMap<>(Map.of("gcm.rawData64", "%%%"));
        distributor.onGmsReceive(notBase64);
        assertTrue(apps.sent.isEmpty());
        receive(good);
        assertEquals("the real one still arrives", List.of("MESSAGE org.app tok-1 m-3"), apps.drain());
    }

    @Test
    public void microGsBase64CopyWithLineBreaksIsReadToo() throws Exception {
        String instance = registeredOnWebPush();
        byte[] raw = encrypted(0, "m-4", instance, new byte[300]);
        String withBreaks = java.util.Base64.getMimeEncoder(76, "\n".getBytes()).encodeToString(raw) + "\n";
        distributor.onGmsReceive(new HashMap<>(Map.of("gcm.rawData64", withBreaks, "from", "x")));
        assertEquals(List.of("MESSAGE org.app tok-1 m-4"), apps.drain());
    }

    @Test
    public void theKeysArePersistedAndStillDecryptAfterARestart() throws Exception {
        String instance = registeredOnWebPush();
        String p256dh = distributor.state().webPushKeys().p256dh();
        distributor = create(DistributorState.fromJson(saved, new SequentialIds(), new ActivityLog(clock, 20)));
        assertEquals(p256dh, distributor.state().webPushKeys().p256dh());
        assertTrue("the relay's road offer is remembered", distributor.onWebPushRoad());
        receive(encrypted(0, "m-5", instance, new byte[] {5}));
        assertEquals(List.of("MESSAGE org.app tok-1 m-5"), apps.drain());
    }
}
