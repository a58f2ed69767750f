package org.uprelay.shim.core;

/** Produces fresh identifiers; injected so that tests can predict them. */
public interface IdSource {
    String newId();
}
