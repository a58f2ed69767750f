package org.uprelay.shim.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;

/** One JSON request over HttpURLConnection, with bounded time and a bounded answer. */
public final class JsonHttp {
    private static final int MAX_ANSWER_BYTES = 64 * 1024;

    private final int connectTimeoutMillis;
    private final int readTimeoutMillis;

    public JsonHttp(int connectTimeoutMillis, int readTimeoutMillis) {
        this.connectTimeoutMillis = connectTimeoutMillis;
        this.readTimeoutMillis = readTimeoutMillis;
    }

    /** {@code bearer} and {@code jsonBody} may be null. */
    public HttpAnswer send(String method, String url, String bearer, String jsonBody) throws RelayFailure {
        HttpURLConnection c = null;
        try {
            c = (HttpURLConnection) new URL(url).openConnection();
            c.setRequestMethod(method);
            c.setConnectTimeout(connectTimeoutMillis);
            c.setReadTimeout(readTimeoutMillis);
            // A redirect could carry the bearer secret to another host; the relay never redirects.
            c.setInstanceFollowRedirects(false);
            c.setUseCaches(false);
            c.setRequestProperty("Accept", "application/json");
            if (bearer != null) {
                c.setRequestProperty("Authorization", "Bearer " + bearer);
            }
            if (jsonBody != null) {
                byte[] bytes = Limits.utf8(jsonBody);
                c.setDoOutput(true);
                c.setRequestProperty("Content-Type", "application/json");
                c.setFixedLengthStreamingMode(bytes.length);
                OutputStream out = c.getOutputStream();
                try {
                    out.write(bytes);
                } finally {
                    out.close();
                }
            }
            int status = c.getResponseCode();
            if (status < 0) {
                throw RelayFailure.protocol(status, "not an HTTP answer");
            }
            InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
            String body = in == null ? "" : readBounded(in);
            return new HttpAnswer(status, body, parseRetryAfter(c.getHeaderField("Retry-After")));
        } catch (IOException e) {
            throw RelayFailure.network(e.getClass().getSimpleName() + ": " + e.getMessage());
        } finally {
            if (c != null) {
                c.disconnect();
            }
        }
    }

    private static String readBounded(InputStream in) throws IOException, RelayFailure {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            int n;
            while ((n = in.read(buf)) != -1) {
                out.write(buf, 0, n);
                if (out.size() > MAX_ANSWER_BYTES) {
                    throw RelayFailure.protocol(0, "answer larger than " + MAX_ANSWER_BYTES + " bytes");
                }
            }
            return Limits.fromUtf8(out.toByteArray());
        } finally {
            in.close();
        }
    }

    /** A {@code Retry-After} of delta seconds (the relay's, or Play services'), or -1 when absent or unreadable. */
    static long parseRetryAfter(String value) {
        if (value == null) {
            return -1;
        }
        String v = value.trim();
        if (v.isEmpty() || v.length() > 9) {
            return -1;
        }
        for (int i = 0; i < v.length(); i++) {
            if (v.charAt(i) < '0' || v.charAt(i) > '9') {
                return -1;
            }
        }
        return Long.parseLong(v);
    }
}
