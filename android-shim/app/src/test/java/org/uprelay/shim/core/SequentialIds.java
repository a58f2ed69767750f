package org.uprelay.shim.core;

final class SequentialIds implements IdSource {
    private int next = 1;

    @Override
    public String newId() {
        return "instance-" + next++;
    }
}
