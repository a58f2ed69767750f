package org.uprelay.shim.core;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** An in-memory relay that follows the contract, plus queued failures to inject. */
final class FakeRelay implements RelayApi {
    final Map<String, String> tokenOfDevice = new HashMap<>();
    final Map<String, Map<String, String>> endpoints = new HashMap<>();
    final List<String> calls = new ArrayList<>();
    /** Every target sent with POST or PUT, in order. */
    final List<DeviceTarget> targets = new ArrayList<>();
    /** What GET /v1/info answers; counted in {@link #infoCalls}, not in {@link #calls}. */
    RelayInfo info = new RelayInfo("proj", Map.of("proj", SENDER), false);
    int infoCalls;
    /** GET /v1/devices/{id} calls, kept out of {@link #calls} so call lists stay about changes. */
    int deviceChecks;
    /** Runs inside the next register call, before it answers: what happens while the relay is slow. */
    Runnable duringNextRegister;
    static final String SENDER = "123456789012";
    private final Map<String, Deque<RelayFailure>> failures = new HashMap<>();
    private int nextDevice = 1;
    private int nextEndpoint = 1;

    /** The next call of {@code method} fails; a NETWORK kind stands for a refused connection. */
    void failNext(String method, RelayFailure.Kind kind, int status, String code) {
        failures.computeIfAbsent(method, m -> new ArrayDeque<>()).add(kind == RelayFailure.Kind.NETWORK
                ? RelayFailure.network("refused") : RelayFailure.fromStatus(status, code, -1, "injected"));
    }

    /** What the relay does when FCM reports the token dead: the device disappears. */
    void forgetDevice(String deviceId) {
        tokenOfDevice.remove(deviceId);
        endpoints.remove(deviceId);
    }

    private void maybeFail(String method) throws RelayFailure {
        Deque<RelayFailure> queued = failures.get(method);
        RelayFailure f = queued == null ? null : queued.poll();
        if (f != null) {
            throw f;
        }
    }

    private Map<String, String> device(DeviceCredentials d) throws RelayFailure {
        Map<String, String> regs = endpoints.get(d.deviceId);
        if (regs == null) {
            throw RelayFailure.fromStatus(404, "unknown_device", -1, "no such device");
        }
        return regs;
    }

    @Override
    public RelayInfo info() throws RelayFailure {
        infoCalls++;
        maybeFail("info");
        return info;
    }

    @Override
    public DeviceCredentials createDevice(DeviceTarget target, String project) throws RelayFailure {
        String fcmToken = target.token;
        calls.add("createDevice " + fcmToken);
        targets.add(target);
        maybeFail("createDevice");
        String id = "dev-" + nextDevice++;
        tokenOfDevice.put(id, fcmToken);
        endpoints.put(id, new HashMap<>());
        return new DeviceCredentials(id, "secret-" + id);
    }

    @Override
    public void updateTarget(DeviceCredentials d, DeviceTarget target) throws RelayFailure {
        String fcmToken = target.token;
        calls.add("updateToken " + d.deviceId + " " + fcmToken);
        targets.add(target);
        maybeFail("updateToken");
        device(d);
        tokenOfDevice.put(d.deviceId, fcmToken);
    }

    @Override
    public boolean deviceExists(DeviceCredentials d) throws RelayFailure {
        deviceChecks++;
        maybeFail("deviceExists");
        return endpoints.containsKey(d.deviceId);
    }

    @Override
    public void deleteDevice(DeviceCredentials d) throws RelayFailure {
        calls.add("deleteDevice " + d.deviceId);
        maybeFail("deleteDevice");
        device(d);
        forgetDevice(d.deviceId);
    }

    @Override
    public RelayEndpoint register(DeviceCredentials d, String instance, String vapid) throws RelayFailure {
        calls.add("register " + d.deviceId + " " + instance);
        maybeFail("register");
        Runnable during = duringNextRegister;
        duringNextRegister = null;
        if (during != null) {
            during.run();
        }
        Map<String, String> regs = device(d);
        String key = instance + "|" + vapid;
        String existing = regs.get(key);
        if (existing != null) {
            return new RelayEndpoint(existing, false);
        }
        String url = "https://relay.example/up/ep" + nextEndpoint++;
        regs.put(key, url);
        return new RelayEndpoint(url, true);
    }

    @Override
    public void unregister(DeviceCredentials d, String instance) throws RelayFailure {
        calls.add("unregister " + d.deviceId + " " + instance);
        maybeFail("unregister");
        device(d).keySet().removeIf(k -> k.startsWith(instance + "|"));
    }

    int registrationsOf(String deviceId) {
        Map<String, String> regs = endpoints.get(deviceId);
        return regs == null ? 0 : regs.size();
    }
}
