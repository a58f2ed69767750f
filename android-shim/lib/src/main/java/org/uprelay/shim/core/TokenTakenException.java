package org.uprelay.shim.core;

/** A REGISTER whose connection token already belongs to another app. */
public final class TokenTakenException extends Exception {
    public TokenTakenException() {
        super("token already registered by another app");
    }
}
