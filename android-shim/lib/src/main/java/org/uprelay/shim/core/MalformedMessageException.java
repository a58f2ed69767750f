package org.uprelay.shim.core;

/** An FCM data message that does not follow uprelay's wire format; it is dropped, never delivered. */
public final class MalformedMessageException extends Exception {
    public MalformedMessageException(String message) {
        super(message);
    }
}
