package org.uprelay.shim.core;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The most recent message ids delivered, so that the relay's at-least-once retries and FCM's
 * own redeliveries reach the app once. Bounded: the least recently seen id is forgotten first.
 */
public final class SeenIds {
    private final LinkedHashMap<String, Boolean> ids;

    public SeenIds(final int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive");
        }
        ids = new LinkedHashMap<String, Boolean>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
                return size() > capacity;
            }
        };
    }

    public synchronized boolean contains(String id) {
        return ids.get(id) != null;
    }

    public synchronized void add(String id) {
        ids.put(id, Boolean.TRUE);
    }

    public synchronized int size() {
        return ids.size();
    }
}
