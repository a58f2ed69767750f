package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.Test;

public class WorkerTest {
    private final Worker worker = new Worker();

    @Test
    public void aSlowTaskReleasesTheBroadcastInTimeAndGoesOn() throws Exception {
        CountDownLatch relayAnswers = new CountDownLatch(1);
        CountDownLatch released = new CountDownLatch(1);
        CountDownLatch finished = new CountDownLatch(1);
        AtomicInteger releases = new AtomicInteger();
        long start = System.nanoTime();
        worker.submit(() -> {
            try {
                relayAnswers.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            finished.countDown();
        }, () -> {
            releases.incrementAndGet();
            released.countDown();
        }, 200);
        assertTrue("released while the relay still has not answered", released.await(5, TimeUnit.SECONDS));
        long heldMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue("held " + heldMillis + " ms", heldMillis >= 150);
        assertEquals(1, finished.getCount());
        relayAnswers.countDown();
        assertTrue("the work goes on after the release", finished.await(5, TimeUnit.SECONDS));
        Thread.sleep(50);
        assertEquals("released once", 1, releases.get());
    }

    @Test
    public void aQuickTaskReleasesAsSoonAsItIsDone() throws Exception {
        CountDownLatch released = new CountDownLatch(1);
        AtomicInteger releases = new AtomicInteger();
        long start = System.nanoTime();
        worker.submit(() -> { }, () -> {
            releases.incrementAndGet();
            released.countDown();
        }, 60_000);
        assertTrue(released.await(5, TimeUnit.SECONDS));
        assertTrue(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) < 5_000);
        Thread.sleep(100);
        assertEquals(1, releases.get());
    }

    @Test
    public void tasksRunOneAtATimeInOrderAndATimerRunsBesideABusyWorker() throws Exception {
        StringBuffer order = new StringBuffer();
        CountDownLatch blocker = new CountDownLatch(1);
        CountDownLatch timerRan = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        worker.submit(() -> {
            order.append('a');
            try {
                blocker.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, null, 0);
        worker.submit(() -> {
            order.append('b');
            done.countDown();
        }, null, 0);
        worker.later(timerRan::countDown, 10);
        assertTrue("the timer does not wait for the worker", timerRan.await(5, TimeUnit.SECONDS));
        assertFalse(order.toString().contains("b"));
        blocker.countDown();
        assertTrue(done.await(5, TimeUnit.SECONDS));
        assertEquals("ab", order.toString());
    }
}
