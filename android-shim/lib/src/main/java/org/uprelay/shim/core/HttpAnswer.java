package org.uprelay.shim.core;

/** Status, body and the one header the relay client reads. */
public final class HttpAnswer {
    public final int status;
    public final String body;
    /** -1 when absent or not delta-seconds (HTTP dates are rare enough to treat as absent). */
    public final long retryAfterSeconds;

    public HttpAnswer(int status, String body, long retryAfterSeconds) {
        this.status = status;
        this.body = body;
        this.retryAfterSeconds = retryAfterSeconds;
    }
}
