package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;

import java.util.List;

import org.junit.Test;

public class ActivityLogTest {
    @Test
    public void keepsTheNewestEntriesFirstAndSurvivesJson() throws Exception {
        FakeClock clock = new FakeClock();
        ActivityLog log = new ActivityLog(clock, 2);
        log.add("one");
        clock.now++;
        log.add("two");
        clock.now++;
        log.add("three");
        List<ActivityLog.Entry> entries = log.entries();
        assertEquals(2, entries.size());
        assertEquals("three", entries.get(0).text);
        assertEquals("two", entries.get(1).text);

        ActivityLog copy = new ActivityLog(clock, 2);
        copy.load(log.toJson());
        assertEquals("three", copy.entries().get(0).text);
        assertEquals(clock.now, copy.entries().get(0).timeMillis);
    }
}
