package org.uprelay.shim.e2e;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

import org.json.JSONException;
import org.uprelay.shim.core.DeviceCredentials;
import org.uprelay.shim.core.DeviceTarget;
import org.uprelay.shim.core.InboundDecoder;
import org.uprelay.shim.core.InboundMessage;
import org.uprelay.shim.core.JsonHttp;
import org.uprelay.shim.core.MalformedMessageException;
import org.uprelay.shim.core.RelayClient;
import org.uprelay.shim.core.RelayEndpoint;
import org.uprelay.shim.core.RelayFailure;
import org.uprelay.shim.core.SeenIds;
import org.uprelay.shim.core.SplitReassembler;
import org.uprelay.shim.core.WallClock;

/**
 * The phone's half of uprelay, driven from the JVM against a real relay and its FCM emulator:
 * what an app server pushes must come out of the shim's decoder byte for byte, exactly once,
 * whatever order and duplication FCM delivers in. Exits 0 only when every check passes.
 */
public final class CrossLanguageCheck {
    private static final int[] FIXED_SIZES = {1, 2, 3000, 3200, 4095, 4096};
    private static final int RANDOM_SIZES = 6;
    private static final long WAIT_MILLIS = 20_000;

    private final String relayUrl;
    private final String emulatorUrl;
    private final String project;
    private final RelayClient relay;
    private final Random rnd;
    private final Report report = new Report();

    private CrossLanguageCheck(String relayUrl, String emulatorUrl, String project, long seed) {
        this.relayUrl = relayUrl;
        this.emulatorUrl = RelayClient.normaliseBase(emulatorUrl);
        this.project = project;
        this.relay = new RelayClient(relayUrl, new JsonHttp(5_000, 30_000));
        this.rnd = new Random(seed);
    }

    public static void main(String[] args) {
        if (args.length != 3 && args.length != 4) {
            System.err.println("usage: CrossLanguageCheck <relay_base_url> <emulator_base_url> <project> [<sender_id>]");
            System.exit(2);
        }
        long seed = Long.getLong("seed", System.nanoTime());
        System.out.println("seed " + seed + " (rerun with -Dseed=" + seed + ")");
        CrossLanguageCheck check = new CrossLanguageCheck(args[0], args[1], args[2], seed);
        Report report = check.report;
        try {
            check.run();
            System.out.println("-- the whole distributor, through a fake Play services and fake apps");
            new PhoneScenario(report, check.relayUrl, check.emulatorUrl, check.project,
                    args.length == 4 ? args[3] : null, check.rnd).run();
            if (Boolean.getBoolean("webpush")) {
                System.out.println("-- the Web Push road: the relay's VAPID key, the phone's keys, rawData");
                new WebPushScenario(report, check.relayUrl, check.emulatorUrl, check.project, check.rnd).run();
            }
        } catch (Exception e) {
            report.fail("unexpected " + e);
            e.printStackTrace();
        }
        System.out.println("e2e: " + report.passed() + " passed, " + report.failed() + " failed");
        System.exit(report.failed() == 0 && report.passed() > 0 ? 0 : 1);
    }

    private void check(boolean ok, String what) {
        report.check(ok, what);
    }

    private void pass(String what) {
        report.pass(what);
    }

    private void fail(String what) {
        report.fail(what);
    }

    private List<Map<String, String>> fetch(String token) throws IOException, JSONException {
        return Outside.captured(emulatorUrl, token);
    }

    private static int push(String endpoint, byte[] body) throws IOException {
        return Outside.push(endpoint, body);
    }

    private String fakeFcmToken() {
        return Outside.fakeFcmToken(rnd);
    }

