package org.uprelay.shim.core;

/** Why a call to the relay failed, classified so callers can decide to retry, recover or give up. */
public final class RelayFailure extends Exception {
    public enum Kind {
        /** No HTTP answer at all: DNS, connect, TLS, timeout. */
        NETWORK,
        /** 5xx. */
        SERVER,
        /** 429; see {@link #retryAfterSeconds}. */
        RATE_LIMITED,
        /** 401: the device secret is not accepted. */
        UNAUTHORIZED,
        /** 404 or 410: the device (or registration) does not exist there. */
        NOT_FOUND,
        /** 403 registration_limit. */
        REGISTRATION_LIMIT,
        /** Any other 403. */
        FORBIDDEN,
        /** Other 4xx: the request was wrong. */
        BAD_REQUEST,
        /** An answer this client cannot use: redirects, unknown statuses, malformed bodies. */
        PROTOCOL
    }

    public final Kind kind;
    /** 0 when there was no HTTP answer. */
    public final int status;
    /** The relay's snake_case {@code error} code, when it sent one. */
    public final String errorCode;
    /** -1 when absent or not delta-seconds. */
    public final long retryAfterSeconds;

    public RelayFailure(Kind kind, int status, String errorCode, long retryAfterSeconds, String message) {
        super(message);
        this.kind = kind;
        this.status = status;
        this.errorCode = errorCode;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public static RelayFailure network(String message) {
        return new RelayFailure(Kind.NETWORK, 0, null, -1, message);
    }

    public static RelayFailure protocol(int status, String message) {
        return new RelayFailure(Kind.PROTOCOL, status, null, -1, message);
    }

    /** Classifies a non-2xx answer. */
    public static RelayFailure fromStatus(int status, String errorCode, long retryAfterSeconds, String message) {
        Kind kind;
        if (status == 401) {
            kind = Kind.UNAUTHORIZED;
        } else if (status == 403) {
            kind = "registration_limit".equals(errorCode) ? Kind.REGISTRATION_LIMIT : Kind.FORBIDDEN;
        } else if (status == 404 || status == 410) {
            kind = Kind.NOT_FOUND;
        } else if (status == 429) {
            kind = Kind.RATE_LIMITED;
        } else if (status >= 500 && status <= 599) {
            kind = Kind.SERVER;
        } else if (status >= 400 && status <= 499) {
            kind = Kind.BAD_REQUEST;
        } else {
            kind = Kind.PROTOCOL;
        }
        return new RelayFailure(kind, status, errorCode, retryAfterSeconds,
                "HTTP " + status + (errorCode == null ? "" : " " + errorCode) + (message == null ? "" : ": " + message));
    }

    /** What to tell an app whose REGISTER this failure ended. */
    public FailureReason registrationReason() {
        // The relay answers 400 vapid_required when it only issues VAPID-restricted endpoints.
        if ("vapid_required".equals(errorCode)) {
            return FailureReason.VAPID_REQUIRED;
        }
        switch (kind) {
            case NETWORK:
                return FailureReason.NETWORK;
            case REGISTRATION_LIMIT:
            case FORBIDDEN:
            case BAD_REQUEST:
                // AND_3: a request the server refuses as it stands (a VAPID key off the curve, ...)
                // will not succeed by trying again, so the app must not loop on it.
                return FailureReason.ACTION_REQUIRED;
            default:
                return FailureReason.INTERNAL_ERROR;
        }
    }

    /** Whether trying the same call later may succeed without anyone changing anything. */
    public boolean isTransient() {
        return kind == Kind.NETWORK || kind == Kind.SERVER || kind == Kind.RATE_LIMITED;
    }

    /** Whether the relay no longer knows this device, so it must be created again. */
    public boolean deviceLost() {
        return kind == Kind.UNAUTHORIZED || kind == Kind.NOT_FOUND;
    }
}
