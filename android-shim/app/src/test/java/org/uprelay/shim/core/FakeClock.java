package org.uprelay.shim.core;

final class FakeClock implements Clock {
    long now = 1_000_000;

    @Override
    public long nowMillis() {
        return now;
    }
}
