package org.uprelay.shim.build;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Finds the Debian mirrors this machine's apt already uses, so that build.sh fetches the
 * bullseye pieces through the same mirror or proxy instead of a host written in the repository.
 * Reads the one-line format (sources.list, *.list) and deb822 (*.sources), in apt's order, and
 * keeps the URIs of enabled {@code deb} sources of a Debian release's main archive (not the
 * security archive, whose paths differ, nor third-party repositories).
 *
 * <p>usage: {@code AptMirrors <sources.list> <sources.list.d>}; prints one URI per line.
 */
public final class AptMirrors {
    private static final Set<String> RELEASES = new HashSet<>(Arrays.asList(
            "jessie", "stretch", "buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
            "oldoldstable", "oldstable", "stable", "testing", "unstable", "experimental"));
    private static final List<String> SUITE_SUFFIXES = Arrays.asList("-updates", "-backports", "-proposed-updates",
            "-backports-sloppy");

    private AptMirrors() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: AptMirrors <sources.list> <sources.list.d>");
            System.exit(2);
        }
        for (String uri : find(Paths.get(args[0]), Paths.get(args[1]))) {
            System.out.println(uri);
        }
    }

    /** The mirror URIs in the order apt reads its sources: the main file, then the directory by name. */
    public static List<String> find(Path sourcesList, Path sourcesDir) throws IOException {
        Set<String> uris = new LinkedHashSet<>();
        if (Files.isRegularFile(sourcesList)) {
            uris.addAll(fromOneLine(read(sourcesList)));
        }
        if (Files.isDirectory(sourcesDir)) {
            List<Path> parts;
            try (Stream<Path> s = Files.list(sourcesDir)) {
                parts = s.sorted().collect(Collectors.toList());
            }
            for (Path p : parts) {
                String name = p.getFileName().toString();
                // apt ignores every other name (.disabled, .save, editor backups, ...).
                if (name.endsWith(".list")) {
                    uris.addAll(fromOneLine(read(p)));
                } else if (name.endsWith(".sources")) {
                    uris.addAll(fromDeb822(read(p)));
                }
            }
        }
        return new ArrayList<>(uris);
    }

    /** {@code deb [options] uri suite component...}, one source a line. */
    public static List<String> fromOneLine(String text) {
        List<String> out = new ArrayList<>();
        for (String raw : text.split("\n")) {
            int hash = raw.indexOf('#');
            String line = (hash >= 0 ? raw.substring(0, hash) : raw).trim();
            if (line.isEmpty()) {
                continue;
            }
            List<String> words = new ArrayList<>(Arrays.asList(line.split("\\s+")));
            if (!words.get(0).equals("deb")) {
                continue;
            }
            words.remove(0);
            if (!words.isEmpty() && words.get(0).startsWith("[")) {
                // Options may contain spaces: drop words up to the one that closes the bracket.
                while (!words.isEmpty() && !words.get(0).endsWith("]")) {
                    words.remove(0);
                }
                if (!words.isEmpty()) {
                    words.remove(0);
                }
            }
            if (words.size() >= 3 && isMainArchive(words.get(1), words.subList(2, words.size()))
                    && isFetchable(words.get(0))) {
                out.add(normalise(words.get(0)));
            }
        }
        return out;
    }

    /** Stanzas of {@code Field: value} lines separated by blank lines; values may continue on indented lines. */
    public static List<String> fromDeb822(String text) {
        List<String> out = new ArrayList<>();
        for (Map<String, String> stanza : stanzas(text)) {
            List<String> types = words(stanza.get("types"));
            String enabled = stanza.get("enabled");
            if (!types.contains("deb") || enabled != null && enabled.trim().equalsIgnoreCase("no")) {
                continue;
            }
            List<String> components = words(stanza.get("components"));
            boolean anySuite = false;
            for (String suite : words(stanza.get("suites"))) {
                anySuite |= isMainArchive(suite, components);
            }
            if (anySuite) {
                for (String uri : words(stanza.get("uris"))) {
                    if (isFetchable(uri)) {
                        out.add(normalise(uri));
                    }
                }
            }
        }
        return out;
    }

    private static List<Map<String, String>> stanzas(String text) {
        List<Map<String, String>> out = new ArrayList<>();
        Map<String, String> current = new HashMap<>();
        String lastKey = null;
        for (String line : (text + "\n").split("\n", -1)) {
            if (line.trim().isEmpty()) {
                if (!current.isEmpty()) {
                    out.add(current);
                }
                current = new HashMap<>();
                lastKey = null;
            } else if (line.startsWith("#")) {
                continue;
            } else if ((line.startsWith(" ") || line.startsWith("\t")) && lastKey != null) {
                current.put(lastKey, current.get(lastKey) + " " + line.trim());
            } else {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    lastKey = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
                    current.put(lastKey, line.substring(colon + 1).trim());
                }
            }
        }
        return out;
    }

    private static List<String> words(String value) {
        return value == null || value.trim().isEmpty() ? new ArrayList<>()
                : new ArrayList<>(Arrays.asList(value.trim().split("\\s+")));
    }

    /** A Debian release's own archive (with its updates or backports suites), main component. */
    static boolean isMainArchive(String suite, List<String> components) {
        String base = suite;
        for (String suffix : SUITE_SUFFIXES) {
            if (base.endsWith(suffix)) {
                base = base.substring(0, base.length() - suffix.length());
                break;
            }
        }
        return RELEASES.contains(base) && components.contains("main");
    }

    // A CD-ROM cannot hold another release.
    private static boolean isFetchable(String uri) {
        return !uri.startsWith("cdrom:");
    }

    private static String normalise(String uri) {
        String u = uri;
        while (u.endsWith("/")) {
            u = u.substring(0, u.length() - 1);
        }
        return u;
    }

    private static String read(Path p) throws IOException {
        return new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    }
}
