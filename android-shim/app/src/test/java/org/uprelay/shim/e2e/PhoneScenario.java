package org.uprelay.shim.e2e;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.uprelay.shim.core.ActivityLog;
import org.uprelay.shim.core.DeviceCredentials;
import org.uprelay.shim.core.DeviceTarget;
import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.DistributorState;
import org.uprelay.shim.core.InboundDecoder;
import org.uprelay.shim.core.JsonHttp;
import org.uprelay.shim.core.RandomIds;
import org.uprelay.shim.core.RecordingApps;
import org.uprelay.shim.core.RecordingTokenSource;
import org.uprelay.shim.core.Registration;
import org.uprelay.shim.core.RegistrationBook;
import org.uprelay.shim.core.RelayClient;
import org.uprelay.shim.core.RelayFailure;
import org.uprelay.shim.core.SeenIds;
import org.uprelay.shim.core.SenderBodies;
import org.uprelay.shim.core.SplitReassembler;
import org.uprelay.shim.core.WallClock;

/**
 * The whole distributor core, driven the way a phone drives it, against the real relay and
 * its FCM emulator: a fake Play services answers token requests (first with a temporary,
 * prefixed error), two fake apps register, app servers push (a split body, an aesgcm-prefixed
 * body, a Matrix gateway's JSON), what FCM holds is handed over as Play services would, the
 * apps ACK, Play services resets the token, and the new token must reach the relay so that
 * the same endpoints keep working.
 */
final class PhoneScenario {
    private static final String CHAT = "org.example.chat";
    private static final String MATRIX = "org.example.matrix";
    private static final long WAIT_MILLIS = 20_000;

    private final Report report;
    private final String relayUrl;
    private final String emulatorUrl;
    private final String sender;
    private final Random rnd;
    private final RecordingTokenSource gms = new RecordingTokenSource();
    private final RecordingApps apps = new RecordingApps();
    private final DistributorState state = new DistributorState(new RegistrationBook(new RandomIds()),
            new ActivityLog(new WallClock(), 200));
    private final Distributor distributor;

    /** @param publishedSender the sender id the relay publishes at /v1/info, or null when it publishes none */
    PhoneScenario(Report report, String relayUrl, String emulatorUrl, String project, String publishedSender, Random rnd) {
        this.report = report;
        this.relayUrl = relayUrl;
        this.emulatorUrl = emulatorUrl;
        this.rnd = rnd;
        // Without a published sender id the user types one, as on the status screen.
        this.sender = publishedSender != null ? publishedSender : "1";
        InboundDecoder decoder = new InboundDecoder(new SplitReassembler(new WallClock(), 120_000, 256 * 1024),
                new SeenIds(1000));
        distributor = new Distributor(state, decoder, new RelayClient(relayUrl, new JsonHttp(5_000, 30_000)), project,
                publishedSender != null ? "" : sender, new WallClock(), apps, gms, json -> { });
        // This scenario is the FCM road's; a relay that also offers Web Push has WebPushScenario.
        distributor.setRoadChoice(Distributor.RoadChoice.FCM);
    }

