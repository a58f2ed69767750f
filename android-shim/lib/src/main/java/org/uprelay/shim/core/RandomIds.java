package org.uprelay.shim.core;

import java.util.UUID;

/** Random UUIDv4 strings: they fit the relay's instance alphabet and the spec's 100-byte id limit. */
public final class RandomIds implements IdSource {
    @Override
    public String newId() {
        return UUID.randomUUID().toString();
    }
}
