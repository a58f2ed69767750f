package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.List;

/** Play services as the tests play it: remembers each token request's sender; the test answers by hand. */
public final class RecordingTokenSource implements Distributor.TokenSource {
    /** The sender of every token request, in order. */
    public final List<String> requests = new ArrayList<>();
    /** What unavailableReason() says; null while Play services is there. */
    public String unavailable;

    @Override
    public String unavailableReason() {
        return unavailable;
    }

    @Override
    public void requestToken(String sender) {
        requests.add(sender);
    }
}
