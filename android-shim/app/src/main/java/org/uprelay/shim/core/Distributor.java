package org.uprelay.shim.core;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The distributor's decisions, free of Android: what to ask the relay, what to tell apps.
 *
 * <p>Everything except {@link #onFcmMessage} performs network calls and must be called from one
 * worker thread. {@link #onFcmMessage} never touches the network, so the GMS receiver can call it
 * on the main thread while the worker is busy.
 */
public final class Distributor {
    /** The apps' side of AND_3.0.0. */
    public interface Apps {
        void newEndpoint(String packageName, String token, String endpoint);

        void registrationFailed(String packageName, String token, FailureReason reason);

        void unregistered(String packageName, String token);

        void message(String packageName, String token, byte[] body, String id);
    }

    /** Google Play services' token registration, which answers later through {@link #onFcmToken}. */
    public interface TokenSource {
        /** Null when a token can be requested, else a sentence for the user (Play services missing, ...). */
        String unavailableReason();

        void requestToken();
    }

    public interface Persistence {
        void save(String stateJson);
    }

    private static final int MAX_TOKEN_ATTEMPTS = 5;
    private static final long FIRST_TOKEN_RETRY_MILLIS = 10000;

    private final DistributorState state;
    private final InboundDecoder decoder;
    private final Apps apps;
    private final TokenSource tokens;
    private final Persistence persistence;
    private RelayApi relay;
    private String project;
    private int tokenFailures;
    // Tokens whose app is waiting for an answer to a REGISTER right now. The spec requires one
    // (NEW_ENDPOINT or REGISTRATION_FAILED), whereas a background re-registration may just retry.
    private final Set<String> awaitingAnswer = new HashSet<String>();

    /** @param relay null while no relay URL is configured */
    public Distributor(DistributorState state, InboundDecoder decoder, RelayApi relay, String project, Apps apps,
                       TokenSource tokens, Persistence persistence) {
        this.state = state;
        this.decoder = decoder;
        this.relay = relay;
        this.project = project;
        this.apps = apps;
        this.tokens = tokens;
        this.persistence = persistence;
    }

    public DistributorState state() {
        return state;
    }

    public void register(String packageName, String token, String vapid, String description) {
        Registration r;
        try {
            r = state.book.request(packageName, token, vapid, description);
        } catch (InvalidRequestException e) {
            note("ignored REGISTER from " + packageName + ": " + e.getMessage());
            return;
        } catch (TokenTakenException e) {
            note("refused REGISTER from " + packageName + ": " + e.getMessage());
            apps.registrationFailed(packageName, token, FailureReason.INTERNAL_ERROR);
            return;
        }
        if (r.confirmed) {
            note("re-sent endpoint to " + packageName);
            apps.newEndpoint(packageName, token, r.endpoint);
            return;
        }
        awaitingAnswer.add(token);
        String blocker = relay == null ? "no relay URL is configured" : tokens.unavailableReason();
        if (blocker != null) {
            fail(r, FailureReason.ACTION_REQUIRED, blocker, r.announced());
            return;
        }
        if (state.fcmToken() == null) {
            note("waiting for an FCM token before registering " + packageName);
            tokens.requestToken();
            return;
        }
        sync();
    }

    public void unregister(String packageName, String token) {
        Registration r = state.book.get(token);
        if (r != null && !r.packageName.equals(packageName)) {
            note("ignored UNREGISTER from " + packageName + " for another app's token");
            return;
        }
        if (r != null) {
            state.book.remove(token);
            awaitingAnswer.remove(token);
            state.queueDeletion(r.instance);
            note("unregistered " + packageName);
        }
        // Confirming an unknown token is harmless and lets a confused app settle.
        apps.unregistered(packageName, token);
        if (relay != null) {
            flushDeletions();
        }
    }

    public void messageAcknowledged(String packageName, String id) {
        note(packageName + " acknowledged " + id);
    }

    public void onFcmToken(String token) {
        tokenFailures = 0;
        if (!token.equals(state.fcmToken())) {
            state.setFcmToken(token);
            note("got a new FCM token");
        }
        sync();
    }

    /**
     * Play services could not give a token. Returns how long to wait before asking again, or -1
     * when giving up, in which case every app still waiting for an endpoint is told.
     */
    public long onFcmTokenError(String error) {
        note("FCM token request failed: " + error);
        if (state.fcmToken() != null) {
            return -1;
        }
        tokenFailures++;
        boolean transientError = GmsReplies.isTransientError(error);
        if (transientError && tokenFailures < MAX_TOKEN_ATTEMPTS) {
            return FIRST_TOKEN_RETRY_MILLIS << (tokenFailures - 1);
        }
        tokenFailures = 0;
        FailureReason reason = transientError ? FailureReason.NETWORK : FailureReason.ACTION_REQUIRED;
        for (Registration r : state.book.unconfirmed()) {
            if (mustAnswer(r)) {
                fail(r, reason, "no FCM token: " + error, r.announced());
            }
        }
        return -1;
    }

    /** Play services dropped our token (instance reset); the relay keeps the endpoints and gets the next one. */
    public void onFcmTokenReset() {
        state.setFcmToken(null);
        note("FCM token was reset; asking for a new one");
        tokens.requestToken();
    }

    /** Called with the FCM data map of every RECEIVE; never blocks on the network. */
    public void onFcmMessage(Map<String, String> data) {
        InboundMessage m;
        try {
            m = decoder.accept(data);
        } catch (MalformedMessageException e) {
            note("dropped a malformed message: " + e.getMessage());
            return;
        }
        if (m == null) {
            return;
        }
        Registration r = state.book.byInstance(m.instance);
        if (r == null) {
            // The relay still routes to an instance this phone forgot; ask it to stop at the next sync.
            state.queueDeletion(m.instance);
            note("dropped a message for an unknown registration");
            return;
        }
        apps.message(r.packageName, r.token, m.body, m.id);
        note(m.body.length + " bytes to " + r.packageName);
    }

    /**
     * New relay settings. The old device is deleted (best effort) because its endpoints would
     * otherwise stay valid on a relay the phone no longer listens to; every registration is made
     * again and apps get their new endpoints.
     *
     * @param senderChanged the Firebase project number changed, so the FCM token is useless
     */
    public void reconfigure(RelayApi newRelay, String newProject, boolean senderChanged) {
        DeviceCredentials old = state.device();
        if (old != null && relay != null) {
            try {
                relay.deleteDevice(old);
            } catch (RelayFailure f) {
                note("could not delete the old device: " + f.getMessage());
            }
        }
        relay = newRelay;
        project = newProject;
        forgetDevice("relay settings changed");
        if (senderChanged) {
            state.setFcmToken(null);
            save();
            if (relay != null) {
                tokens.requestToken();
            }
            return;
        }
        sync();
    }

    /** On start-up and retries: get a token if one is missing, else catch up with the relay. */
    public void resume() {
        if (relay != null && state.fcmToken() == null && tokens.unavailableReason() == null) {
            tokens.requestToken();
            return;
        }
        sync();
    }

    /** Whether some relay work is left for a later {@link #sync()}. */
    public boolean needsRetry() {
        return !state.book.unconfirmed().isEmpty() || !state.pendingDeletions().isEmpty()
                || state.relayTokenStale();
    }

    /** Brings the relay in line with local state: token, deletions, then every unconfirmed registration. */
    public void sync() {
        if (relay == null || state.fcmToken() == null) {
            return;
        }
        pushTokenIfStale();
        flushDeletions();
        boolean recovered = false;
        Set<String> tried = new HashSet<String>();
        Registration next;
        while ((next = firstUntried(tried)) != null) {
            tried.add(next.token);
            try {
                registerAtRelay(next);
            } catch (RelayFailure f) {
                if (f.deviceLost() && !recovered) {
                    recovered = true;
                    forgetDevice("the relay no longer knows this device (" + f.getMessage() + ")");
                    tried.clear();
                    continue;
                }
                handleFailure(next, f);
                if (f.kind == RelayFailure.Kind.NETWORK) {
                    // One unreachable relay is enough evidence; answer the rest without waiting on timeouts.
                    while ((next = firstUntried(tried)) != null) {
                        tried.add(next.token);
                        handleFailure(next, f);
                    }
                }
            }
        }
    }

    private Registration firstUntried(Set<String> tried) {
        for (Registration r : state.book.unconfirmed()) {
            if (!tried.contains(r.token)) {
                return r;
            }
        }
        return null;
    }

    private void registerAtRelay(Registration r) throws RelayFailure {
        DeviceCredentials device = ensureDevice();
        RelayEndpoint endpoint = relay.register(device, r.instance, r.vapid);
        Registration done = state.book.confirm(r.token, endpoint.url);
        awaitingAnswer.remove(r.token);
        if (done != null) {
            note("new endpoint for " + done.packageName);
            apps.newEndpoint(done.packageName, done.token, done.endpoint);
        }
    }

    private DeviceCredentials ensureDevice() throws RelayFailure {
        DeviceCredentials device = state.device();
        if (device == null) {
            device = relay.createDevice(state.fcmToken(), project);
            state.setDevice(device);
            note("registered this phone with the relay");
        }
        return device;
    }

    private void handleFailure(Registration r, RelayFailure f) {
        if (mustAnswer(r)) {
            // After a timeout or a garbled answer the relay may have created the registration after all.
            boolean relayMayHoldIt = r.announced() || f.isTransient() || f.kind == RelayFailure.Kind.PROTOCOL;
            fail(r, f.registrationReason(), f.getMessage(), relayMayHoldIt);
        } else if (f.isTransient()) {
            note("will retry registering " + r.packageName + ": " + f.getMessage());
        } else {
            state.book.remove(r.token);
            state.queueDeletion(r.instance);
            note("dropped " + r.packageName + "'s registration: " + f.getMessage());
            apps.unregistered(r.packageName, r.token);
        }
    }

    private boolean mustAnswer(Registration r) {
        return !r.announced() || awaitingAnswer.contains(r.token);
    }

    /** The connector picks a new token after REGISTRATION_FAILED, so this one is forgotten here and at the relay. */
    private void fail(Registration r, FailureReason reason, String why, boolean relayMayHoldIt) {
        state.book.remove(r.token);
        awaitingAnswer.remove(r.token);
        if (relayMayHoldIt) {
            state.queueDeletion(r.instance);
        }
        note("registration of " + r.packageName + " failed (" + reason + "): " + why);
        apps.registrationFailed(r.packageName, r.token, reason);
    }

    private void pushTokenIfStale() {
        DeviceCredentials device = state.device();
        if (device == null || !state.relayTokenStale()) {
            return;
        }
        try {
            relay.updateToken(device, state.fcmToken());
            state.relayTokenUpdated();
            note("sent the new FCM token to the relay");
        } catch (RelayFailure f) {
            if (f.deviceLost()) {
                forgetDevice("the relay no longer knows this device (" + f.getMessage() + ")");
            } else {
                note("could not send the new FCM token: " + f.getMessage());
            }
        }
    }

    private void flushDeletions() {
        DeviceCredentials device = state.device();
        if (device == null) {
            return;
        }
        List<String> instances = state.pendingDeletions();
        for (String instance : instances) {
            try {
                relay.unregister(device, instance);
                state.deletionDone(instance);
            } catch (RelayFailure f) {
                if (f.kind != RelayFailure.Kind.NOT_FOUND) {
                    note("could not delete a registration at the relay: " + f.getMessage());
                    break;
                }
                state.deletionDone(instance);
            }
        }
        if (!instances.isEmpty()) {
            save();
        }
    }

    private void forgetDevice(String why) {
        state.setDevice(null);
        state.book.unconfirmAll();
        note(why);
    }

    /** Logs for the status screen and persists: every state change is followed by a note. */
    private void note(String text) {
        state.log.add(text);
        save();
    }

    private void save() {
        persistence.save(state.toJson());
    }
}
