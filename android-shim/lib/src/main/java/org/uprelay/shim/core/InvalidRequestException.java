package org.uprelay.shim.core;

/** A REGISTER that breaks the spec's rules; the spec says such intents are ignored. */
public final class InvalidRequestException extends Exception {
    public InvalidRequestException(String message) {
        super(message);
    }
}
