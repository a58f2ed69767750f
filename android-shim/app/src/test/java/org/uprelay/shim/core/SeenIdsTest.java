package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class SeenIdsTest {
    @Test
    public void forgetsTheLeastRecentlySeenBeyondCapacity() {
        SeenIds seen = new SeenIds(2);
        seen.add("a");
        seen.add("b");
        assertTrue(seen.contains("a"));
        seen.add("c");
        assertEquals(2, seen.size());
        assertTrue("a was looked up last, so b goes", seen.contains("a"));
        assertFalse(seen.contains("b"));
        assertTrue(seen.contains("c"));
    }
}
