package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Records what the distributor told apps, one readable line per intent, plus the messages themselves. */
public final class RecordingApps implements Distributor.Apps {
    /** One MESSAGE as the app's connector got it. */
    public static final class Message {
        public final String packageName;
        public final String token;
        public final byte[] body;
        public final String id;

        Message(String packageName, String token, byte[] body, String id) {
            this.packageName = packageName;
            this.token = token;
            this.body = body;
            this.id = id;
        }
    }

    public final List<String> sent = new ArrayList<>();
    public final List<byte[]> bodies = new ArrayList<>();
    public final List<Message> messages = new ArrayList<>();
    /** The last endpoint each token was given. */
    public final Map<String, String> endpoints = new HashMap<>();

    @Override
    public void newEndpoint(String packageName, String token, String endpoint) {
        sent.add("NEW_ENDPOINT " + packageName + " " + token + " " + endpoint);
        endpoints.put(token, endpoint);
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
        messages.add(new Message(packageName, token, body, id));
    }

    public List<String> drain() {
        List<String> out = new ArrayList<>(sent);
        sent.clear();
        return out;
    }
}
