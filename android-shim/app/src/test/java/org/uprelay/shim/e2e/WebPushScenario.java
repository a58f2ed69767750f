package org.uprelay.shim.e2e;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.json.JSONObject;
import org.uprelay.shim.core.ActivityLog;
import org.uprelay.shim.core.DeviceCredentials;
import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.DistributorState;
import org.uprelay.shim.core.GmsExtras;
import org.uprelay.shim.core.HttpAnswer;
import org.uprelay.shim.core.InboundDecoder;
import org.uprelay.shim.core.JsonHttp;
import org.uprelay.shim.core.MalformedMessageException;
import org.uprelay.shim.core.RandomIds;
import org.uprelay.shim.core.RecordingApps;
import org.uprelay.shim.core.RecordingTokenSource;
import org.uprelay.shim.core.RegistrationBook;
import org.uprelay.shim.core.RelayClient;
import org.uprelay.shim.core.RelayInfo;
import org.uprelay.shim.core.SeenIds;
import org.uprelay.shim.core.SenderBodies;
import org.uprelay.shim.core.SplitReassembler;
import org.uprelay.shim.core.WallClock;
import org.uprelay.shim.core.WebPushFrame;
import org.uprelay.shim.core.WebPushKeys;

/**
 * The Web Push road end to end: the shim reads the relay's VAPID key at /v1/info, gets a token
 * for it (from the emulator, as Play services would), registers with its own keys, app servers
 * push (split, aesgcm, Matrix bodies), and what the emulator accepted at /fcm/send/<token> is
 * handed to the shim as Play services' rawData: each app must get exactly its bodies, and Google
 * (the emulator) must never have seen an instance name or a plaintext body. Then the token
 * rotates, and a revoked token makes the relay drop the device, which the shim finds and
 * re-creates.
 */
final class WebPushScenario {
    private static final String CHAT = "org.example.chat";
    private static final String MATRIX = "org.example.matrix";
    private static final long WAIT_MILLIS = 20_000;

    private final Report report;
    private final String relayUrl;
    private final String emulatorUrl;
    private final Random rnd;
    private final RecordingTokenSource gms = new RecordingTokenSource();
    private final RecordingApps apps = new RecordingApps();
    private final DistributorState state = new DistributorState(new RegistrationBook(new RandomIds()),
            new ActivityLog(new WallClock(), 200));
    private final Distributor distributor;

    WebPushScenario(Report report, String relayUrl, String emulatorUrl, String project, Random rnd) {
        this.report = report;
        this.relayUrl = relayUrl;
        this.emulatorUrl = emulatorUrl;
        this.rnd = rnd;
        InboundDecoder decoder = new InboundDecoder(new SplitReassembler(new WallClock(), 120_000, 256 * 1024),
                new SeenIds(1000));
        distributor = new Distributor(state, decoder, new RelayClient(relayUrl, new JsonHttp(5_000, 30_000)), project,
                "", new WallClock(), apps, gms, json -> { });
    }

    void run() throws Exception {
        RelayInfo info = new RelayClient(relayUrl, new JsonHttp(5_000, 30_000)).info();
        report.check(info.offersWebPush(), "/v1/info offers the Web Push road and publishes the relay's VAPID key");
        if (!info.offersWebPush()) {
            return;
        }
        distributor.register(CHAT, "tok-chat", null, null);
        report.check(gms.requests.equals(List.of(info.webpushVapid)),
                "Play services is asked for a token with the relay's VAPID key as the sender");
        String token1 = Outside.webPushToken(emulatorUrl, info.webpushVapid);
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|2|" + token1));
        distributor.register(MATRIX, "tok-matrix", null, null);
        String chatEndpoint = apps.endpoints.get("tok-chat");
        String matrixEndpoint = apps.endpoints.get("tok-matrix");
        report.check(apps.drain().equals(List.of("NEW_ENDPOINT " + CHAT + " tok-chat " + chatEndpoint,
                "NEW_ENDPOINT " + MATRIX + " tok-matrix " + matrixEndpoint)), "both apps got their endpoints");
        JSONObject device = showDevice(state.device());
        report.check("webpush".equals(device.optString("road")) && "webpush".equals(device.optString("target"))
                        && !device.toString().contains(token1),
                "the relay holds the device on the Web Push road and does not show its token: " + device);

        Map<String, List<byte[]>> first = new HashMap<>();
        first.put("tok-chat", Arrays.asList(random(4000), random(1), SenderBodies.aesgcm(3500)));
        first.put("tok-matrix", Arrays.asList(SenderBodies.matrixShort(), SenderBodies.matrixLong()));
        Map<String, String> endpoints = Map.of("tok-chat", chatEndpoint, "tok-matrix", matrixEndpoint);
        deliverThrough(token1, first, endpoints, "random, aesgcm-prefixed and Matrix bodies, split and whole");

        String token2 = Outside.webPushToken(emulatorUrl, info.webpushVapid);
        apps.drain();
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|2|" + token2));
        report.check(!distributor.needsRetry() && apps.sent.isEmpty(),
                "a new token goes to the relay with PUT; the apps keep their endpoints and hear nothing");
        int before = Outside.capturedWebPush(emulatorUrl, token1).size();
        apps.messages.clear();
        Map<String, List<byte[]>> second = new HashMap<>();
        second.put("tok-chat", Collections.singletonList(random(700)));
        second.put("tok-matrix", Collections.singletonList(SenderBodies.matrix("after the rotation")));
        deliverThrough(token2, second, endpoints, "after the token rotation, through the same endpoints");
        report.check(Outside.capturedWebPush(emulatorUrl, token1).size() == before, "nothing more went to the old token");

        // Google forgets the token: the relay hears 410 and deletes the device; a sender hears 410.
        Outside.revokeWebPush(emulatorUrl, token2);
        int status = 201;
        long deadline = System.currentTimeMillis() + WAIT_MILLIS;
        while (status == 201 && System.currentTimeMillis() < deadline) {
            status = Outside.push(chatEndpoint, random(10));
            if (status == 201) {
                Thread.sleep(250);
            }
        }
        report.check(status == 404 || status == 410, "after Google forgot the token, the relay answers the sender "
                + status + " and has dropped the device");
        String token3 = Outside.webPushToken(emulatorUrl, info.webpushVapid);
        apps.drain();
        distributor.onGmsRegistration(Map.of("registration_id", "|ID|2|" + token3));
        List<String> told = apps.drain();
        String newChat = apps.endpoints.get("tok-chat");
        report.check(told.size() == 2 && !chatEndpoint.equals(newChat),
                "the shim finds its device gone at the relay and every app gets a new endpoint: " + told);
        apps.messages.clear();
        Map<String, List<byte[]>> third = new HashMap<>();
        third.put("tok-chat", Collections.singletonList(random(4096)));
        deliverThrough(token3, third, Map.of("tok-chat", newChat), "on the re-created device");

        distributor.unregister(CHAT, "tok-chat");
        distributor.unregister(MATRIX, "tok-matrix");
        distributor.reconfigure(null, "", "");
    }

