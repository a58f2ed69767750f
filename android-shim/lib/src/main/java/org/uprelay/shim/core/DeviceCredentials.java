package org.uprelay.shim.core;

/** What POST /v1/devices returned: the device's id and the bearer secret for every later call. */
public final class DeviceCredentials {
    public final String deviceId;
    public final String secret;

    public DeviceCredentials(String deviceId, String secret) {
        this.deviceId = deviceId;
        this.secret = secret;
    }
}
