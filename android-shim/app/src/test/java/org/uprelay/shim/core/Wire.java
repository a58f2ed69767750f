package org.uprelay.shim.core;

import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

/** Builds data maps the way uprelay does, using the JDK's encoder as an independent reference. */
final class Wire {
    private Wire() {
    }

    static Map<String, String> whole(String instance, String id, byte[] body) {
        Map<String, String> data = new HashMap<>();
        data.put("i", instance);
        if (id != null) {
            data.put("m", id);
        }
        data.put("b", Base64.getEncoder().encodeToString(body));
        // What Play services adds on the phone; the decoder must not care.
        data.put("from", "1234567890");
        data.put("google.message_id", "0:1700000000000%abc");
        data.put("collapse_key", "org.uprelay.shim");
        return data;
    }

    /** The relay's split: the base64 text cut at a multiple of 4, so each half decodes alone. */
    static Map<String, String> half(String instance, String id, byte[] body, int part) {
        String text = Base64.getEncoder().encodeToString(body);
        int cut = (text.length() / 2) / 4 * 4;
        Map<String, String> data = new HashMap<>();
        data.put("i", instance);
        data.put("m", id);
        data.put("s", Integer.toString(part));
        data.put("b", part == 1 ? text.substring(0, cut) : text.substring(cut));
        return data;
    }

    static byte[] firstHalfBytes(byte[] body) {
        int cut = (Base64.getEncoder().encodeToString(body).length() / 2) / 4 * 3;
        return Arrays.copyOf(body, cut);
    }

    static byte[] random(Random rnd, int size) {
        byte[] b = new byte[size];
        rnd.nextBytes(b);
        return b;
    }
}