    /**
     * Pushes every body, takes what the emulator accepted for {@code token}, checks that it
     * reveals nothing, and hands it to the shim shuffled with a duplicate, half as the byte[]
     * rawData and half as microG's base64 copy.
     */
    private void deliverThrough(String token, Map<String, List<byte[]>> bodiesByToken, Map<String, String> endpoints,
                                String what) throws Exception {
        List<byte[]> all = new ArrayList<>();
        List<String> instances = new ArrayList<>();
        for (Map.Entry<String, List<byte[]>> e : bodiesByToken.entrySet()) {
            instances.add(state.book.get(e.getKey()).instance);
            for (byte[] body : e.getValue()) {
                int status = Outside.push(endpoints.get(e.getKey()), body);
                report.check(status == 201, "push of " + body.length + " bytes to " + e.getKey() + " answered " + status);
                all.add(body);
            }
        }
        List<Outside.WebPushEntry> captured = await(token, all.size());
        boolean reveals = false;
        for (Outside.WebPushEntry entry : captured) {
            for (String instance : instances) {
                reveals |= entry.json.contains(instance) || contains(entry.rawData, instance.getBytes(StandardCharsets.UTF_8));
            }
            for (byte[] body : all) {
                reveals |= body.length >= 8 && contains(entry.rawData, Arrays.copyOf(body, 8));
            }
            reveals |= entry.rawData.length > 4096;
        }
        report.check(!captured.isEmpty() && !reveals, what + ": " + captured.size()
                + " payloads of at most 4096 bytes reached Google's side, none showing an instance or a plaintext body");
        List<Map<String, Object>> broadcasts = new ArrayList<>();
        for (int i = 0; i < captured.size(); i++) {
            Map<String, Object> extras = new HashMap<>();
            extras.put("from", "wp:org.uprelay.shim#uprelay");
            extras.put("google.message_id", "0:" + rnd.nextInt(Integer.MAX_VALUE) + "%0");
            byte[] raw = captured.get(i).rawData;
            if (i % 2 == 0) {
                extras.put("rawData", raw);
            } else {
                extras.put("gcm.rawData64", Base64.getMimeEncoder().encodeToString(raw));
            }
            broadcasts.add(extras);
        }
        Collections.shuffle(broadcasts, rnd);
        if (!broadcasts.isEmpty()) {
            broadcasts.add(rnd.nextInt(broadcasts.size() + 1), broadcasts.get(rnd.nextInt(broadcasts.size())));
        }
        for (Map<String, Object> extras : broadcasts) {
            distributor.onGmsReceive(GmsExtras.strings(extras));
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
        report.check(exact, what + ": each app got exactly its bodies, once, byte for byte (" + apps.messages.size()
                + " MESSAGEs)");
    }

    /** Polls until the payloads for {@code token} rejoin into {@code bodies} messages (or time runs out). */
    private List<Outside.WebPushEntry> await(String token, int bodies) throws Exception {
        long deadline = System.currentTimeMillis() + WAIT_MILLIS;
        while (true) {
            List<Outside.WebPushEntry> captured = Outside.capturedWebPush(emulatorUrl, token);
            if (messagesIn(captured) >= bodies || System.currentTimeMillis() > deadline) {
                return captured;
            }
            Thread.sleep(250);
        }
    }

    private int messagesIn(List<Outside.WebPushEntry> captured) {
        WebPushKeys keys = state.webPushKeys();
        InboundDecoder decoder = new InboundDecoder(new SplitReassembler(new WallClock(), 600_000, 1 << 20),
                new SeenIds(1000));
        int n = 0;
        for (Outside.WebPushEntry e : captured) {
            try {
                if (decoder.accept(WebPushFrame.parse(keys.decrypt(e.rawData))) != null) {
                    n++;
                }
            } catch (java.security.GeneralSecurityException | MalformedMessageException ignored) {
                // Counted as nothing; the real hand-over reports it.
            }
        }
        return n;
    }

    private JSONObject showDevice(DeviceCredentials device) throws Exception {
        HttpAnswer a = new JsonHttp(5_000, 30_000).send("GET", RelayClient.normaliseBase(relayUrl) + "/v1/devices/"
                + device.deviceId, device.secret, null);
        return new JSONObject(a.body);
    }

    private static boolean contains(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    private byte[] random(int size) {
        byte[] b = new byte[size];
        rnd.nextBytes(b);
        return b;
    }
}
