package org.uprelay.shim.core;

import java.util.Map;

/** Turns the stream of FCM data maps (and Web Push frames) into complete, de-duplicated push bodies. */
public final class InboundDecoder {
    private final SplitReassembler reassembler;
    private final SeenIds seen;

    public InboundDecoder(SplitReassembler reassembler, SeenIds seen) {
        this.reassembler = reassembler;
        this.seen = seen;
    }

    /** Returns null while a split message waits for its other half, and for duplicates. */
    public synchronized InboundMessage accept(Map<String, String> data) throws MalformedMessageException {
        return accept(WireFormat.parse(data));
    }

    /**
     * The same for a fragment read from another road (the Web Push frame): one reassembler and
     * one memory of message ids, so a message is delivered once whichever road it came by.
     */
    public synchronized InboundMessage accept(WireFragment fragment) throws MalformedMessageException {
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
