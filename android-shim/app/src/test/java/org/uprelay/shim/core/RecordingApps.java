package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.List;

/** Records what the distributor told apps, one readable line per intent. */
final class RecordingApps implements Distributor.Apps {
    final List<String> sent = new ArrayList<>();
    final List<byte[]> bodies = new ArrayList<>();

    @Override
    public void newEndpoint(String packageName, String token, String endpoint) {
        sent.add("NEW_ENDPOINT " + packageName + " " + token + " " + endpoint);
    }

    @Override
    public void registrationFailed(String packageName, String token, FailureReason reason) {
        sent.add("REGISTRATION_FAILED " + packageName + " " + token + " " + reason);
    }

    @Override
    public void unregistered(String packageName, String token) {
        sent.add("UNREGISTERED " + packageName + " " + token);
    }

    @Override
    public void message(String packageName, String token, byte[] body, String id) {
        sent.add("MESSAGE " + packageName + " " + token + " " + id);
        bodies.add(body);
    }

    List<String> drain() {
        List<String> out = new ArrayList<>(sent);
        sent.clear();
        return out;
    }
}
