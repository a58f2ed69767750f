package org.uprelay.shim.core;

import java.net.MalformedURLException;
import java.net.URL;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** {@link RelayApi} over HTTP: builds the requests and turns answers into values or {@link RelayFailure}s. */
public final class RelayClient implements RelayApi {
    private final String base;
    private final JsonHttp http;

    /** @param baseUrl the relay's origin (and optional path prefix), e.g. https://push.example.org */
    public RelayClient(String baseUrl, JsonHttp http) {
        this.base = normaliseBase(baseUrl);
        this.http = http;
    }

    public static String normaliseBase(String baseUrl) {
        String b = baseUrl == null ? "" : baseUrl.trim();
        while (b.endsWith("/")) {
            b = b.substring(0, b.length() - 1);
        }
        try {
            String protocol = new URL(b).getProtocol();
            if (!protocol.equals("https") && !protocol.equals("http")) {
                throw new IllegalArgumentException("relay URL must be http or https");
            }
        } catch (MalformedURLException e) {
            throw new IllegalArgumentException("relay URL is not a URL: " + e.getMessage());
        }
        return b;
    }

    @Override
    public RelayInfo info() throws RelayFailure {
        HttpAnswer answer;
        try {
            answer = expectSuccess(http.send("GET", base + "/v1/info", null, null));
        } catch (RelayFailure f) {
            if (f.kind == RelayFailure.Kind.NOT_FOUND) {
                // A relay from before /v1/info: it publishes nothing, which is an answer too.
                return RelayInfo.NONE;
            }
            throw f;
        }
        JSONObject o = parse(answer);
        Map<String, String> senders = new HashMap<String, String>();
        JSONArray projects = o.optJSONArray("projects");
        for (int i = 0; projects != null && i < projects.length(); i++) {
            JSONObject p = projects.optJSONObject(i);
            Object id = p == null ? null : p.opt("id");
            if (id instanceof String) {
                Object sender = p.opt("sender_id");
                // Only a project number is a usable sender; anything else is treated as unpublished.
                senders.put((String) id, sender instanceof String && isSenderId((String) sender) ? (String) sender : null);
            }
        }
        Object defaultProject = o.opt("default_project");
        Set<String> roads = new LinkedHashSet<String>();
        JSONArray offered = o.optJSONArray("roads");
        for (int i = 0; offered != null && i < offered.length(); i++) {
            Object road = offered.opt(i);
            if (road instanceof String) {
                roads.add((String) road);
            }
        }
        if (offered == null) {
            // A relay from before the Web Push road offers FCM alone.
            roads.add(RelayInfo.ROAD_FCM);
        }
        String vapid = null;
        JSONObject webpush = o.optJSONObject("webpush");
        Object key = webpush == null ? null : webpush.opt("vapid");
        // Only a key Play services can be asked for is kept; anything else is as good as none.
        if (key instanceof String && ((String) key).length() == Limits.VAPID_KEY_CHARS
                && Limits.isBase64Url((String) key) && ((String) key).charAt(0) == 'B') {
            vapid = (String) key;
        }
        return new RelayInfo(defaultProject instanceof String ? (String) defaultProject : null, senders,
                o.optBoolean("require_vapid", false), roads, vapid);
    }

    /** A Firebase project number, which is what Play services wants as the sender. */
    public static boolean isSenderId(String s) {
        return s != null && s.matches("[0-9]{1,20}");
    }

    @Override
    public DeviceCredentials createDevice(DeviceTarget target, String project) throws RelayFailure {
        JSONObject body = new JSONObject();
        putTarget(body, target);
        if (!target.isWebPush() && project != null && !project.isEmpty()) {
            put(body, "project", project);
        }
        JSONObject answer = parse(expectSuccess(http.send("POST", base + "/v1/devices", null, body.toString())));
        return new DeviceCredentials(requireString(answer, "device_id"), requireString(answer, "secret"));
    }

    @Override
    public void updateTarget(DeviceCredentials device, DeviceTarget target) throws RelayFailure {
        JSONObject body = new JSONObject();
        putTarget(body, target);
        expectSuccess(http.send("PUT", devicePath(device), device.secret, body.toString()));
    }

    @Override
    public boolean deviceExists(DeviceCredentials device) throws RelayFailure {
        try {
            expectSuccess(http.send("GET", devicePath(device), device.secret, null));
            return true;
        } catch (RelayFailure f) {
            if (f.deviceLost()) {
                return false;
            }
            throw f;
        }
    }

    @Override
    public void deleteDevice(DeviceCredentials device) throws RelayFailure {
        expectSuccess(http.send("DELETE", devicePath(device), device.secret, null));
    }

    @Override
    public RelayEndpoint register(DeviceCredentials device, String instance, String vapid) throws RelayFailure {
        JSONObject body = new JSONObject();
        put(body, "instance", instance);
        if (vapid != null) {
            put(body, "vapid", vapid);
        }
        HttpAnswer answer = expectSuccess(
                http.send("POST", devicePath(device) + "/registrations", device.secret, body.toString()));
        String endpoint = requireString(parse(answer), "endpoint");
        if (!RegistrationBook.isAcceptableEndpoint(endpoint)) {
            throw RelayFailure.protocol(answer.status, "endpoint is not an http(s) URL within the spec's size limit");
        }
        return new RelayEndpoint(endpoint, answer.status == 201);
    }

    @Override
    public void unregister(DeviceCredentials device, String instance) throws RelayFailure {
        expectSuccess(http.send("DELETE", devicePath(device) + "/registrations/" + PathSegment.encode(instance),
                device.secret, null));
    }

    private String devicePath(DeviceCredentials device) {
        return base + "/v1/devices/" + PathSegment.encode(device.deviceId);
    }

    private static HttpAnswer expectSuccess(HttpAnswer answer) throws RelayFailure {
        if (answer.status >= 200 && answer.status <= 299) {
            return answer;
        }
        String code = null;
        String message = null;
        try {
            JSONObject error = new JSONObject(answer.body);
            code = RegistrationBook.optionalString(error, "error");
            message = RegistrationBook.optionalString(error, "message");
        } catch (JSONException ignored) {
            // A proxy in front of the relay may answer with HTML; the status alone still classifies it.
        }
        throw RelayFailure.fromStatus(answer.status, code, answer.retryAfterSeconds, message);
    }

    private static JSONObject parse(HttpAnswer answer) throws RelayFailure {
        try {
            return new JSONObject(answer.body);
        } catch (JSONException e) {
            throw RelayFailure.protocol(answer.status, "answer is not a JSON object");
        }
    }

    private static String requireString(JSONObject o, String name) throws RelayFailure {
        Object v = o.opt(name);
        if (!(v instanceof String) || ((String) v).isEmpty()) {
            throw RelayFailure.protocol(0, "answer lacks the string field " + name);
        }
        return (String) v;
    }

    private static void putTarget(JSONObject o, DeviceTarget target) {
        try {
            target.putInto(o);
        } catch (JSONException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void put(JSONObject o, String name, String value) {
        try {
            o.put(name, value);
        } catch (JSONException e) {
            // Only thrown for null names or non-finite numbers, neither of which can happen here.
            throw new IllegalStateException(e);
        }
    }
}
