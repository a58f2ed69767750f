package org.uprelay.shim;

import android.content.Context;
import android.content.SharedPreferences;

import java.util.Locale;

import org.uprelay.shim.core.Distributor;
import org.uprelay.shim.core.JsonHttp;
import org.uprelay.shim.core.RelayApi;
import org.uprelay.shim.core.RelayClient;

/**
 * Relay URL and Firebase project, editable on the status screen. The defaults are the string
 * resources {@code uprelay_relay_url}, {@code uprelay_fcm_sender} and {@code uprelay_fcm_project}
 * of the app the library is built into (looked up by name, so an embedding app defines only the
 * ones it needs; the standalone build generates them).
 */
final class Settings {
    // Within the 60 s a background broadcast may run, even with a device creation and a registration.
    private static final int CONNECT_TIMEOUT_MILLIS = 10000;
    private static final int READ_TIMEOUT_MILLIS = 15000;

    private final Context context;
    private final SharedPreferences prefs;

    Settings(Context context) {
        this.context = context;
        this.prefs = context.getSharedPreferences(Shim.PREFS_PREFIX + "settings", Context.MODE_PRIVATE);
    }

    String relayUrl() {
        return prefs.getString("relay_url", appDefault("uprelay_relay_url")).trim();
    }

    /**
     * The Firebase project number the user typed: GMS's "sender" for the token request, used only
     * when the relay does not publish one at GET /v1/info.
     */
    String senderNumber() {
        return prefs.getString("fcm_sender", appDefault("uprelay_fcm_sender")).trim();
    }

    /** The Firebase project id sent to the relay; empty when the relay serves a single project. */
    String projectId() {
        return prefs.getString("fcm_project", appDefault("uprelay_fcm_project")).trim();
    }

    private String appDefault(String name) {
        int id = context.getResources().getIdentifier(name, "string", context.getPackageName());
        return id == 0 ? "" : context.getString(id);
    }

    /** The road setting: auto (Web Push when the relay offers it), fcm or webpush. */
    Distributor.RoadChoice road() {
        String v = prefs.getString("road", appDefault("uprelay_road")).trim();
        try {
            return v.isEmpty() ? Distributor.RoadChoice.AUTO : Distributor.RoadChoice.valueOf(v.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return Distributor.RoadChoice.AUTO;
        }
    }

    void saveRoad(Distributor.RoadChoice road) {
        prefs.edit().putString("road", road.name().toLowerCase(Locale.ROOT)).apply();
    }

    void save(String relayUrl, String senderNumber, String projectId) {
        prefs.edit().putString("relay_url", relayUrl.trim()).putString("fcm_sender", senderNumber.trim())
                .putString("fcm_project", projectId.trim()).apply();
    }

    /** Null when the URL is empty or unusable, which the distributor reports as ACTION_REQUIRED. */
    RelayApi relay() {
        return relayFor(relayUrl());
    }

    static RelayApi relayFor(String url) {
        if (url.isEmpty()) {
            return null;
        }
        try {
            return new RelayClient(url, new JsonHttp(CONNECT_TIMEOUT_MILLIS, READ_TIMEOUT_MILLIS));
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static boolean isValidSender(String sender) {
        return RelayClient.isSenderId(sender);
    }
}
