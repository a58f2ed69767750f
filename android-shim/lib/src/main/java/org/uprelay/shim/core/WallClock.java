package org.uprelay.shim.core;

public final class WallClock implements Clock {
    @Override
    public long nowMillis() {
        return System.currentTimeMillis();
    }
}