    void run() throws Exception {
        distributor.register(CHAT, "tok-chat", null, "Chat, with a description longer than the hundred bytes "
                + "the spec allows, which the connector does not cut");
        report.check(gms.requests.equals(List.of(sender)),
                "a REGISTER asks Play services for a token with the sender id " + sender + ": " + gms.requests);

        long retry = distributor.onGmsRegistration(Map.of("error", "|ID|1|:SERVICE_NOT_AVAILABLE"));
        report.check(retry > 0 && apps.sent.isEmpty(),
                "|ID|1|:SERVICE_NOT_AVAILABLE is temporary: retry in " + retry + " ms, the app is not told to give up");
        distributor.resume();
        report.check(gms.requests.size() == 2, "the retry asks Play services again");

        String token1 = Outside.fakeFcmToken(rnd);
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|1|:" + token1));
        distributor.register(MATRIX, "tok-matrix", null, null);
        String chatEndpoint = apps.endpoints.get("tok-chat");
        String matrixEndpoint = apps.endpoints.get("tok-matrix");
        report.check(apps.drain().equals(List.of("NEW_ENDPOINT " + CHAT + " tok-chat " + chatEndpoint,
                "NEW_ENDPOINT " + MATRIX + " tok-matrix " + matrixEndpoint)), "both apps got their endpoints");
        report.check(chatEndpoint != null && matrixEndpoint != null && !chatEndpoint.equals(matrixEndpoint),
                "the two endpoints differ");
        Registration chat = state.book.get("tok-chat");
        report.check(chat != null && chat.description != null && chat.description.length() == 100,
                "the long description was cut to 100 bytes, not refused");

        Map<String, List<byte[]>> first = new HashMap<>();
        first.put("tok-chat", Arrays.asList(random(4000), SenderBodies.aesgcm(180)));
        first.put("tok-matrix", Arrays.asList(SenderBodies.matrixShort(), SenderBodies.matrixLong()));
        deliverThrough(token1, first, Map.of("tok-chat", chatEndpoint, "tok-matrix", matrixEndpoint),
                "a split body, an aesgcm-prefixed body and two Matrix gateway bodies (one split)");

        for (RecordingApps.Message d : apps.messages) {
            distributor.messageAcknowledged(d.token, d.id);
        }
        distributor.messageAcknowledged("a-token-nobody-has", "x");
        report.check(state.book.get("tok-chat").lastAckAt > 0 && state.book.get("tok-matrix").lastAckAt > 0
                        && state.book.get("a-token-nobody-has") == null,
                "MESSAGE_ACKs, which carry no identity, are kept per registration; an unknown token is ignored");

        distributor.onGmsReceive(Map.of("from", "google.com/iid", "CMD", "RST"));
        report.check(gms.requests.size() == 3 && sender.equals(gms.requests.get(2)) && state.fcmToken() == null,
                "Play services' RST voids the token and a new one is requested");
        String token2 = Outside.fakeFcmToken(rnd);
        apps.drain();
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|1|" + token2));
        report.check(!distributor.needsRetry() && !state.relayTokenStale(), "the new token was PUT to the relay");
        report.check(apps.sent.isEmpty(), "the apps keep their endpoints and hear nothing");

        int oldTokenMessages = Outside.captured(emulatorUrl, token1).size();
        apps.messages.clear();
        Map<String, List<byte[]>> second = new HashMap<>();
        second.put("tok-chat", Arrays.asList(random(300), SenderBodies.aesgcm(3500)));
        second.put("tok-matrix", Collections.singletonList(SenderBodies.matrix("after the reset")));
        deliverThrough(token2, second, Map.of("tok-chat", chatEndpoint, "tok-matrix", matrixEndpoint),
                "after the reset, through the same endpoints and the new token");
        report.check(Outside.captured(emulatorUrl, token1).size() == oldTokenMessages,
                "nothing more went to the reset token");

        apps.drain();
        distributor.unregister(CHAT, "tok-chat");
        distributor.unregister(MATRIX, "tok-matrix");
        distributor.unregister(MATRIX, "tok-never-registered");
        report.check(apps.drain().equals(
                List.of("UNREGISTERED " + CHAT + " tok-chat", "UNREGISTERED " + MATRIX + " tok-matrix")),
                "UNREGISTER is confirmed, and ignored for an unknown token");
        int status = Outside.push(chatEndpoint, random(10));
        report.check(status == 404 || status == 410, "an unregistered endpoint is gone at the relay: " + status);
        DeviceCredentials device = state.device();
        distributor.reconfigure(null, "", "");
        try {
            new RelayClient(relayUrl, new JsonHttp(5_000, 30_000)).updateTarget(device, DeviceTarget.fcm(token2));
            report.fail("the relay still knows the device after the phone left it");
        } catch (RelayFailure f) {
            report.check(f.deviceLost(), "leaving the relay deleted the device there: " + f.getMessage());
        }
    }

    /**
     * Pushes every body to its token's endpoint, takes what the emulator holds for
     * {@code fcmToken}, and hands it to the distributor shuffled, with a duplicate half and
     * with Play services' own extras, the way the RECEIVE broadcasts come.
     */
    private void deliverThrough(String fcmToken, Map<String, List<byte[]>> bodiesByToken, Map<String, String> endpoints,
                                String what) throws Exception {
        List<byte[]> all = new ArrayList<>();
        for (Map.Entry<String, List<byte[]>> e : bodiesByToken.entrySet()) {
            for (byte[] body : e.getValue()) {
                int status = Outside.push(endpoints.get(e.getKey()), body);
                report.check(status == 201, "push of " + body.length + " bytes to " + e.getKey() + " answered " + status);
                all.add(body);
            }
        }
        List<Map<String, String>> captured = Outside.awaitBodies(emulatorUrl, fcmToken, all, WAIT_MILLIS);
        List<Map<String, String>> broadcasts = new ArrayList<>();
        Map<String, String> duplicate = null;
        for (Map<String, String> data : captured) {
            Map<String, String> extras = new HashMap<>(data);
            extras.put("from", sender);
            extras.put("google.message_id", "0:" + rnd.nextInt(Integer.MAX_VALUE) + "%0");
            extras.put("collapse_key", "org.uprelay.shim");
            broadcasts.add(extras);
            if (duplicate == null && data.containsKey("s")) {
                duplicate = extras;
            }
        }
        report.check(duplicate != null, "some bodies came as split halves");
        Collections.shuffle(broadcasts, rnd);
        if (duplicate != null) {
            broadcasts.add(rnd.nextInt(broadcasts.size() + 1), duplicate);
        }
        for (Map<String, String> extras : broadcasts) {
            distributor.onGmsReceive(extras);
        }
        boolean exact = apps.messages.size() == all.size();
        for (Map.Entry<String, List<byte[]>> e : bodiesByToken.entrySet()) {
            List<byte[]> expected = new ArrayList<>(e.getValue());
            for (RecordingApps.Message d : apps.messages) {
                if (d.token.equals(e.getKey())) {
                    exact &= d.id != null && Outside.removeEqual(expected, d.body);
                }
            }
            exact &= expected.isEmpty();
        }
        report.check(exact, what + ": each app got exactly its bodies, once, byte for byte ("
                + apps.messages.size() + " MESSAGEs)");
    }

    private byte[] random(int size) {
        byte[] b = new byte[size];
        rnd.nextBytes(b);
        return b;
    }
}
