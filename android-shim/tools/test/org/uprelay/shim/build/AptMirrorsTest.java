package org.uprelay.shim.build;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class AptMirrorsTest {
    @Rule
    public final TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void oneLineSourcesGiveTheMainArchiveWithOrWithoutOptions() {
        String text = "# comment line\n"
                + "deb http://mirror.example/debian bookworm main contrib\n"
                + "deb-src http://src.example/debian bookworm main\n"
                + "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://opts.example/debian/ bookworm-updates main\n"
                + "deb [ arch=amd64 ] http://spaced.example/debian bookworm main # trailing comment\n"
                + "deb http://security.example/debian-security bookworm-security main\n"
                + "deb http://old-security.example/debian-security bullseye/updates main\n"
                + "deb http://contrib-only.example/debian bookworm contrib\n"
                + "deb https://vendor.example/apt cloud-sdk-bookworm main\n"
                + "deb cdrom:[Debian 12]/ bookworm main\n"
                + "#deb http://commented.example/debian bookworm main\n";
        assertEquals(List.of("http://mirror.example/debian", "http://opts.example/debian", "http://spaced.example/debian"),
                AptMirrors.fromOneLine(text));
    }

    @Test
    public void deb822StanzasGiveTheirUrisWhenEnabledAndDebianMain() {
        String text = "Types: deb deb-src\n"
                + "# http://snapshot.example/archive/debian/20250520T000000Z\n"
                + "URIs: http://mirror.example/debian\n"
                + "  http://second.example/debian/\n"
                + "Suites: bookworm bookworm-updates\n"
                + "Components: main\n"
                + "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                + "\n"
                + "Types: deb\n"
                + "URIs: http://security.example/debian-security\n"
                + "Suites: bookworm-security\n"
                + "Components: main\n"
                + "\n"
                + "types: deb\n"
                + "uris: http://disabled.example/debian\n"
                + "suites: bookworm\n"
                + "components: main\n"
                + "enabled: no\n"
                + "\n"
                + "Types: deb\n"
                + "URIs: https://vendor.example/node_20.x\n"
                + "Suites: nodistro\n"
                + "Components: main\n"
                + "\n"
                + "Types: deb-src\n"
                + "URIs: http://sources-only.example/debian\n"
                + "Suites: bookworm\n"
                + "Components: main\n";
        assertEquals(List.of("http://mirror.example/debian", "http://second.example/debian"), AptMirrors.fromDeb822(text));
    }

    @Test
    public void filesAreReadInAptsOrderAndOtherNamesIgnored() throws IOException {
        Path list = tmp.getRoot().toPath().resolve("sources.list");
        Path dir = tmp.newFolder("sources.list.d").toPath();
        write(list, "deb http://first.example/debian bookworm main\n");
        write(dir.resolve("b.sources"), "Types: deb\nURIs: http://third.example/debian\nSuites: bookworm\nComponents: main\n");
        write(dir.resolve("a.list"), "deb http://second.example/debian bookworm main\n"
                + "deb http://first.example/debian/ bookworm-updates main\n");
        write(dir.resolve("c.sources.disabled-by-admin"),
                "Types: deb\nURIs: http://ignored.example/debian\nSuites: bookworm\nComponents: main\n");
        write(dir.resolve("d.list.save"), "deb http://ignored2.example/debian bookworm main\n");
        assertEquals(List.of("http://first.example/debian", "http://second.example/debian", "http://third.example/debian"),
                AptMirrors.find(list, dir));
    }

    @Test
    public void noSourcesGiveNoMirror() throws IOException {
        Path root = tmp.getRoot().toPath();
        assertTrue(AptMirrors.find(root.resolve("missing.list"), root.resolve("missing.d")).isEmpty());
    }

    private static void write(Path p, String text) throws IOException {
        Files.write(p, text.getBytes(StandardCharsets.UTF_8));
    }
}
