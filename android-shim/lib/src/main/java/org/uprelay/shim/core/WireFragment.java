package org.uprelay.shim.core;

/** One FCM data message from uprelay: a whole push body, or one half of a split one. */
public final class WireFragment {
    public static final int WHOLE = 0;

    public final String instance;
    /** uprelay's message id; null only for whole messages from a relay that sends none. */
    public final String messageId;
    /** {@link #WHOLE}, 1 or 2. */
    public final int part;
    public final byte[] bytes;

    public WireFragment(String instance, String messageId, int part, byte[] bytes) {
        this.instance = instance;
        this.messageId = messageId;
        this.part = part;
        this.bytes = bytes;
    }
}
