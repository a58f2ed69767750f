package org.uprelay.shim.core;

import java.util.Map;

/** Reads uprelay's FCM data map: i = instance, b = padded base64 body, m = message id, s = half. */
public final class WireFormat {
    public static final String INSTANCE = "i";
    public static final String BODY = "b";
    public static final String MESSAGE_ID = "m";
    public static final String SPLIT = "s";

    private WireFormat() {
    }

    /** Extras that GMS adds (from, google.*, collapse_key, ...) are ignored. */
    public static WireFragment parse(Map<String, String> data) throws MalformedMessageException {
        String instance = data.get(INSTANCE);
        if (instance == null || instance.isEmpty() || Limits.utf8Length(instance) > Limits.MAX_INSTANCE_BYTES) {
            throw new MalformedMessageException("missing or oversized instance");
        }
        String id = data.get(MESSAGE_ID);
        if (id != null && (id.isEmpty() || Limits.utf8Length(id) > Limits.MAX_ID_BYTES)) {
            throw new MalformedMessageException("message id is empty or longer than the spec allows");
        }
        int part = parsePart(data.get(SPLIT));
        if (part != WireFragment.WHOLE && id == null) {
            throw new MalformedMessageException("split half without a message id cannot be paired");
        }
        String body = data.get(BODY);
        if (body == null) {
            throw new MalformedMessageException("missing body");
        }
        byte[] bytes;
        try {
            bytes = Base64Codec.decode(body);
        } catch (IllegalArgumentException e) {
            throw new MalformedMessageException("body is not padded base64: " + e.getMessage());
        }
        if (bytes.length == 0 || bytes.length > Limits.MAX_DELIVERED_BYTES) {
            throw new MalformedMessageException("body of " + bytes.length + " bytes is outside 1.."
                    + Limits.MAX_DELIVERED_BYTES);
        }
        return new WireFragment(instance, id, part, bytes);
    }

    private static int parsePart(String split) throws MalformedMessageException {
        if (split == null) {
            return WireFragment.WHOLE;
        }
        if (split.equals("1")) {
            return 1;
        }
        if (split.equals("2")) {
            return 2;
        }
        throw new MalformedMessageException("unknown split marker");
    }
}
