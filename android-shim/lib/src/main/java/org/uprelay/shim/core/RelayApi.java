package org.uprelay.shim.core;

/** The distributor side of the uprelay HTTP API (see DESIGN.md). */
public interface RelayApi {
    /** {@code GET /v1/info}; a relay without it answers {@link RelayInfo#NONE}. */
    RelayInfo info() throws RelayFailure;

    /** {@code POST /v1/devices}; {@code project} only matters on the FCM road. */
    DeviceCredentials createDevice(DeviceTarget target, String project) throws RelayFailure;

    /** {@code PUT /v1/devices/{id}}: a new token, or a move to the other road; endpoints stay. */
    void updateTarget(DeviceCredentials device, DeviceTarget target) throws RelayFailure;

    /**
     * {@code GET /v1/devices/{id}} with the device secret: false when the relay no longer knows
     * the device (it deletes one whose FCM token died), true when it does; other failures throw.
     */
    boolean deviceExists(DeviceCredentials device) throws RelayFailure;

    void deleteDevice(DeviceCredentials device) throws RelayFailure;

    RelayEndpoint register(DeviceCredentials device, String instance, String vapid) throws RelayFailure;

    void unregister(DeviceCredentials device, String instance) throws RelayFailure;
}
