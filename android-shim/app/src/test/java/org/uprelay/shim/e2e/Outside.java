package org.uprelay.shim.e2e;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.uprelay.shim.core.InboundDecoder;
import org.uprelay.shim.core.InboundMessage;
import org.uprelay.shim.core.MalformedMessageException;
import org.uprelay.shim.core.SeenIds;
import org.uprelay.shim.core.SplitReassembler;
import org.uprelay.shim.core.WallClock;

/** The world around the phone in the end-to-end checks: an app server pushing, and what FCM (the emulator) kept. */
final class Outside {
    private Outside() {
    }

    /** What an app server does: POST the (already encrypted) body with a TTL. */
    static int push(String endpoint, byte[] body) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(endpoint).openConnection();
        try {
            c.setRequestMethod("POST");
            c.setDoOutput(true);
            c.setInstanceFollowRedirects(false);
            c.setRequestProperty("TTL", "60");
            c.setRequestProperty("Content-Encoding", "aes128gcm");
            c.setRequestProperty("Content-Type", "application/octet-stream");
            c.setFixedLengthStreamingMode(body.length);
            try (OutputStream out = c.getOutputStream()) {
                out.write(body);
            }
            int status = c.getResponseCode();
            InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
            if (in != null) {
                readAll(in);
            }
            return status;
        } finally {
            c.disconnect();
        }
    }

    /** The data maps the emulator accepted for {@code token}, in the order it got them. */
    static List<Map<String, String>> captured(String emulatorUrl, String token) throws IOException, JSONException {
        URL url = new URL(emulatorUrl + "/emulator/messages?token=" + URLEncoder.encode(token, "UTF-8"));
        HttpURLConnection c = (HttpURLConnection) url.openConnection();
        try {
            if (c.getResponseCode() != 200) {
                throw new IOException("emulator answered " + c.getResponseCode());
            }
            JSONArray list = new JSONArray(new String(readAll(c.getInputStream()), StandardCharsets.UTF_8));
            List<Map<String, String>> out = new ArrayList<>();
            for (int i = 0; i < list.length(); i++) {
                // Web Push entries (road "webpush") carry no FCM message.
                JSONObject message = list.getJSONObject(i).optJSONObject("message");
                if (message == null || !token.equals(message.optString("token"))) {
                    continue;
                }
                JSONObject data = message.getJSONObject("data");
                Map<String, String> map = new HashMap<>();
                for (Iterator<String> keys = data.keys(); keys.hasNext(); ) {
                    String key = keys.next();
                    map.put(key, data.getString(key));
                }
                out.add(map);
            }
            return out;
        } finally {
            c.disconnect();
        }
    }

    /** One payload the emulator accepted on the Web Push road: the entry as JSON text, and its body. */
    static final class WebPushEntry {
        final String json;
        final byte[] rawData;

        WebPushEntry(String json, byte[] rawData) {
            this.json = json;
            this.rawData = rawData;
        }
    }

    /** The Web Push payloads the emulator accepted for {@code token}, in order, as the phone gets them. */
    static List<WebPushEntry> capturedWebPush(String emulatorUrl, String token) throws IOException, JSONException {
        URL url = new URL(emulatorUrl + "/emulator/messages?token=" + URLEncoder.encode(token, "UTF-8"));
        HttpURLConnection c = (HttpURLConnection) url.openConnection();
        try {
            if (c.getResponseCode() != 200) {
                throw new IOException("emulator answered " + c.getResponseCode());
            }
            JSONArray list = new JSONArray(new String(readAll(c.getInputStream()), StandardCharsets.UTF_8));
            List<WebPushEntry> out = new ArrayList<>();
            for (int i = 0; i < list.length(); i++) {
                JSONObject e = list.getJSONObject(i);
                if ("webpush".equals(e.optString("road")) && token.equals(e.optString("token"))) {
                    out.add(new WebPushEntry(e.toString(), java.util.Base64.getDecoder().decode(e.getString("raw_data"))));
                }
            }
            return out;
        } finally {
            c.disconnect();
        }
    }

    /** What Play services does for a sender key: the emulator issues a token bound to {@code vapid}. */
    static String webPushToken(String emulatorUrl, String vapid) throws IOException, JSONException {
        return new JSONObject(postJson(emulatorUrl + "/emulator/webpush/tokens", new JSONObject().put("vapid", vapid)))
                .getString("token");
    }

    /** Google forgets a token (the phone's app data was cleared, say): pushes to it get 410. */
    static void revokeWebPush(String emulatorUrl, String token) throws IOException, JSONException {
        postJson(emulatorUrl + "/emulator/webpush/revoke", new JSONObject().put("token", token));
    }

    private static String postJson(String url, JSONObject body) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(url).openConnection();
        try {
            byte[] bytes = body.toString().getBytes(StandardCharsets.UTF_8);
            c.setRequestMethod("POST");
            c.setDoOutput(true);
            c.setRequestProperty("Content-Type", "application/json");
            c.setFixedLengthStreamingMode(bytes.length);
            try (OutputStream out = c.getOutputStream()) {
                out.write(bytes);
            }
            int status = c.getResponseCode();
            InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
            String answer = in == null ? "" : new String(readAll(in), StandardCharsets.UTF_8);
            if (status != 200) {
                throw new IOException(url + " answered " + status + ": " + answer);
            }
            return answer;
        } finally {
            c.disconnect();
        }
    }

    /** Polls the emulator until every body can be decoded from what it kept (the relay may send after its 201). */
    static List<Map<String, String>> awaitBodies(String emulatorUrl, String token, List<byte[]> bodies, long waitMillis)
            throws Exception {
        long deadline = System.currentTimeMillis() + waitMillis;
        while (true) {
            List<Map<String, String>> captured = captured(emulatorUrl, token);
            if (hasAll(captured, bodies) || System.currentTimeMillis() > deadline) {
                return captured;
            }
            Thread.sleep(250);
        }
    }

    private static boolean hasAll(List<Map<String, String>> captured, List<byte[]> bodies)
            throws MalformedMessageException {
        InboundDecoder decoder = new InboundDecoder(new SplitReassembler(new WallClock(), 600_000, 1 << 20),
                new SeenIds(1000));
        List<byte[]> remaining = new ArrayList<>(bodies);
        for (Map<String, String> data : captured) {
            InboundMessage m = decoder.accept(data);
            if (m != null) {
                removeEqual(remaining, m.body);
            }
        }
        return remaining.isEmpty();
    }

    /** Removes one element equal to {@code body}; false when there is none. */
    static boolean removeEqual(List<byte[]> list, byte[] body) {
        for (int i = 0; i < list.size(); i++) {
            if (Arrays.equals(list.get(i), body)) {
                list.remove(i);
                return true;
            }
        }
        return false;
    }

    /** Shaped like a real registration token: instance id, colon, APA91b payload. */
    static String fakeFcmToken(Random rnd) {
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < 22; i++) {
            b.append(alphabet.charAt(rnd.nextInt(64)));
        }
        b.append(":APA91b");
        for (int i = 0; i < 134; i++) {
            b.append(alphabet.charAt(rnd.nextInt(64)));
        }
        return b.toString();
    }

    static byte[] readAll(InputStream in) throws IOException {
        try (InputStream s = in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            int n;
            while ((n = s.read(buf)) != -1) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }
    }
}