    private void run() throws Exception {
        String token1 = fakeFcmToken();
        DeviceCredentials device = relay.createDevice(DeviceTarget.fcm(token1), project);
        pass("created a device with a random FCM token");

        String instance = UUID.randomUUID().toString();
        RelayEndpoint endpoint = relay.register(device, instance, null);
        check(endpoint.created, "registered instance, got a new endpoint " + endpoint.url);
        RelayEndpoint again = relay.register(device, instance, null);
        check(!again.created && again.url.equals(endpoint.url), "registering the same instance again returns the same endpoint");

        List<byte[]> bodies = bodies();
        for (byte[] body : bodies) {
            int status = push(endpoint.url, body);
            check(status == 201, "push of " + body.length + " bytes answered " + status);
        }
        List<Map<String, String>> captured = awaitMessages(token1, bodies);
        checkDelivery(captured, bodies, instance);

        String token2 = fakeFcmToken();
        relay.updateTarget(device, DeviceTarget.fcm(token2));
        pass("rotated the FCM token with PUT");
        int before = fetch(token1).size();
        List<byte[]> after = Arrays.asList(randomBody(200), randomBody(4000));
        for (byte[] body : after) {
            int status = push(endpoint.url, body);
            check(status == 201, "push of " + body.length + " bytes through the same endpoint after rotation answered " + status);
        }
        List<Map<String, String>> rotated = awaitMessages(token2, after);
        check(decodesToExactly(rotated, after, instance), "messages after rotation reached the emulator under the new token");
        check(fetch(token1).size() == before, "nothing more was sent to the old token");

        relay.unregister(device, instance);
        pass("deleted the registration");
        int status = push(endpoint.url, randomBody(10));
        check(status == 404 || status == 410, "push to the deleted registration answered " + status + " (want 404 or 410)");

        relay.deleteDevice(device);
        pass("deleted the device");
        try {
            relay.updateTarget(device, DeviceTarget.fcm(token1));
            fail("the deleted device still accepts calls");
        } catch (RelayFailure f) {
            check(f.deviceLost(), "the deleted device is refused: " + f.getMessage());
        }
    }

    /** The fixed edge sizes, some random ones, and every byte value 0..255 somewhere. */
    private List<byte[]> bodies() {
        List<byte[]> bodies = new ArrayList<>();
        for (int size : FIXED_SIZES) {
            bodies.add(randomBody(size));
        }
        for (int i = 0; i < RANDOM_SIZES; i++) {
            bodies.add(randomBody(1 + rnd.nextInt(4096)));
        }
        byte[] largest = bodies.get(bodies.size() - 1 - RANDOM_SIZES);
        for (int v = 0; v < 256; v++) {
            largest[v * (largest.length / 256)] = (byte) v;
        }
        return bodies;
    }

    private byte[] randomBody(int size) {
        byte[] b = new byte[size];
        rnd.nextBytes(b);
        return b;
    }

    private void checkDelivery(List<Map<String, String>> captured, List<byte[]> bodies, String instance)
            throws MalformedMessageException {
        int halves = 0;
        for (Map<String, String> data : captured) {
            if (data.containsKey("s")) {
                halves++;
            }
        }
        System.out.println("info: " + bodies.size() + " bodies arrived as " + captured.size() + " FCM messages, "
                + halves + " of them split halves");
        check(halves > 0 && halves % 2 == 0, "large bodies were split into pairs of halves");
        List<Map<String, String>> shuffled = new ArrayList<>(captured);
        Collections.shuffle(shuffled, rnd);
        Map<String, String> duplicate = pickDuplicate(shuffled);
        shuffled.add(rnd.nextInt(shuffled.size() + 1), duplicate);
        check(decodesToExactly(shuffled, bodies, instance),
                "shuffled messages plus a duplicate" + (duplicate.containsKey("s") ? " half" : "")
                        + " decode to every pushed body exactly once, byte for byte");
    }

    // A split half is the harder duplicate: it must neither complete a pair twice nor linger.
    private Map<String, String> pickDuplicate(List<Map<String, String>> messages) {
        for (Map<String, String> m : messages) {
            if (m.containsKey("s")) {
                return new HashMap<>(m);
            }
        }
        return new HashMap<>(messages.get(rnd.nextInt(messages.size())));
    }

    private static boolean decodesToExactly(List<Map<String, String>> messages, List<byte[]> bodies, String instance)
            throws MalformedMessageException {
        InboundDecoder decoder = new InboundDecoder(new SplitReassembler(new WallClock(), 600_000, 1 << 20),
                new SeenIds(1000));
        List<byte[]> remaining = new ArrayList<>(bodies);
        int delivered = 0;
        for (Map<String, String> data : messages) {
            InboundMessage m = decoder.accept(data);
            if (m == null) {
                continue;
            }
            delivered++;
            if (!instance.equals(m.instance) || m.id == null || !Outside.removeEqual(remaining, m.body)) {
                System.out.println("  unexpected delivery of " + m.body.length + " bytes for instance " + m.instance);
                return false;
            }
        }
        if (!remaining.isEmpty()) {
            System.out.println("  " + remaining.size() + " bodies never came out; " + delivered + " did");
        }
        return remaining.isEmpty();
    }

    private List<Map<String, String>> awaitMessages(String token, List<byte[]> bodies) throws Exception {
        return Outside.awaitBodies(emulatorUrl, token, bodies, WAIT_MILLIS);
    }
}
