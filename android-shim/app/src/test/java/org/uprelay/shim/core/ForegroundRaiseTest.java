package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import org.junit.Test;

public class ForegroundRaiseTest {
    /** Everything that happened, in order: bind, unbind and send lines. */
    private final List<String> events = new ArrayList<>();
    private final List<String> withoutService = new ArrayList<>();
    private long now;

    private static final class Scheduled {
        final Runnable task;
        final long at;
        boolean cancelled;

        Scheduled(Runnable task, long at) {
            this.task = task;
            this.at = at;
        }
    }

    private final List<Scheduled> timers = new ArrayList<>();

    private final ForegroundRaise raise = new ForegroundRaise(new ForegroundRaise.Binder() {
        @Override
        public boolean bind(String packageName) {
            if (withoutService.contains(packageName)) {
                return false;
            }
            events.add("bind " + packageName);
            return true;
        }

        @Override
        public void unbind(String packageName) {
            events.add("unbind " + packageName);
        }
    }, (task, delayMillis) -> {
        Scheduled s = new Scheduled(task, now + delayMillis);
        timers.add(s);
        return () -> s.cancelled = true;
    });

    /** Moves the clock, running due timers in time order, like the main thread's Handler. */
    private void advance(long millis) {
        long until = now + millis;
        while (true) {
            Scheduled next = null;
            for (Scheduled s : timers) {
                if (!s.cancelled && s.at <= until && (next == null || s.at < next.at)) {
                    next = s;
                }
            }
            if (next == null) {
                break;
            }
            timers.remove(next);
            now = next.at;
            next.task.run();
        }
        now = until;
        for (Iterator<Scheduled> it = timers.iterator(); it.hasNext(); ) {
            if (it.next().cancelled) {
                it.remove();
            }
        }
    }

    private Runnable send(String what) {
        return () -> events.add("send " + what);
    }

    @Test
    public void theMessageWaitsForTheBindingAndTheBindingIsReleasedFiveSecondsLater() {
        raise.deliver("org.app", send("m1"));
        assertEquals("nothing is sent before the app is raised", List.of("bind org.app"), events);
        advance(300);
        raise.connected("org.app");
        assertEquals(List.of("bind org.app", "send m1"), events);
        advance(ForegroundRaise.HOLD_MILLIS - 301);
        assertEquals(List.of("org.app"), raise.bound());
        advance(1);
        assertEquals(List.of("bind org.app", "send m1", "unbind org.app"), events);
        assertTrue(raise.bound().isEmpty());
    }

    @Test
    public void severalMessagesShareOneBindingWhichLastsFiveSecondsAfterTheLast() {
        raise.deliver("org.app", send("m1"));
        raise.deliver("org.app", send("m2"));
        raise.connected("org.app");
        advance(4000);
        raise.deliver("org.app", send("m3"));
        advance(4999);
        assertEquals(List.of("bind org.app", "send m1", "send m2", "send m3"), events);
        advance(1);
        assertEquals(List.of("bind org.app", "send m1", "send m2", "send m3", "unbind org.app"), events);
        raise.deliver("org.app", send("m4"));
        assertEquals("a later message binds afresh", "bind org.app", events.get(5));
    }

    @Test
    public void aSlowConnectionDoesNotHoldTheMessageBackForLong() {
        raise.deliver("org.app", send("m1"));
        advance(ForegroundRaise.CONNECT_WAIT_MILLIS - 1);
        assertEquals(List.of("bind org.app"), events);
        advance(1);
        assertEquals(List.of("bind org.app", "send m1"), events);
        raise.deliver("org.app", send("m2"));
        assertEquals("after giving up waiting, messages go at once", "send m2", events.get(2));
        raise.connected("org.app");
        assertEquals("nothing is sent twice", 3, events.size());
    }

    @Test
    public void anAppWithoutTheServiceGetsItsMessageAtOnce() {
        withoutService.add("org.old");
        raise.deliver("org.old", send("m1"));
        assertEquals(List.of("send m1"), events);
        assertTrue(raise.bound().isEmpty());
    }

    @Test
    public void aLostBindingSendsWhatWaitsAndLetsGo() {
        raise.deliver("org.app", send("m1"));
        raise.lost("org.app");
        assertEquals(List.of("bind org.app", "send m1", "unbind org.app"), events);
        advance(10_000);
        assertEquals("no timer acts on a released binding", 3, events.size());
    }

    @Test
    public void eachAppHasItsOwnBinding() {
        raise.deliver("org.a", send("a1"));
        raise.deliver("org.b", send("b1"));
        raise.connected("org.b");
        assertEquals(List.of("bind org.a", "bind org.b", "send b1"), events);
        raise.connected("org.a");
        advance(ForegroundRaise.HOLD_MILLIS);
        assertEquals(List.of("bind org.a", "bind org.b", "send b1", "send a1", "unbind org.a", "unbind org.b"), events);
    }

    @Test
    public void theBroadcastIsLetGoOnlyOnceEveryMessageWentOutThroughItsBinding() {
        raise.deliver("org.app", send("m1"));
        raise.deliver("org.other", send("m2"));
        raise.whenSent(() -> events.add("finish broadcast"));
        assertEquals(List.of("bind org.app", "bind org.other"), events);
        raise.connected("org.app");
        assertEquals("org.other still waits", List.of("bind org.app", "bind org.other", "send m1"), events);
        raise.connected("org.other");
        assertEquals(List.of("bind org.app", "bind org.other", "send m1", "send m2", "finish broadcast"), events);
    }

    @Test
    public void aSlowBindingLetsTheBroadcastGoAfterTheConnectWait() {
        raise.deliver("org.app", send("m1"));
        raise.whenSent(() -> events.add("finish broadcast"));
        advance(ForegroundRaise.CONNECT_WAIT_MILLIS);
        assertEquals(List.of("bind org.app", "send m1", "finish broadcast"), events);
    }

    @Test
    public void withNothingWaitingTheBroadcastIsLetGoAtOnce() {
        withoutService.add("org.app");
        raise.deliver("org.app", send("m1"));
        raise.whenSent(() -> events.add("finish broadcast"));
        assertEquals(List.of("send m1", "finish broadcast"), events);
    }
}
