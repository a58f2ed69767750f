package org.uprelay.shim.core;

import java.util.ArrayList;
import java.util.LinkedList;
import java.util.List;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** The last few things the distributor did, newest first, for the status screen. */
public final class ActivityLog {
    public static final class Entry {
        public final long timeMillis;
        public final String text;

        public Entry(long timeMillis, String text) {
            this.timeMillis = timeMillis;
            this.text = text;
        }
    }

    private final Clock clock;
    private final int capacity;
    private final LinkedList<Entry> entries = new LinkedList<Entry>();

    public ActivityLog(Clock clock, int capacity) {
        this.clock = clock;
        this.capacity = capacity;
    }

    public synchronized void add(String text) {
        entries.addFirst(new Entry(clock.nowMillis(), text));
        while (entries.size() > capacity) {
            entries.removeLast();
        }
    }

    public synchronized List<Entry> entries() {
        return new ArrayList<Entry>(entries);
    }

    public synchronized JSONArray toJson() throws JSONException {
        JSONArray list = new JSONArray();
        for (Entry e : entries) {
            list.put(new JSONObject().put("t", e.timeMillis).put("text", e.text));
        }
        return list;
    }

    public synchronized void load(JSONArray list) throws JSONException {
        entries.clear();
        for (int i = 0; i < list.length() && i < capacity; i++) {
            JSONObject o = list.getJSONObject(i);
            entries.addLast(new Entry(o.getLong("t"), o.getString("text")));
        }
    }
}
