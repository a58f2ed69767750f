package org.uprelay.shim.core;

import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The distributor's decisions, free of Android: what to ask the relay, what to tell apps.
 *
 * <p>Methods that may call the relay run on one worker thread. {@link #onGmsReceive} and
 * {@link #answerOverdue} never touch the network and may run on any thread (Android calls
 * them on the main thread), even while the worker waits for a slow relay: an app's answer
 * must not depend on how long the relay takes.
 */
public final class Distributor {
    /** The apps' side of AND_3.0.0. */
    public interface Apps {
        void newEndpoint(String packageName, String token, String endpoint);

        void registrationFailed(String packageName, String token, FailureReason reason);

        void unregistered(String packageName, String token);

        void message(String packageName, String token, byte[] body, String id);
    }

    /** Google Play services' token registration, which answers later through {@link #onGmsRegistration}. */
    public interface TokenSource {
        /** Null when a token can be requested, else a sentence for the user (Play services missing, ...). */
        String unavailableReason();

        void requestToken(String sender);
    }

    public interface Persistence {
        void save(String stateJson);
    }

    /** Which road to the phone to take; the relay's {@code /v1/info} says which it offers. */
    public enum RoadChoice {
        /** Web Push when the relay offers it (no Firebase project needed), else FCM. */
        AUTO,
        /** FCM while the relay offers it. */
        FCM,
        /** Web Push while the relay offers it. */
        WEBPUSH
    }

    /** Told when a {@link UserProblem} opens or closes, so that the user can be shown it. */
    public interface ProblemListener {
        void problemsChanged(List<Problems.Open> open);
    }

    /** Longest an app waits for the answer to a REGISTER (the spec wants one; connectors give up silently). */
    public static final long ANSWER_DEADLINE_MILLIS = 30_000;
    /** A token this old is asked for again: Play services may have replaced it without telling. */
    public static final long TOKEN_REFRESH_MILLIS = 7L * 24 * 60 * 60 * 1000;
    /** {@code GET /v1/info} is read again after this long, so a new sender id or VAPID rule is noticed. */
    public static final long INFO_REFRESH_MILLIS = 24L * 60 * 60 * 1000;
    /**
     * The relay is asked this often whether it still holds the device: it deletes a device whose
     * FCM token died, and Play services may go on handing out that same token without a word.
     */
    public static final long DEVICE_CHECK_MILLIS = 12L * 60 * 60 * 1000;
    /** After this long without an answer from the relay, the user is told. */
    public static final long RELAY_DOWN_MILLIS = 6L * 60 * 60 * 1000;
    // A Retry-After from Play services is honoured up to this, then retried anyway.
    private static final long MAX_PLAY_RETRY_AFTER_MILLIS = 24L * 60 * 60 * 1000;
    private static final long FIRST_TOKEN_RETRY_MILLIS = 10_000;
    private static final long MAX_TOKEN_RETRY_MILLIS = 60L * 60 * 1000;

    private final DistributorState state;
    private final InboundDecoder decoder;
    private final Clock clock;
    private final Apps apps;
    private final TokenSource tokens;
    private final Persistence persistence;
    // Every change of who is owed an answer happens under this lock, so that the deadline
    // (another thread) and a relay answer arriving at the same moment cannot both answer one REGISTER.
    private final Object answers = new Object();
    private final Object saving = new Object();
    private volatile RelayApi relay;
    // True while the worker waits for the relay: an app whose deadline passes then hears NETWORK.
    private volatile boolean relayBusy;
    private volatile String project;
    private volatile String manualSender;
    private volatile String requestedSender;
    // A token request Play services has not answered with a token yet: retries repeat it.
    private volatile boolean tokenWanted;
    // Set by REGISTERs and Play services' token events: the next sync asks the relay for the device.
    private volatile boolean deviceCheckDue;
    private volatile ProblemListener problemListener;
    private volatile RoadChoice roadChoice = RoadChoice.AUTO;
    private final SecureRandom random = new SecureRandom();
    private final Object keysLock = new Object();
    private int tokenFailures;

    /**
     * @param relay        null while no relay URL is configured
     * @param manualSender the Firebase project number the user typed, used only when the relay publishes none
     * @param clock        wall time: deadlines and token age survive process deaths in the persisted state
     */
    public Distributor(DistributorState state, InboundDecoder decoder, RelayApi relay, String project,
                       String manualSender, Clock clock, Apps apps, TokenSource tokens, Persistence persistence) {
        this.state = state;
        this.decoder = decoder;
        this.relay = relay;
        this.project = project;
        this.manualSender = manualSender;
        this.clock = clock;
        this.apps = apps;
        this.tokens = tokens;
        this.persistence = persistence;
    }

    public DistributorState state() {
        return state;
    }

    public void setProblemListener(ProblemListener listener) {
        problemListener = listener;
    }

    /** The user's road setting; the next resume or REGISTER moves the device if the road changes. */
    public void setRoadChoice(RoadChoice choice) {
        roadChoice = choice == null ? RoadChoice.AUTO : choice;
    }

    /**
     * Whether this phone takes the Web Push road: when the relay offers it and the setting
     * does not ask for FCM (or FCM is not offered).
     */
    public boolean onWebPushRoad() {
        RelayInfo info = state.info();
        if (info == null || !info.offersWebPush()) {
            return false;
        }
        return roadChoice != RoadChoice.FCM || !info.offersFcm();
    }

    /** Whether a token's sender is a VAPID key (the Web Push road) rather than a Firebase project number. */
    public static boolean isVapidSender(String sender) {
        return sender != null && sender.length() == Limits.VAPID_KEY_CHARS;
    }

    /**
     * What the token is requested for: on the Web Push road the relay's VAPID key, else the FCM
     * sender id (the relay's published project number, else the one the user typed); null when
     * neither is known.
     */
    public String sender() {
        RelayInfo info = state.info();
        if (onWebPushRoad()) {
            // Play services issues Web Push tokens for a VAPID key given as the sender.
            return info.webpushVapid;
        }
        String published = info == null ? null : info.senderFor(project);
        if (published != null) {
            return published;
        }
        String manual = manualSender;
        return RelayClient.isSenderId(manual) ? manual : null;
    }

    /** A REGISTER from start to end; the Android layer splits it into {@link #accept} and {@link #proceed}. */
    public void register(String packageName, String token, String vapid, String description) {
        if (accept(packageName, token, vapid, description)) {
            proceed(token);
        }
    }

    /**
     * The part of a REGISTER that runs as it is received, before the receiver returns: the
     * request is recorded and persisted, so its 30 s deadline runs from now and survives a
     * process death, and a known token with an endpoint for the same key is answered at once
     * from the book. Never touches the network. Returns true when {@link #proceed} must follow
     * (on the worker).
     */
    public boolean accept(String packageName, String token, String vapid, String description) {
        synchronized (answers) {
            Registration r;
            try {
                r = state.book.request(packageName, token, vapid, description, clock.nowMillis());
            } catch (InvalidRequestException e) {
                note("ignored REGISTER from " + packageName + ": " + e.getMessage());
                return false;
            } catch (InvalidVapidException e) {
                note("refused REGISTER from " + packageName + ": " + e.getMessage());
                apps.registrationFailed(packageName, token, FailureReason.ACTION_REQUIRED);
                return false;
            } catch (TokenTakenException e) {
                note("refused REGISTER from " + packageName + ": " + e.getMessage());
                apps.registrationFailed(packageName, token, FailureReason.INTERNAL_ERROR);
                return false;
            }
            if (!r.answerOwed()) {
                note("re-sent endpoint to " + packageName);
                apps.newEndpoint(packageName, token, r.endpoint);
            } else {
                note("REGISTER from " + packageName);
            }
        }
        // Whatever the answer, this is a moment to make sure the relay still holds the device.
        deviceCheckDue = true;
        return true;
    }

    /** The rest of a REGISTER {@link #accept}ed before: relay info, token, relay calls. On the worker. */
    public void proceed(String token) {
        Registration r = state.book.get(token);
        if (r == null || !r.answerOwed()) {
            // Answered from the book (or already answered by the deadline): only catch up with the relay.
            sync();
            return;
        }
        String packageName = r.packageName;
        String blocker = relay == null ? "no relay URL is configured" : tokens.unavailableReason();
        if (blocker != null) {
            failOwed(r.token, FailureReason.ACTION_REQUIRED, blocker, r.announced());
            return;
        }
        RelayFailure infoFailure = refreshInfoIfDue();
        RelayInfo info = state.info();
        if (info != null && info.requireVapid && r.vapid == null) {
            failOwed(r.token, FailureReason.VAPID_REQUIRED, "the relay only issues endpoints for a VAPID key",
                    r.announced());
            return;
        }
        String sender = sender();
        if (sender == null) {
            if (infoFailure != null) {
                failOwed(r.token, infoFailure.registrationReason(), "the relay's sender id is unknown: "
                        + infoFailure.getMessage(), r.announced());
            } else {
                failOwed(r.token, FailureReason.ACTION_REQUIRED,
                        "no Firebase sender id: the relay publishes none and none is set", r.announced());
            }
            return;
        }
        if (!tokenUsable()) {
            note("waiting for an FCM token before registering " + packageName);
            requestToken(sender);
            return;
        }
        sync();
    }

    public void unregister(String packageName, String token) {
        Registration r = state.book.get(token);
        if (r == null) {
            // The spec: an UNREGISTER for a token this distributor does not know is ignored.
            return;
        }
        if (!r.packageName.equals(packageName)) {
            note("ignored UNREGISTER from " + packageName + " for another app's token");
            return;
        }
        synchronized (answers) {
            state.book.remove(token);
        }
        state.queueDeletion(r.instance);
        note("unregistered " + packageName);
        apps.unregistered(packageName, token);
        if (relay != null) {
            flushDeletions();
        }
    }

    /**
     * A MESSAGE_ACK. The connector sends it without any caller identity, so the token alone
     * names the registration; ACKs for tokens this distributor does not know are ignored.
     */
    public void messageAcknowledged(String token, String id) {
        if (token != null && state.book.acknowledge(token, clock.nowMillis()) != null) {
            save();
        }
    }

    /**
     * A REGISTRATION broadcast from Play services, its String extras as a map. Returns how long
     * to wait before asking for a token again, or -1 when no retry is due.
     */
    public long onGmsRegistration(Map<String, String> extras) {
        String registrationId = extras.get("registration_id");
        if (registrationId != null) {
            if (GmsReplies.isResetReply(registrationId)) {
                onTokenCommand(GmsReplies.RESET);
                return -1;
            }
            String token = GmsReplies.tokenOf(registrationId);
            if (token == null) {
                note("Play services sent an unusable registration_id");
                return -1;
            }
            onFcmToken(token);
            return -1;
        }
        String error = extras.get("error");
        if (error != null) {
            String code = GmsReplies.errorCodeOf(error);
            if (GmsReplies.RESET.equals(code)) {
                onTokenCommand(code);
                return -1;
            }
            if (GmsReplies.refusedBeforeAsking(error)) {
                onPushRefusedOnPhone();
            }
            long delay = onFcmTokenError(code);
            long retryAfter = GmsReplies.retryAfterMillis(extras.get(GmsReplies.RETRY_AFTER));
            return delay < 0 || retryAfter <= delay ? delay : Math.min(retryAfter, MAX_PLAY_RETRY_AFTER_MILLIS);
        }
        if (extras.get("unregistered") != null) {
            onTokenCommand(GmsReplies.RESET);
        }
        return -1;
    }

    private void onFcmToken(String token) {
        tokenFailures = 0;
        tokenWanted = false;
        // The same token again proves nothing about the device at the relay, which may have
        // deleted it when FCM called this very token dead.
        deviceCheckDue = true;
        clearProblem(UserProblem.PLAY_SERVICES_PUSH_OFF);
        String sender = requestedSender != null ? requestedSender : sender();
        boolean changed = !token.equals(state.fcmToken());
        state.setFcmToken(token, sender, clock.nowMillis());
        note(changed ? "got a new FCM token" : "Play services confirmed the FCM token");
        sync();
    }

    /**
     * Play services refused before asking Google: microG answers a bare SERVICE_NOT_AVAILABLE
     * (no kid) when Cloud Messaging is off or this app is not allowed to register. Retrying
     * goes on in case the user fixes it, but waiting apps hear ACTION_REQUIRED rather than
     * NETWORK, and the user is told.
     */
    private void onPushRefusedOnPhone() {
        raiseProblem(UserProblem.PLAY_SERVICES_PUSH_OFF, "Play services refuses push for uprelay: turn on "
                + "Cloud Messaging (microG: Settings > Cloud Messaging) and allow uprelay to register");
        if (!tokenUsable()) {
            for (Registration r : state.book.owingAnswers()) {
                failOwed(r.token, FailureReason.ACTION_REQUIRED, "Play services push is off", r.announced());
            }
        }
    }

    /** Temporary errors are retried with backoff for as long as they last; waiting apps hear from the deadline. */
    private long onFcmTokenError(String code) {
        note("FCM token request failed: " + code);
        if (GmsReplies.isTransientError(code)) {
            tokenFailures++;
            int doublings = Math.min(tokenFailures - 1, 20);
            return Math.min(FIRST_TOKEN_RETRY_MILLIS << doublings, MAX_TOKEN_RETRY_MILLIS);
        }
        tokenFailures = 0;
        tokenWanted = false;
        if (!tokenUsable()) {
            for (Registration r : state.book.owingAnswers()) {
                failOwed(r.token, FailureReason.ACTION_REQUIRED, "Play services refused a token: " + code, r.announced());
            }
        }
        return -1;
    }

    /**
     * Every RECEIVE from Play services, its String extras as a map: FCM data from the relay,
     * Play services' own commands about the token, and FCM's notice of dropped messages.
     * Never blocks on the network.
     */
    public void onGmsReceive(Map<String, String> extras) {
        String type = extras.get("message_type");
        if ("deleted_messages".equals(type)) {
            state.deletedMessagesReported(clock.nowMillis());
            note("FCM dropped messages that waited too long for this phone (" + state.deletedMessagesEvents()
                    + " times so far); telling every app to sync");
            // A NEW_ENDPOINT with the endpoint an app already has is the connector's signal to
            // fetch what it missed from its server.
            for (Registration r : state.book.all()) {
                if (!r.answerOwed()) {
                    apps.newEndpoint(r.packageName, r.token, r.endpoint);
                }
            }
            return;
        }
        if (type != null && !type.equals("gcm")) {
            return;
        }
        String from = extras.get("from");
        String command = GmsReplies.tokenCommandOf(from, extras.get("CMD"));
        if (command != null) {
            onTokenCommand(command);
            return;
        }
        if (GmsReplies.INSTANCE_ID_SENDER.equals(from)) {
            note("ignored a Play services command: " + extras.get("CMD"));
            return;
        }
        onFcmMessage(extras);
    }

    /**
     * RST / RST_FULL: the token is void, so a new one is requested (the relay gets it with PUT
     * and the endpoints stay). SYNC: the token is asked for again and sent on if it changed.
     */
    private void onTokenCommand(String command) {
        deviceCheckDue = true;
        String sender = state.tokenSender() != null ? state.tokenSender() : sender();
        if (GmsReplies.voidsToken(command)) {
            state.setFcmToken(null, null, 0);
            note("Play services reset the FCM token (" + command + "); asking for a new one");
        } else {
            note("Play services asked to check the FCM token (" + command + ")");
        }
        if (sender != null) {
            requestToken(sender);
        }
    }

    private void onFcmMessage(Map<String, String> data) {
        if (data.containsKey(GmsExtras.RAW_DATA_BASE64)) {
            onWebPushMessage(data.get(GmsExtras.RAW_DATA_BASE64));
            return;
        }
        InboundMessage m;
        try {
            m = decoder.accept(data);
        } catch (MalformedMessageException e) {
            note("dropped a malformed message: " + e.getMessage());
            return;
        }
        deliver(m);
    }

    /**
     * A Web Push payload ({@code rawData}): decrypted with the phone's keys, read as the relay's
     * frame, rejoined and de-duplicated like FCM data. Anything that fails is logged and dropped,
     * never handed to an app.
     */
    private void onWebPushMessage(String rawData64) {
        WebPushKeys keys = state.webPushKeys();
        if (keys == null) {
            note("dropped a Web Push message: this phone has no Web Push keys");
            return;
        }
        InboundMessage m;
        try {
            byte[] frame = keys.decrypt(Base64Codec.decodeLenient(rawData64));
            m = decoder.accept(WebPushFrame.parse(frame));
        } catch (IllegalArgumentException e) {
            note("dropped a Web Push message that is not base64: " + e.getMessage());
            return;
        } catch (GeneralSecurityException e) {
            note("dropped a Web Push message that did not decrypt: " + e.getMessage());
            return;
        } catch (MalformedMessageException e) {
            note("dropped a malformed Web Push message: " + e.getMessage());
            return;
        }
        deliver(m);
    }

    private void deliver(InboundMessage m) {
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
     * Answers every REGISTER that has waited {@link #ANSWER_DEADLINE_MILLIS}: NETWORK while the
     * token or the relay is what it waits for, INTERNAL_ERROR otherwise. Safe on any thread.
     */
    public void answerOverdue() {
        long now = clock.nowMillis();
        for (Registration r : state.book.owingAnswers()) {
            if (now >= deadlineOf(r, now) || now < r.requestedAt) {
                boolean network = !tokenUsable() || state.info() == null && sender() == null || relayBusy;
                failOwed(r.token, network ? FailureReason.NETWORK : FailureReason.INTERNAL_ERROR,
                        "no answer within " + ANSWER_DEADLINE_MILLIS / 1000 + " s", true);
            }
        }
    }

    /** Wall time of the next REGISTER deadline, or -1 when no app waits. */
    public long nextAnswerDeadline() {
        long now = clock.nowMillis();
        long next = -1;
        for (Registration r : state.book.owingAnswers()) {
            long at = deadlineOf(r, now);
            next = next < 0 ? at : Math.min(next, at);
        }
        return next;
    }

    // A registration restored from state written before deadlines existed has no time: it is due now.
    private static long deadlineOf(Registration r, long now) {
        return r.requestedAt == 0 ? now : r.requestedAt + ANSWER_DEADLINE_MILLIS;
    }

    /**
     * New relay settings. The old device is deleted (best effort) because its endpoints would
     * otherwise stay valid on a relay the phone no longer listens to; every registration is made
     * again and apps get their new endpoints. A token for another sender id is replaced first.
     */
    public void reconfigure(RelayApi newRelay, String newProject, String newManualSender) {
        DeviceCredentials old = state.device();
        RelayApi previous = relay;
        if (old != null && previous != null) {
            relayBusy = true;
            try {
                previous.deleteDevice(old);
            } catch (RelayFailure f) {
                note("could not delete the old device: " + f.getMessage());
            } finally {
                relayBusy = false;
            }
        }
        relay = newRelay;
        project = newProject;
        manualSender = newManualSender;
        state.setInfo(null, 0);
        state.setRelayFailingSince(0);
        clearProblem(UserProblem.RELAY_UNREACHABLE);
        clearProblem(UserProblem.REGISTRATION_REFUSED);
        if (newRelay == null) {
            // Logged out of the push server (AND_3): every app is told at once, not at its next REGISTER.
            for (Registration r : state.book.all()) {
                synchronized (answers) {
                    state.book.remove(r.token);
                }
                if (r.announced()) {
                    apps.unregistered(r.packageName, r.token);
                } else {
                    apps.registrationFailed(r.packageName, r.token, FailureReason.ACTION_REQUIRED);
                }
            }
        }
        forgetDevice(newRelay == null ? "left the relay; every app was told" : "relay settings changed");
        resume();
    }

    /**
     * On start-up, retries and the periodic check: answer overdue REGISTERs, re-read the relay's
     * info when due, ask for a token if there is none, it is a week old or an earlier request
     * is still unanswered, then catch up with the relay.
     */
    public void resume() {
        answerOverdue();
        if (relay == null) {
            return;
        }
        refreshInfoIfDue();
        String sender = sender();
        if (sender != null && tokens.unavailableReason() == null) {
            long now = clock.nowMillis();
            long obtained = state.tokenObtainedAt();
            boolean old = state.fcmToken() != null && (now - obtained >= TOKEN_REFRESH_MILLIS || now < obtained);
            if (!tokenUsable() || old || tokenWanted) {
                if (old) {
                    note("the FCM token is a week old; asking Play services again");
                }
                requestToken(sender);
            }
        }
        sync();
    }

    /** Whether some relay work is left for a later {@link #sync()}. */
    public boolean needsRetry() {
        return !state.book.unconfirmed().isEmpty() || !state.pendingDeletions().isEmpty()
                || state.relayTokenStale() || relay != null && state.info() == null
                || deviceCheckDue && state.device() != null;
    }

    /** Brings the relay in line with local state: token, deletions, then every unconfirmed registration. */
    public void sync() {
        if (relay == null || !tokenUsable()) {
            return;
        }
        relayBusy = true;
        try {
            syncWithRelay();
        } finally {
            relayBusy = false;
        }
    }

    private void syncWithRelay() {
        checkDeviceIfDue();
        pushTokenIfStale();
        flushDeletions();
        boolean recovered = false;
        Set<String> tried = new HashSet<String>();
        Registration next;
        while ((next = firstUntried(tried)) != null) {
            tried.add(next.token);
            try {
                registerAtRelay(next);
                relayAnswered();
            } catch (RelayFailure f) {
                relayFailed(f);
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

    /**
     * Asks the relay whether it still holds the device, when a REGISTER or a token event asked
     * for it or {@link #DEVICE_CHECK_MILLIS} passed. A device the relay deleted is forgotten, so
     * that the sync creates it again and every app gets its new endpoint.
     */
    private void checkDeviceIfDue() {
        DeviceCredentials device = state.device();
        if (device == null) {
            deviceCheckDue = false;
            return;
        }
        long now = clock.nowMillis();
        long at = state.deviceCheckedAt();
        if (!deviceCheckDue && now - at < DEVICE_CHECK_MILLIS && now >= at) {
            return;
        }
        boolean exists;
        try {
            exists = relay.deviceExists(device);
        } catch (RelayFailure f) {
            relayFailed(f);
            note("could not check the device at the relay: " + f.getMessage());
            return;
        }
        relayAnswered();
        deviceCheckDue = false;
        state.setDeviceCheckedAt(now);
        if (!exists) {
            forgetDevice("the relay deleted this device (FCM called its token dead); registering every app again");
        } else {
            save();
        }
    }

    /** Whether the current token was issued for the sender the relay expects (an unknown sender accepts any). */
    private boolean tokenUsable() {
        if (state.fcmToken() == null) {
            return false;
        }
        String sender = sender();
        String issuedFor = state.tokenSender();
        return sender == null || issuedFor == null || sender.equals(issuedFor);
    }

    private void requestToken(String sender) {
        requestedSender = sender;
        tokenWanted = true;
        tokens.requestToken(sender);
    }

    /** Reads {@code GET /v1/info} when it was never read or is a day old; returns the failure, if any. */
    private RelayFailure refreshInfoIfDue() {
        RelayApi r = relay;
        long now = clock.nowMillis();
        long at = state.infoFetchedAt();
        if (r == null || state.info() != null && now - at < INFO_REFRESH_MILLIS && now >= at) {
            return null;
        }
        RelayInfo info;
        // Set here as well as in sync(): a REGISTER reads the info first, and may wait on it.
        relayBusy = true;
        try {
            info = r.info();
        } catch (RelayFailure f) {
            relayFailed(f);
            note("could not read the relay's info: " + f.getMessage());
            return f;
        } finally {
            relayBusy = false;
        }
        relayAnswered();
        String before = sender();
        state.setInfo(info, now);
        String after = sender();
        if (after != null && !after.equals(before)) {
            note(isVapidSender(after) ? "the relay offers the Web Push road; its VAPID key is the sender now"
                    : "the relay's Firebase sender id is " + after);
        } else {
            save();
        }
        return null;
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
        synchronized (answers) {
            Registration current = state.book.get(r.token);
            if (current == null || !current.instance.equals(r.instance)) {
                // Answered (the deadline passed) or unregistered while the relay was busy: undo it there.
                state.queueDeletion(r.instance);
                save();
                return;
            }
            Registration done = state.book.confirm(r.token, endpoint.url);
            clearProblem(UserProblem.REGISTRATION_REFUSED);
            note("new endpoint for " + done.packageName);
            apps.newEndpoint(done.packageName, done.token, done.endpoint);
        }
    }

    private DeviceCredentials ensureDevice() throws RelayFailure {
        DeviceCredentials device = state.device();
        if (device == null) {
            String token = state.fcmToken();
            if (token == null) {
                // Play services voided it (RST, on the main thread) since this sync began.
                throw RelayFailure.network("the FCM token was reset; waiting for the new one");
            }
            device = relay.createDevice(targetFor(token, state.tokenSender()), project);
            state.setDevice(device);
            state.setDeviceCheckedAt(clock.nowMillis());
            note("registered this phone with the relay");
        }
        return device;
    }

    /** The device's target for a token issued for {@code sender}: the road follows the token. */
    private DeviceTarget targetFor(String token, String sender) {
        return isVapidSender(sender) ? DeviceTarget.webPush(token, webPushKeys()) : DeviceTarget.fcm(token);
    }

    /** The phone's Web Push keys, made (and persisted) the first time they are needed. */
    private WebPushKeys webPushKeys() {
        WebPushKeys keys;
        boolean made = false;
        // Its own lock, released before note() saves: save() takes the state's lock under
        // its own, so holding the state's here would invite a deadlock.
        synchronized (keysLock) {
            keys = state.webPushKeys();
            if (keys == null) {
                try {
                    keys = WebPushKeys.generate(random);
                } catch (GeneralSecurityException e) {
                    throw new IllegalStateException("this platform cannot make P-256 keys", e);
                }
                state.setWebPushKeys(keys);
                made = true;
            }
        }
        if (made) {
            note("made this phone's Web Push keys");
        }
        return keys;
    }

    private void handleFailure(Registration r, RelayFailure f) {
        Registration current = state.book.get(r.token);
        if (current == null) {
            return;
        }
        if (current.answerOwed()) {
            // After a timeout or a garbled answer the relay may have created the registration after all.
            boolean relayMayHoldIt = current.announced() || f.isTransient() || f.kind == RelayFailure.Kind.PROTOCOL;
            failOwed(current.token, f.registrationReason(), f.getMessage(), relayMayHoldIt);
        } else if (f.isTransient()) {
            note("will retry registering " + current.packageName + ": " + f.getMessage());
        } else {
            synchronized (answers) {
                state.book.remove(current.token);
            }
            state.queueDeletion(current.instance);
            note("dropped " + current.packageName + "'s registration: " + f.getMessage());
            apps.unregistered(current.packageName, current.token);
        }
    }

    /**
     * Sends REGISTRATION_FAILED if {@code token}'s app still waits for an answer. The connector
     * picks a new token after it, so this one is forgotten here and at the relay.
     */
    private void failOwed(String token, FailureReason reason, String why, boolean relayMayHoldIt) {
        synchronized (answers) {
            Registration r = state.book.get(token);
            if (r == null || !r.answerOwed()) {
                return;
            }
            state.book.remove(token);
            if (relayMayHoldIt) {
                state.queueDeletion(r.instance);
            }
            note("registration of " + r.packageName + " failed (" + reason + "): " + why);
            apps.registrationFailed(r.packageName, r.token, reason);
            if (reason == FailureReason.ACTION_REQUIRED) {
                raiseProblem(UserProblem.REGISTRATION_REFUSED, r.packageName + " cannot get push: " + why);
            }
        }
    }

    private void pushTokenIfStale() {
        DeviceCredentials device = state.device();
        String token = state.fcmToken();
        if (device == null || token == null || !state.relayTokenStale()) {
            return;
        }
        try {
            relay.updateTarget(device, targetFor(token, state.tokenSender()));
            relayAnswered();
            state.relayTokenUpdated();
            note("sent the new FCM token to the relay");
        } catch (RelayFailure f) {
            relayFailed(f);
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

    /** The relay gave an HTTP answer (even a refusal): it is reachable. */
    private void relayAnswered() {
        if (state.relayFailingSince() != 0) {
            state.setRelayFailingSince(0);
        }
        clearProblem(UserProblem.RELAY_UNREACHABLE);
    }

    /** A relay call failed; a relay that has not answered for {@link #RELAY_DOWN_MILLIS} is the user's to know. */
    private void relayFailed(RelayFailure f) {
        if (!f.isTransient()) {
            relayAnswered();
            return;
        }
        long now = clock.nowMillis();
        long since = state.relayFailingSince();
        if (since == 0 || now < since) {
            state.setRelayFailingSince(now);
        } else if (now - since >= RELAY_DOWN_MILLIS) {
            raiseProblem(UserProblem.RELAY_UNREACHABLE, "the relay has not answered for "
                    + (now - since) / 3_600_000 + " h (" + f.getMessage() + "): check its URL, the network, or the server");
        }
    }

    private void raiseProblem(UserProblem kind, String detail) {
        if (state.problems.raise(kind, detail, clock.nowMillis())) {
            note("needs the user: " + detail);
            tellProblems();
        }
    }

    private void clearProblem(UserProblem kind) {
        if (state.problems.clear(kind)) {
            note("resolved: " + kind.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '));
            tellProblems();
        }
    }

    /** The Android layer's own findings (battery optimisation) join the same list. */
    public void setProblem(UserProblem kind, String detailOrNull) {
        if (detailOrNull == null) {
            clearProblem(kind);
        } else {
            raiseProblem(kind, detailOrNull);
        }
    }

    private void tellProblems() {
        ProblemListener l = problemListener;
        if (l != null) {
            l.problemsChanged(state.problems.all());
        }
    }

    /** Logs for the status screen and persists: every state change is followed by a note. */
    private void note(String text) {
        state.log.add(text);
        save();
    }

    // Two threads may save; the lock keeps an older snapshot from being written after a newer one.
    private void save() {
        synchronized (saving) {
            persistence.save(state.toJson());
        }
    }
}
