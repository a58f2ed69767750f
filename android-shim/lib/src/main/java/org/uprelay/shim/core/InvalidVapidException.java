package org.uprelay.shim.core;

/**
 * A REGISTER whose VAPID key has the right length and alphabet but is no uncompressed P-256
 * point: unlike other malformed requests it is answered (REGISTRATION_FAILED), because a
 * connector that sent it waits for an answer and would otherwise wait forever.
 */
public final class InvalidVapidException extends Exception {
    public InvalidVapidException(String message) {
        super(message);
    }
}
