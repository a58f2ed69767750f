package org.uprelay.shim;

import android.os.SystemClock;

import org.uprelay.shim.core.Clock;

/** Monotonic time, so a user changing the wall clock cannot expire or keep split halves. */
final class ElapsedClock implements Clock {
    @Override
    public long nowMillis() {
        return SystemClock.elapsedRealtime();
    }
}
