package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;

import org.json.JSONException;
import org.json.JSONObject;

/** The {@link UserProblem}s open right now, each with a sentence for the user and the time it began. */
public final class Problems {
    /** One open problem. */
    public static final class Open {
        public final UserProblem kind;
        public final String detail;
        public final long since;

        Open(UserProblem kind, String detail, long since) {
            this.kind = kind;
            this.detail = detail;
            this.since = since;
        }
    }

    private final EnumMap<UserProblem, Open> open = new EnumMap<UserProblem, Open>(UserProblem.class);

    /** Opens (or re-words) {@code kind}; returns true when it was not open before. */
    public synchronized boolean raise(UserProblem kind, String detail, long now) {
        Open before = open.get(kind);
        open.put(kind, new Open(kind, detail, before == null ? now : before.since));
        return before == null;
    }

    /** Closes {@code kind}; returns true when it was open. */
    public synchronized boolean clear(UserProblem kind) {
        return open.remove(kind) != null;
    }

    public synchronized boolean has(UserProblem kind) {
        return open.containsKey(kind);
    }

    public synchronized List<Open> all() {
        return new ArrayList<Open>(open.values());
    }

    synchronized JSONObject toJson() throws JSONException {
        JSONObject o = new JSONObject();
        for (Open p : open.values()) {
            o.put(p.kind.name(), new JSONObject().put("detail", p.detail).put("since", p.since));
        }
        return o;
    }

    /** Names this release does not know (written by a newer one) are skipped, not fatal. */
    synchronized void load(JSONObject o) throws JSONException {
        open.clear();
        for (Iterator<String> keys = o.keys(); keys.hasNext(); ) {
            String name = keys.next();
            UserProblem kind;
            try {
                kind = UserProblem.valueOf(name);
            } catch (IllegalArgumentException e) {
                continue;
            }
            JSONObject p = o.getJSONObject(name);
            open.put(kind, new Open(kind, p.getString("detail"), p.getLong("since")));
        }
    }
}
