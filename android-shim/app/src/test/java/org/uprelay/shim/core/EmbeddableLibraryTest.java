package org.uprelay.shim.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import javax.xml.parsers.DocumentBuilderFactory;

import org.junit.Test;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The embeddable distributor (lib/): its manifest declares what an app needs to become its own
 * distributor, its code needs no resources of the app, and the standalone app declares the same
 * components over it.
 */
public class EmbeddableLibraryTest {
    private static final String ANDROID = "http://schemas.android.com/apk/res/android";

    private static Map<String, Element> receivers(String manifest) throws Exception {
        NodeList list = DocumentBuilderFactory.newDefaultNSInstance().newDocumentBuilder().parse(new File(manifest))
                .getElementsByTagName("receiver");
        Map<String, Element> out = new HashMap<>();
        for (int i = 0; i < list.getLength(); i++) {
            Element e = (Element) list.item(i);
            out.put(e.getAttributeNS(ANDROID, "name"), e);
        }
        return out;
    }

    private static List<String> values(Element e, String tag) {
        NodeList list = e.getElementsByTagName(tag);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < list.getLength(); i++) {
            out.add(((Element) list.item(i)).getAttributeNS(ANDROID, "name"));
        }
        return out;
    }

    @Test
    public void theLibraryManifestMakesTheAppItsOwnDistributor() throws Exception {
        Map<String, Element> lib = receivers("lib/AndroidManifest.xml");
        Element distributor = lib.get("org.uprelay.shim.DistributorReceiver");
        assertEquals("only the app's own connector may register", "false",
                distributor.getAttributeNS(ANDROID, "exported"));
        assertTrue(values(distributor, "action").containsAll(List.of("org.unifiedpush.android.distributor.REGISTER",
                "org.unifiedpush.android.distributor.UNREGISTER", "org.unifiedpush.android.distributor.MESSAGE_ACK")));
        Element gms = lib.get("org.uprelay.shim.GmsReceiver");
        assertEquals("true", gms.getAttributeNS(ANDROID, "exported"));
        assertEquals("com.google.android.c2dm.permission.SEND", gms.getAttributeNS(ANDROID, "permission"));
        assertEquals("Play services addresses the app's own package", List.of("${applicationId}"),
                values(gms, "category"));
        assertTrue(lib.containsKey("org.uprelay.shim.RetryReceiver"));
        for (String name : lib.keySet()) {
            Path source = Path.of("lib/src/main/java", name.replace('.', '/') + ".java");
            assertTrue(source + " exists", Files.exists(source));
        }
    }

    @Test
    public void theStandaloneAppDeclaresEveryLibraryComponentExportedForOtherApps() throws Exception {
        Map<String, Element> lib = receivers("lib/AndroidManifest.xml");
        Map<String, Element> app = receivers("app/src/main/AndroidManifest.xml");
        assertTrue(app.keySet().containsAll(lib.keySet()));
        for (Map.Entry<String, Element> e : lib.entrySet()) {
            List<String> actions = values(app.get(e.getKey()), "action");
            assertTrue(e.getKey(), actions.containsAll(values(e.getValue(), "action")));
        }
        assertEquals("true", app.get("org.uprelay.shim.DistributorReceiver").getAttributeNS(ANDROID, "exported"));
    }

    @Test
    public void theLibraryUsesNoResourceOfTheAppAndTheAppOnlyItsScreens() throws IOException {
        List<Path> lib;
        try (Stream<Path> s = Files.walk(Path.of("lib/src/main/java"))) {
            lib = s.filter(p -> p.toString().endsWith(".java")).collect(Collectors.toList());
        }
        for (Path p : lib) {
            String text = new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
            assertFalse(p + " uses the app's R", text.matches("(?s).*(?<![\\w.])R\\.(string|layout|id|drawable)\\..*"));
        }
        List<String> app;
        try (Stream<Path> s = Files.walk(Path.of("app/src/main/java"))) {
            app = s.filter(p -> p.toString().endsWith(".java")).map(p -> p.getFileName().toString()).sorted()
                    .collect(Collectors.toList());
        }
        assertEquals("the standalone app is a thin wrapper", List.of("LinkActivity.java", "StatusActivity.java"), app);
    }
}
