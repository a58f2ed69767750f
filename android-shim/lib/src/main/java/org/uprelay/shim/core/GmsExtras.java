package org.uprelay.shim.core;

import java.util.HashMap;
import java.util.Map;

/**
 * Play services' broadcast extras as the core reads them: every value a String. Data pairs
 * already are; {@code Retry-After} comes as a Long, and a Web Push payload as the byte[]
 * {@code rawData} (microG adds {@code gcm.rawData64}), which is carried on in standard base64.
 */
public final class GmsExtras {
    /** Where a Web Push payload is kept in the String map: standard base64, as microG writes it. */
    public static final String RAW_DATA_BASE64 = "gcm.rawData64";
    public static final String RAW_DATA = "rawData";

    private GmsExtras() {
    }

    /** {@code values}: the bundle's keys and values as Android returns them; anything else is dropped. */
    public static Map<String, String> strings(Map<String, Object> values) {
        Map<String, String> out = new HashMap<String, String>();
        for (Map.Entry<String, Object> e : values.entrySet()) {
            Object v = e.getValue();
            if (v instanceof String) {
                out.put(e.getKey(), (String) v);
            } else if (v instanceof Long || v instanceof Integer) {
                out.put(e.getKey(), String.valueOf(v));
            }
        }
        Object raw = values.get(RAW_DATA);
        if (raw instanceof byte[]) {
            // The bytes themselves win over microG's copy: Google's Play services sends only them.
            out.put(RAW_DATA_BASE64, Base64Codec.encode((byte[]) raw));
        }
        return out;
    }
}
