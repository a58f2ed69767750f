package org.uprelay.shim.core;

/** A registration's endpoint; {@code created} is false when the relay returned an existing one (200). */
public final class RelayEndpoint {
    public final String url;
    public final boolean created;

    public RelayEndpoint(String url, boolean created) {
        this.url = url;
        this.created = created;
    }
}
