package org.uprelay.shim.core;

/** Time source, injected so that expiry can be tested without sleeping. */
public interface Clock {
    long nowMillis();
}
