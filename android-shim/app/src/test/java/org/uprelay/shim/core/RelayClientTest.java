package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.json.JSONObject;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

public class RelayClientTest {
    private static final DeviceCredentials DEVICE = new DeviceCredentials("dev/1", "s3cret");

    /** One recorded request. */
    static final class Seen {
        final String method;
        final String path;
        final String authorization;
        final String contentType;
        final String body;

        Seen(String method, String path, String authorization, String contentType, String body) {
            this.method = method;
            this.path = path;
            this.authorization = authorization;
            this.contentType = contentType;
            this.body = body;
        }
    }

    private HttpServer server;
    private final List<Seen> seen = new ArrayList<>();
    private volatile int status = 200;
    private volatile String answer = "";
    private volatile String retryAfter;
    private volatile String location;
    private volatile long delayMillis;
    private RelayClient client;

    @Before
    public void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            synchronized (seen) {
                seen.add(new Seen(exchange.getRequestMethod(), exchange.getRequestURI().getRawPath(),
                        exchange.getRequestHeaders().getFirst("Authorization"),
                        exchange.getRequestHeaders().getFirst("Content-Type"), body));
            }
            try {
                Thread.sleep(delayMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (retryAfter != null) {
                exchange.getResponseHeaders().add("Retry-After", retryAfter);
            }
            if (location != null) {
                exchange.getResponseHeaders().add("Location", location);
            }
            byte[] bytes = answer.getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        });
        server.start();
        // Generous: a loaded CI machine must not turn a normal answer into a timeout.
        client = new RelayClient(base(), new JsonHttp(2000, 10_000));
    }

    @After
    public void stop() {
        server.stop(0);
    }

    private String base() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/";
    }

    private void answer(int status, String body) {
        this.status = status;
        this.answer = body;
    }

    private Seen last() {
        synchronized (seen) {
            return seen.get(seen.size() - 1);
        }
    }

    @Test
    public void createDeviceSendsTokenAndProjectAndReadsCredentials() throws Exception {
        answer(201, "{\"device_id\":\"d1\",\"secret\":\"s1\"}");
        DeviceCredentials d = client.createDevice(DeviceTarget.fcm("fcm-token"), "my-project");
        assertEquals("d1", d.deviceId);
        assertEquals("s1", d.secret);
        Seen req = last();
        assertEquals("POST", req.method);
        assertEquals("/v1/devices", req.path);
        assertNull("creating a device needs no secret", req.authorization);
        assertTrue(req.contentType.startsWith("application/json"));
        JSONObject body = new JSONObject(req.body);
        assertEquals("fcm-token", body.getString("fcm_token"));
        assertEquals("my-project", body.getString("project"));
    }

    @Test
    public void infoGivesTheSenderIdOfEachProjectAndTheVapidRule() throws Exception {
        // The shape uprelay's GET /v1/info answers (server/src/api/devices.rs).
        answer(200, "{\"version\":\"0.1.0\",\"default_project\":\"main\",\"projects\":["
                + "{\"id\":\"main\",\"sender_id\":\"123456789012\"},{\"id\":\"other\",\"sender_id\":null},"
                + "{\"id\":\"odd\",\"sender_id\":\"not-a-number\"}],"
                + "\"require_vapid\":true,\"max_registrations_per_device\":100}");
        RelayInfo info = client.info();
        Seen req = last();
        assertEquals("GET", req.method);
        assertEquals("/v1/info", req.path);
        assertNull("the info is public", req.authorization);
        assertEquals("main", info.defaultProject);
        assertEquals("123456789012", info.senderFor(""));
        assertEquals("123456789012", info.senderFor(null));
        assertEquals("123456789012", info.senderFor("main"));
        assertNull("published as null", info.senderFor("other"));
        assertNull("only a project number is a sender", info.senderFor("odd"));
        assertNull("unknown project", info.senderFor("nope"));
        assertTrue(info.requireVapid);
    }

    @Test
    public void aRelayWithoutInfoPublishesNothingAndOtherFailuresStayFailures() throws Exception {
        answer(404, "{\"error\":\"not_found\",\"message\":\"no\"}");
        RelayInfo info = client.info();
        assertNull(info.senderFor(""));
        assertFalse(info.requireVapid);
        answer(200, "{}");
        assertNull(client.info().senderFor(""));
        answer(503, "{\"error\":\"unavailable\",\"message\":\"later\"}");
        assertKind(RelayFailure.Kind.SERVER, () -> client.info());
        answer(200, "[]");
        assertKind(RelayFailure.Kind.PROTOCOL, () -> client.info());
    }

    @Test
    public void infoTellsTheRoadsAndTheRelaysVapidKey() throws Exception {
        String key = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
        answer(200, "{\"projects\":[],\"roads\":[\"fcm\",\"webpush\"],\"webpush\":{\"vapid\":\"" + key + "\"}}");
        RelayInfo info = client.info();
        assertTrue(info.offersWebPush());
        assertTrue(info.offersFcm());
        assertEquals(key, info.webpushVapid);
        answer(200, "{\"projects\":[]}");
        assertEquals("a relay from before the Web Push road", java.util.Set.of("fcm"), client.info().roads);
        assertFalse(client.info().offersWebPush());
        answer(200, "{\"roads\":[\"webpush\"],\"webpush\":{\"vapid\":\"short\"}}");
        assertFalse("an unusable key is as good as none", client.info().offersWebPush());
    }

    @Test
    public void aWebPushDeviceSendsItsTokenAndKeysAndNoProject() throws Exception {
        answer(201, "{\"device_id\":\"d1\",\"secret\":\"s1\"}");
        WebPushKeys keys = WebPushKeys.generate(new java.security.SecureRandom());
        client.createDevice(DeviceTarget.webPush("wp-token", keys), "my-project");
        JSONObject body = new JSONObject(last().body);
        assertEquals(1, body.length());
        JSONObject wp = body.getJSONObject("webpush");
        assertEquals("wp-token", wp.getString("token"));
        assertEquals(keys.p256dh(), wp.getString("p256dh"));
        assertEquals(keys.auth(), wp.getString("auth"));
        assertEquals(3, wp.length());
        answer(204, "");
        client.updateTarget(DEVICE, DeviceTarget.webPush("wp-token-2", keys));
        assertEquals("PUT", last().method);
        assertEquals("wp-token-2", new JSONObject(last().body).getJSONObject("webpush").getString("token"));
        assertFalse(new JSONObject(last().body).has("fcm_token"));
    }

    @Test
    public void createDeviceOmitsAnEmptyProject() throws Exception {
        answer(201, "{\"device_id\":\"d1\",\"secret\":\"s1\"}");
        client.createDevice(DeviceTarget.fcm("fcm-token"), "");
        assertFalse(new JSONObject(last().body).has("project"));
    }

    @Test
    public void createDeviceRejectsAnswersWithoutCredentials() {
        answer(201, "{\"device_id\":\"d1\"}");
        assertKind(RelayFailure.Kind.PROTOCOL, () -> client.createDevice(DeviceTarget.fcm("t"), null));
        answer(201, "<html>hello</html>");
        assertKind(RelayFailure.Kind.PROTOCOL, () -> client.createDevice(DeviceTarget.fcm("t"), null));
    }

    @Test
    public void updateTokenPutsWithBearerAndEncodedDeviceId() throws Exception {
        answer(204, "");
        client.updateTarget(DEVICE, DeviceTarget.fcm("new-token"));
        Seen req = last();
        assertEquals("PUT", req.method);
        assertEquals("/v1/devices/dev%2F1", req.path);
        assertEquals("Bearer s3cret", req.authorization);
        assertEquals("new-token", new JSONObject(req.body).getString("fcm_token"));
    }

    @Test
    public void deviceExistsAsksWithTheSecretAndTellsAGoneDevice() throws Exception {
        answer(200, "{\"device_id\":\"dev/1\",\"registrations\":[]}");
        assertTrue(client.deviceExists(DEVICE));
        assertEquals("GET", last().method);
        assertEquals("/v1/devices/dev%2F1", last().path);
        assertEquals("Bearer s3cret", last().authorization);
        answer(404, "{\"error\":\"unknown_device\",\"message\":\"gone\"}");
        assertFalse(client.deviceExists(DEVICE));
        answer(401, "{\"error\":\"unauthorized\",\"message\":\"no\"}");
        assertFalse(client.deviceExists(DEVICE));
        answer(503, "");
        assertKind(RelayFailure.Kind.SERVER, () -> client.deviceExists(DEVICE));
    }

    @Test
    public void deleteDeviceAndUnregisterUseDelete() throws Exception {
        answer(204, "");
        client.deleteDevice(DEVICE);
        assertEquals("DELETE", last().method);
        assertEquals("/v1/devices/dev%2F1", last().path);
        client.unregister(DEVICE, "inst-1");
        assertEquals("DELETE", last().method);
        assertEquals("/v1/devices/dev%2F1/registrations/inst-1", last().path);
        assertEquals("Bearer s3cret", last().authorization);
    }

    @Test
    public void registerTellsNewEndpointsFromExistingOnes() throws Exception {
        answer(201, "{\"endpoint\":\"https://relay.example/up/abc\"}");
        RelayEndpoint created = client.register(DEVICE, "inst-1", RegistrationBookTest.VAPID);
        assertEquals("https://relay.example/up/abc", created.url);
        assertTrue(created.created);
        Seen req = last();
        assertEquals("/v1/devices/dev%2F1/registrations", req.path);
        JSONObject body = new JSONObject(req.body);
        assertEquals("inst-1", body.getString("instance"));
        assertEquals(RegistrationBookTest.VAPID, body.getString("vapid"));

        answer(200, "{\"endpoint\":\"https://relay.example/up/abc\"}");
        assertFalse(client.register(DEVICE, "inst-1", null).created);
        assertFalse(new JSONObject(last().body).has("vapid"));
    }

    @Test
    public void registerRejectsEndpointsTheSpecForbids() {
        answer(201, "{\"endpoint\":\"https://relay.example/up/" + "a".repeat(1000) + "\"}");
        assertKind(RelayFailure.Kind.PROTOCOL, () -> client.register(DEVICE, "i", null));
        answer(201, "{\"endpoint\":\"javascript:alert(1)\"}");
        assertKind(RelayFailure.Kind.PROTOCOL, () -> client.register(DEVICE, "i", null));
    }

    @Test
    public void statusesMapToFailureKindsAndRegistrationReasons() {
        expect(400, "{\"error\":\"invalid_vapid\",\"message\":\"off the curve\"}", RelayFailure.Kind.BAD_REQUEST,
                FailureReason.ACTION_REQUIRED);
        expect(400, "{\"error\":\"vapid_required\",\"message\":\"need a key\"}", RelayFailure.Kind.BAD_REQUEST,
                FailureReason.VAPID_REQUIRED);
        expect(401, "{\"error\":\"unauthorized\",\"message\":\"no\"}", RelayFailure.Kind.UNAUTHORIZED,
                FailureReason.INTERNAL_ERROR);
        expect(403, "{\"error\":\"registration_limit\",\"message\":\"too many\"}",
                RelayFailure.Kind.REGISTRATION_LIMIT, FailureReason.ACTION_REQUIRED);
        expect(403, "{\"error\":\"forbidden\",\"message\":\"no\"}", RelayFailure.Kind.FORBIDDEN,
                FailureReason.ACTION_REQUIRED);
        expect(404, "{\"error\":\"not_found\",\"message\":\"gone\"}", RelayFailure.Kind.NOT_FOUND,
                FailureReason.INTERNAL_ERROR);
        expect(500, "{\"error\":\"internal\",\"message\":\"oops\"}", RelayFailure.Kind.SERVER,
                FailureReason.INTERNAL_ERROR);
        expect(503, "<html>maintenance</html>", RelayFailure.Kind.SERVER, FailureReason.INTERNAL_ERROR);
    }

    @Test
    public void failuresCarryTheRelaysErrorCode() {
        answer(403, "{\"error\":\"registration_limit\",\"message\":\"too many\"}");
        RelayFailure f = assertKind(RelayFailure.Kind.REGISTRATION_LIMIT, () -> client.register(DEVICE, "i", null));
        assertEquals("registration_limit", f.errorCode);
        assertEquals(403, f.status);
        assertTrue(f.getMessage().contains("too many"));
        assertFalse(f.isTransient());
    }

    @Test
    public void rateLimitKeepsRetryAfter() {
        answer(429, "{\"error\":\"rate_limited\",\"message\":\"slow down\"}");
        retryAfter = "30";
        RelayFailure f = assertKind(RelayFailure.Kind.RATE_LIMITED, () -> client.register(DEVICE, "i", null));
        assertEquals(30, f.retryAfterSeconds);
        assertTrue(f.isTransient());
        assertEquals(FailureReason.INTERNAL_ERROR, f.registrationReason());
    }

    @Test
    public void redirectsAreNotFollowed() {
        answer(302, "");
        location = "http://127.0.0.1:1/steal";
        assertKind(RelayFailure.Kind.PROTOCOL, () -> client.updateTarget(DEVICE, DeviceTarget.fcm("t")));
        assertEquals(1, seen.size());
    }

    @Test
    public void unreachableRelayIsANetworkFailure() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        RelayClient dead = new RelayClient("http://127.0.0.1:" + closedPort, new JsonHttp(2000, 2000));
        RelayFailure f = assertKind(RelayFailure.Kind.NETWORK, () -> dead.createDevice(DeviceTarget.fcm("t"), null));
        assertEquals(0, f.status);
        assertEquals(FailureReason.NETWORK, f.registrationReason());
        assertTrue(f.isTransient());
    }

    @Test
    public void slowRelayTimesOutAsANetworkFailure() {
        answer(201, "{\"device_id\":\"d1\",\"secret\":\"s1\"}");
        delayMillis = 1500;
        RelayClient impatient = new RelayClient(base(), new JsonHttp(2000, 500));
        assertKind(RelayFailure.Kind.NETWORK, () -> impatient.createDevice(DeviceTarget.fcm("t"), null));
    }

    @Test
    public void oversizedAnswerIsRefused() {
        answer(201, "{\"device_id\":\"" + "d".repeat(70_000) + "\",\"secret\":\"s\"}");
        assertKind(RelayFailure.Kind.PROTOCOL, () -> client.createDevice(DeviceTarget.fcm("t"), null));
    }

    @Test
    public void baseUrlMustBeHttp() {
        assertThrows(IllegalArgumentException.class, () -> new RelayClient("ftp://relay.example", new JsonHttp(1, 1)));
        assertThrows(IllegalArgumentException.class, () -> new RelayClient("relay.example", new JsonHttp(1, 1)));
        assertEquals("https://relay.example/prefix", RelayClient.normaliseBase(" https://relay.example/prefix// "));
    }

    @Test
    public void retryAfterOnlyAcceptsDeltaSeconds() {
        assertEquals(120, JsonHttp.parseRetryAfter(" 120 "));
        assertEquals(-1, JsonHttp.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"));
        assertEquals(-1, JsonHttp.parseRetryAfter("-5"));
        assertEquals(-1, JsonHttp.parseRetryAfter(null));
    }

    private void expect(int status, String body, RelayFailure.Kind kind, FailureReason reason) {
        answer(status, body);
        RelayFailure f = assertKind(kind, () -> client.register(DEVICE, "i", null));
        assertEquals("status " + status, reason, f.registrationReason());
        assertEquals(status, f.status);
    }

    private static RelayFailure assertKind(RelayFailure.Kind kind, org.junit.function.ThrowingRunnable call) {
        RelayFailure f = assertThrows(RelayFailure.class, call);
        assertEquals(f.getMessage(), kind, f.kind);
        return f;
    }
}
