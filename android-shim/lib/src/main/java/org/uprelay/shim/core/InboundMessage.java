package org.uprelay.shim.core;

/** A complete push body ready to hand to the app that owns {@link #instance}. */
public final class InboundMessage {
    public final String instance;
    /** Passed to the app as the MESSAGE intent's id; null when the relay sent none. */
    public final String id;
    public final byte[] body;

    public InboundMessage(String instance, String id, byte[] body) {
        this.instance = instance;
        this.id = id;
        this.body = body;
    }
}
