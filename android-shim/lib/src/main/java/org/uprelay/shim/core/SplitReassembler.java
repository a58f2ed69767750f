package org.uprelay.shim.core;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Pairs the two halves of a split message, whichever arrives first.
 * A lone half waits at most {@code expiryMillis}; all waiting halves together hold at most
 * {@code maxBufferedBytes}, the oldest being dropped first, so a relay or an attacker sending
 * only first halves cannot grow the process's memory.
 */
public final class SplitReassembler {
    private static final class Waiting {
        final WireFragment half;
        final long arrivedAt;

        Waiting(WireFragment half, long arrivedAt) {
            this.half = half;
            this.arrivedAt = arrivedAt;
        }
    }

    private final Clock clock;
    private final long expiryMillis;
    private final int maxBufferedBytes;
    // Insertion order is arrival order, which makes the first entry the one to evict.
    private final LinkedHashMap<String, Waiting> waiting = new LinkedHashMap<String, Waiting>();
    private int bufferedBytes;

    public SplitReassembler(Clock clock, long expiryMillis, int maxBufferedBytes) {
        if (expiryMillis <= 0 || maxBufferedBytes <= 0) {
            throw new IllegalArgumentException("expiry and memory cap must be positive");
        }
        this.clock = clock;
        this.expiryMillis = expiryMillis;
        this.maxBufferedBytes = maxBufferedBytes;
    }

    /**
     * Returns the joined body when {@code half} completes a pair, otherwise null (waiting, or a
     * repeated half). A pair too large to deliver, or a half too large to keep, is refused with
     * the reason, so the caller logs it: nothing is dropped without a line.
     */
    public synchronized byte[] offer(WireFragment half) throws MalformedMessageException {
        if (half.part != 1 && half.part != 2) {
            throw new IllegalArgumentException("not a split half");
        }
        dropExpired();
        // The instance is part of the key so that one app cannot complete another app's message.
        String key = half.instance + '\u0000' + half.messageId;
        Waiting other = waiting.get(key);
        if (other != null) {
            if (other.half.part == half.part) {
                return null;
            }
            remove(key);
            WireFragment first = half.part == 1 ? half : other.half;
            WireFragment second = half.part == 2 ? half : other.half;
            int total = first.bytes.length + second.bytes.length;
            if (total > Limits.MAX_DELIVERED_BYTES) {
                throw new MalformedMessageException("rejoined body of " + total + " bytes exceeds "
                        + Limits.MAX_DELIVERED_BYTES);
            }
            byte[] body = new byte[total];
            System.arraycopy(first.bytes, 0, body, 0, first.bytes.length);
            System.arraycopy(second.bytes, 0, body, first.bytes.length, second.bytes.length);
            return body;
        }
        if (half.bytes.length > maxBufferedBytes) {
            throw new MalformedMessageException("a half of " + half.bytes.length + " bytes exceeds the "
                    + maxBufferedBytes + " bytes kept for halves");
        }
        while (bufferedBytes + half.bytes.length > maxBufferedBytes) {
            remove(waiting.keySet().iterator().next());
        }
        waiting.put(key, new Waiting(half, clock.nowMillis()));
        bufferedBytes += half.bytes.length;
        return null;
    }

    public synchronized int waitingHalves() {
        dropExpired();
        return waiting.size();
    }

    public synchronized int bufferedBytes() {
        dropExpired();
        return bufferedBytes;
    }

    private void dropExpired() {
        long now = clock.nowMillis();
        Iterator<Map.Entry<String, Waiting>> it = waiting.entrySet().iterator();
        while (it.hasNext()) {
            Waiting w = it.next().getValue();
            // Every entry is checked, not just the oldest: a clock that steps back would break
            // the assumption that arrival order is also expiry order.
            if (now - w.arrivedAt >= expiryMillis || now < w.arrivedAt) {
                bufferedBytes -= w.half.bytes.length;
                it.remove();
            }
        }
    }

    private void remove(String key) {
        Waiting w = waiting.remove(key);
        bufferedBytes -= w.half.bytes.length;
    }
}
