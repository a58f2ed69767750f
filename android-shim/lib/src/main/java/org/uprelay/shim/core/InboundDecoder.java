package org.uprelay.shim.core;

import java.util.Map;

/** Turns the stream of FCM data maps into complete, de-duplicated push bodies. */
public final class InboundDecoder {
    private final SplitReassembler reassembler;
    private final SeenIds seen;

    public InboundDecoder(SplitReassembler reassembler, SeenIds seen) {
        this.reassembler = reassembler;
        this.seen = seen;
    }

    /** Returns null while a split message waits for its other half, and for duplicates. */
    public synchronized InboundMessage accept(Map<String, String> data) throws MalformedMessageException {
        WireFragment fragment = WireFormat.parse(data);
        if (fragment.messageId != null && seen.contains(fragment.messageId)) {
            return null;
        }
        byte[] body = fragment.part == WireFragment.WHOLE ? fragment.bytes : reassembler.offer(fragment);
        if (body == null) {
            return null;
        }
        if (fragment.messageId != null) {
            seen.add(fragment.messageId);
        }
        return new InboundMessage(fragment.instance, fragment.messageId, body);
    }
}
