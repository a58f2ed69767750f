package org.uprelay.shim.core;

/** The distributor side of the uprelay HTTP API (see DESIGN.md). */
public interface RelayApi {
    DeviceCredentials createDevice(String fcmToken, String project) throws RelayFailure;

    void updateToken(DeviceCredentials device, String fcmToken) throws RelayFailure;

    void deleteDevice(DeviceCredentials device) throws RelayFailure;

    RelayEndpoint register(DeviceCredentials device, String instance, String vapid) throws RelayFailure;

    void unregister(DeviceCredentials device, String instance) throws RelayFailure;
}
