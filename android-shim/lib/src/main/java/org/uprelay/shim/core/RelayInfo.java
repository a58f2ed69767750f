package org.uprelay.shim.core;

import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/** What {@code GET /v1/info} tells a distributor before it registers anything. */
public final class RelayInfo {
    public static final String ROAD_FCM = "fcm";
    public static final String ROAD_WEBPUSH = "webpush";

    /** What a relay without {@code /v1/info} (an older one) is taken to say: nothing. */
    public static final RelayInfo NONE = new RelayInfo(null, Collections.<String, String>emptyMap(), false);

    /** The project used when a device names none; null when the relay did not say. */
    public final String defaultProject;
    /** Firebase project id to its project number (the FCM sender id); a value is null when unpublished. */
    public final Map<String, String> senderIds;
    /** Whether the relay refuses registrations without a VAPID key. */
    public final boolean requireVapid;
    /** The roads to the phone this relay offers; a relay that does not say offers FCM alone. */
    public final Set<String> roads;
    /** The relay's VAPID public key (87 base64url characters) when it offers the Web Push road, else null. */
    public final String webpushVapid;

    public RelayInfo(String defaultProject, Map<String, String> senderIds, boolean requireVapid) {
        this(defaultProject, senderIds, requireVapid, Collections.singleton(ROAD_FCM), null);
    }

    public RelayInfo(String defaultProject, Map<String, String> senderIds, boolean requireVapid, Set<String> roads,
                     String webpushVapid) {
        this.defaultProject = defaultProject;
        this.senderIds = Collections.unmodifiableMap(new HashMap<String, String>(senderIds));
        this.requireVapid = requireVapid;
        this.roads = Collections.unmodifiableSet(new LinkedHashSet<String>(roads));
        this.webpushVapid = webpushVapid;
    }

    /** The sender id of {@code project} (empty or null: the relay's default), or null when unpublished. */
    public String senderFor(String project) {
        String p = project == null || project.isEmpty() ? defaultProject : project;
        return p == null ? null : senderIds.get(p);
    }

    /** Whether the Web Push road is offered with a key a token can be asked for. */
    public boolean offersWebPush() {
        return roads.contains(ROAD_WEBPUSH) && webpushVapid != null;
    }

    public boolean offersFcm() {
        return roads.contains(ROAD_FCM);
    }
}
