package org.uprelay.shim.core;

import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

/** What {@code GET /v1/info} tells a distributor before it registers anything. */
public final class RelayInfo {
    /** What a relay without {@code /v1/info} (an older one) is taken to say: nothing. */
    public static final RelayInfo NONE = new RelayInfo(null, Collections.<String, String>emptyMap(), false);

    /** The project used when a device names none; null when the relay did not say. */
    public final String defaultProject;
    /** Firebase project id to its project number (the FCM sender id); a value is null when unpublished. */
    public final Map<String, String> senderIds;
    /** Whether the relay refuses registrations without a VAPID key. */
    public final boolean requireVapid;

    public RelayInfo(String defaultProject, Map<String, String> senderIds, boolean requireVapid) {
        this.defaultProject = defaultProject;
        this.senderIds = Collections.unmodifiableMap(new HashMap<String, String>(senderIds));
        this.requireVapid = requireVapid;
    }

    /** The sender id of {@code project} (empty or null: the relay's default), or null when unpublished. */
    public String senderFor(String project) {
        String p = project == null || project.isEmpty() ? defaultProject : project;
        return p == null ? null : senderIds.get(p);
    }
}
