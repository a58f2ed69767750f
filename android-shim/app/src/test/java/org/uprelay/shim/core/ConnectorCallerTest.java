package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import javax.xml.parsers.DocumentBuilderFactory;

import org.junit.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/** Who sent a REGISTER, as connectors 3.x (AND_3) and 2.x (AND_2) send it. */
public class ConnectorCallerTest {
    private static final String ANDROID = "http://schemas.android.com/apk/res/android";

    /** A sender as Android describes it; the fields are what a connector's intent and the phone give. */
    private static final class Sender implements ConnectorCaller.Facts {
        int sdk = 33;
        String shared;
        String pi;
        String application;
        Map<String, Integer> installed = Map.of("org.tusky", 33, "org.element", 34, "org.modern", 34);

        @Override
        public int sdkInt() {
            return sdk;
        }

        @Override
        public String sharedIdentity() {
            return shared;
        }

        @Override
        public String pendingIntentCreator() {
            return pi;
        }

        @Override
        public int targetSdkOf(String packageName) {
            return installed.getOrDefault(packageName, Integer.MAX_VALUE);
        }

        @Override
        public String applicationExtra() {
            return application;
        }

        @Override
        public boolean isInstalled(String packageName) {
            return installed.containsKey(packageName);
        }
    }

    @Test
    public void aConnector2xNamingItselfIsAnAnd2Caller() {
        // android-connector 2.4.0's REGISTER: token, application, features; no pi, no shared identity.
        for (int sdk : new int[] {29, 33, 34, 35}) {
            Sender s = new Sender();
            s.sdk = sdk;
            s.application = "org.element";
            ConnectorCaller c = ConnectorCaller.identify(s);
            assertEquals("Android " + sdk, "org.element", c.packageName);
            assertEquals(ConnectorCaller.Protocol.AND_2, c.protocol);
        }
    }

    @Test
    public void and3IdentityWinsOverTheApplicationExtra() {
        Sender s = new Sender();
        s.sdk = 34;
        s.shared = "org.modern";
        s.application = "org.tusky";
        assertEquals("org.modern", ConnectorCaller.identify(s).packageName);
        assertEquals(ConnectorCaller.Protocol.AND_3, ConnectorCaller.identify(s).protocol);
        s.shared = null;
        s.sdk = 33;
        s.pi = "org.tusky";
        s.application = "org.element";
        assertEquals("org.tusky", ConnectorCaller.identify(s).packageName);
    }

    @Test
    public void refusedAnd3CallersDoNotFallBackToTheApplicationExtra() {
        Sender s = new Sender();
        s.sdk = 34;
        s.pi = "org.modern";
        s.application = "org.modern";
        assertNull("a pi from an app targeting 34 that did not share its identity", ConnectorCaller.identify(s));
    }

    @Test
    public void anApplicationExtraNamingNoInstalledAppIsIgnored() {
        Sender s = new Sender();
        s.application = "org.not.installed";
        assertNull(ConnectorCaller.identify(s));
        s.application = "";
        assertNull(ConnectorCaller.identify(s));
        s.application = null;
        assertNull(ConnectorCaller.identify(s));
    }

    @Test
    public void aConnector2xRegistersAndGetsItsMessagesAsBytes() {
        Sender s = new Sender();
        s.application = "org.tusky";
        ConnectorCaller caller = ConnectorCaller.identify(s);
        FakeRelay relay = new FakeRelay();
        RecordingApps apps = new RecordingApps();
        FakeClock clock = new FakeClock();
        Distributor d = new Distributor(new DistributorState(new RegistrationBook(new SequentialIds()),
                new ActivityLog(clock, 20)), new InboundDecoder(new SplitReassembler(clock, 60_000, 1 << 20),
                new SeenIds(10)), relay, "proj", "", clock, apps, new RecordingTokenSource(), json -> { });
        d.register(caller.packageName, "tusky-token", null, null);
        d.onGmsRegistration(Map.of("registration_id", "|ID|1|:fcm-1"));
        String instance = d.state().book.get("tusky-token").instance;
        d.onGmsReceive(Wire.whole(instance, "m-1", new byte[] {1, 2}));
        assertEquals(List.of("NEW_ENDPOINT org.tusky tusky-token https://relay.example/up/ep1",
                "MESSAGE org.tusky tusky-token m-1"), apps.drain());
    }

    @Test
    public void theManifestLetsConnector2xFindTheDistributor() throws Exception {
        Document manifest = DocumentBuilderFactory.newDefaultNSInstance().newDocumentBuilder()
                .parse(new File("app/src/main/AndroidManifest.xml"));
        NodeList receivers = manifest.getElementsByTagName("receiver");
        List<String> actions = new ArrayList<>();
        for (int i = 0; i < receivers.getLength(); i++) {
            Element r = (Element) receivers.item(i);
            if (!r.getAttributeNS(ANDROID, "name").endsWith(".DistributorReceiver")) {
                continue;
            }
            assertEquals("true", r.getAttributeNS(ANDROID, "exported"));
            NodeList as = r.getElementsByTagName("action");
            for (int j = 0; j < as.getLength(); j++) {
                actions.add(((Element) as.item(j)).getAttributeNS(ANDROID, "name"));
            }
        }
        String p = "org.unifiedpush.android.distributor.";
        assertTrue(actions.toString(), actions.containsAll(Set.of(p + "REGISTER", p + "UNREGISTER", p + "MESSAGE_ACK",
                p + "feature.BYTES_MESSAGE")));
    }
}
