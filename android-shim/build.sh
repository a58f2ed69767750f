#!/usr/bin/env bash
# Builds and checks the android-shim without Gradle or Google's Maven:
#   1. compiles the pure-Java core (and the build's own helper, tools/) and runs their JUnit tests,
#   2. leaves the end-to-end check's classes in build/e2e (see run-e2e.sh),
#   3. fetches android-23.jar and dx.jar from Debian bullseye into build/sdk (once),
#   4. builds the embeddable distributor (lib/: the core and the Android layer) as
#      build/uprelay-distributor.aar (classes.jar + lib/AndroidManifest.xml) and .jar,
#   5. builds, dexes, packages, aligns and signs build/uprelay-shim-debug.apk, the standalone app (app/:
#      a status screen and the link activity over the library), runs apksigner verify,
#   6. checks the compiled manifest with aapt dump xmltree.
# Needs (Debian 12): default-jdk-headless junit4 libhamcrest-java libandroid-json-java aapt zipalign apksigner
# Build-time defaults for the status screen: UPRELAY_RELAY_URL, UPRELAY_FCM_SENDER, UPRELAY_FCM_PROJECT.
# Bullseye comes from the Debian mirrors this machine's apt uses (its sources.list and
# sources.list.d, one-line and deb822), so a local mirror or proxy is honoured;
# UPRELAY_BULLSEYE_MIRROR=<uri> overrides them.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
start=$(date +%s)
out=build
src=app/src/main
lib_src=lib/src/main/java
lib_manifest=lib/AndroidManifest.xml
test_src=app/src/test/java
tools_src=tools/src
tools_test=tools/test
sdk=$out/sdk
android_jar=$sdk/android-23.jar
dx_jar=$sdk/dx.jar
junit_jar=/usr/share/java/junit4.jar
hamcrest_jar=/usr/share/java/hamcrest.jar
json_jar=/usr/share/java/com.android.json.jar

step() { printf '\n== %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

step "checking tools"
for tool in java javac jar keytool aapt zipalign apksigner apt-get apt-config dpkg; do
    command -v "$tool" >/dev/null || die "missing $tool (apt-get install -y default-jdk-headless aapt zipalign apksigner)"
done
for lib in "$junit_jar" "$hamcrest_jar" "$json_jar"; do
    [ -f "$lib" ] || die "missing $lib (apt-get install -y junit4 libhamcrest-java libandroid-json-java)"
done

# The mirrors to fetch bullseye from, one a line: the override, else what apt uses here.
mirrors() {
    if [ -n "${UPRELAY_BULLSEYE_MIRROR:-}" ]; then
        echo "$UPRELAY_BULLSEYE_MIRROR"
        return
    fi
    local SL="" SP=""
    eval "$(apt-config shell SL Dir::Etc::sourcelist/f SP Dir::Etc::sourceparts/d)"
    java -cp "$out/jvm/tools" org.uprelay.shim.build.AptMirrors "$SL" "$SP"
}

# Fetches the two packages from bullseye at mirror $1 into build/sdk; fails without changing it.
fetch_sdk_from() {
    # A private apt tree: bullseye's lists never touch the system's apt state or sources. The
    # system's apt.conf still applies, so a configured proxy is used too.
    local mirror=$1 apt=$out/cache/apt
    rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs" "$apt/root"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bullseye main" >"$apt/sources.list"
    : >"$apt/status"
    local opts=(-o "Dir::Etc::SourceList=$here/$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State=$here/$apt" -o "Dir::State::Lists=$here/$apt/lists" -o "Dir::State::status=$here/$apt/status"
        -o "Dir::Cache=$here/$apt" -o Acquire::Languages=none -o APT::Sandbox::User=root
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
        -o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false)
    # Some apt versions exit 0 for a mirror without bullseye; the download below is what tells.
    apt-get "${opts[@]}" -q update >"$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; return 1; }
    (cd "$apt/debs" && apt-get "${opts[@]}" -q download libandroid-23-java dalvik-exchange) >>"$apt/update.log" 2>&1 \
        || { cat "$apt/update.log" >&2; return 1; }
    for deb in "$apt"/debs/*.deb; do dpkg -x "$deb" "$apt/root"; done
    cp "$apt/root/usr/share/java/com.android.android-23.jar" "$android_jar.tmp"
    cp -L "$apt/root/usr/share/java/com.android.dx.jar" "$dx_jar.tmp"
    mv "$android_jar.tmp" "$android_jar" && mv "$dx_jar.tmp" "$dx_jar"
    ls "$apt"/debs
    rm -rf "$apt/root" "$apt/lists" "$apt/archives" "$apt/debs"
}

step "compiling the core for the JVM"
rm -rf "$out/jvm" "$out/e2e" && mkdir -p "$out/jvm/main" "$out/jvm/test" "$out/jvm/tools" "$out/e2e"
find "$tools_src" -name '*.java' >"$out/jvm/tools-sources.txt"
javac -encoding UTF-8 -Xlint:all -Werror -d "$out/jvm/tools" @"$out/jvm/tools-sources.txt"
find "$lib_src/org/uprelay/shim/core" -name '*.java' >"$out/jvm/core-sources.txt"
javac -encoding UTF-8 --release 8 -Xlint:all,-serial -Werror -cp "$json_jar" -d "$out/jvm/main" @"$out/jvm/core-sources.txt"
find "$test_src" "$tools_test" -name '*.java' >"$out/jvm/test-sources.txt"
javac -encoding UTF-8 -Xlint:all -cp "$out/jvm/main:$out/jvm/tools:$json_jar:$junit_jar:$hamcrest_jar" -d "$out/jvm/test" \
    @"$out/jvm/test-sources.txt"

step "JUnit tests"
tests=$(for dir in "$test_src" "$tools_test"; do (cd "$dir" && find . -name '*Test.java'); done \
    | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
[ -n "$tests" ] || die "no tests found"
set +e
java -cp "$out/jvm/main:$out/jvm/test:$out/jvm/tools:$json_jar:$junit_jar:$hamcrest_jar" org.junit.runner.JUnitCore $tests \
    >"$out/jvm/junit.log" 2>&1
junit_rc=$?
set -e
if [ $junit_rc -ne 0 ]; then
    cat "$out/jvm/junit.log"
fi
summary=$(grep -E '^(OK \(|Tests run:)' "$out/jvm/junit.log" | tail -n 1)
echo "$summary"
run=$(sed -nE 's/^OK \(([0-9]+) tests?\)/\1/p; s/^Tests run: ([0-9]+),.*/\1/p' <<<"$summary")
failed=$(sed -nE 's/^Tests run: [0-9]+,  Failures: ([0-9]+).*/\1/p' <<<"$summary")
failed=${failed:-0}
echo "JUnit: $((run - failed)) passed, $failed failed"
[ $junit_rc -eq 0 ] && [ "${run:-0}" -gt 0 ] || die "JUnit tests failed"

# The end-to-end check runs with `java -cp build/e2e`, so everything it needs sits in one folder.
cp -r "$out/jvm/main/." "$out/jvm/test/." "$out/e2e/"
(cd "$out/e2e" && jar xf "$json_jar" org && rm -rf org/uprelay/shim/core/*Test.class org/uprelay/shim/core/*Test\$*.class \
    org/uprelay/shim/build)

step "Android SDK pieces from Debian bullseye"
mkdir -p "$sdk"
if [ -s "$android_jar" ] && [ -s "$dx_jar" ]; then
    echo "cached in $sdk"
else
    mapfile -t candidates < <(mirrors)
    [ ${#candidates[@]} -gt 0 ] || die "no Debian mirror in this machine's apt sources; set UPRELAY_BULLSEYE_MIRROR"
    fetched=
    for mirror in "${candidates[@]}"; do
        echo "trying bullseye at $mirror"
        if fetch_sdk_from "$mirror"; then
            fetched=$mirror
            break
        fi
    done
    [ -n "$fetched" ] || die "bullseye's libandroid-23-java and dalvik-exchange are at none of: ${candidates[*]}; set UPRELAY_BULLSEYE_MIRROR"
fi

step "building the embeddable distributor"
rm -rf "$out/lib" && mkdir -p "$out/lib/obj" "$out/lib/aar"
find "$lib_src" -name '*.java' >"$out/lib/sources.txt"
# No R: the library carries no resources, so an app includes it with nothing to merge but the manifest.
javac -encoding UTF-8 -source 8 -target 8 -Xlint:all,-options,-serial -Werror -bootclasspath "$android_jar" \
    -d "$out/lib/obj" @"$out/lib/sources.txt"
jar cf "$out/uprelay-distributor.jar" -C "$out/lib/obj" .
cp "$out/uprelay-distributor.jar" "$out/lib/aar/classes.jar"
cp "$lib_manifest" "$out/lib/aar/AndroidManifest.xml"
: >"$out/lib/aar/R.txt"
rm -f "$out/uprelay-distributor.aar"
(cd "$out/lib/aar" && jar cfM ../../uprelay-distributor.aar AndroidManifest.xml classes.jar R.txt)
echo "built $out/uprelay-distributor.aar"

step "building the APK"
apk=$out/uprelay-shim-debug.apk
rm -rf "$out/apk" && mkdir -p "$out/apk/gen" "$out/apk/obj" "$out/apk/overlay/values"
xml_escape() { sed -e 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\\"/g' -e "s/'/\\\\'/g" <<<"$1"; }
cat >"$out/apk/overlay/values/defaults.xml" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<resources>
    <string name="uprelay_relay_url" translatable="false">"$(xml_escape "${UPRELAY_RELAY_URL:-}")"</string>
    <string name="uprelay_fcm_sender" translatable="false">"$(xml_escape "${UPRELAY_FCM_SENDER:-}")"</string>
    <string name="uprelay_fcm_project" translatable="false">"$(xml_escape "${UPRELAY_FCM_PROJECT:-}")"</string>
</resources>
EOF
# The first -S wins, so the generated defaults override the committed empty ones.
aapt package -f -m -J "$out/apk/gen" -M "$src/AndroidManifest.xml" -S "$out/apk/overlay" -S "$src/res" \
    --auto-add-overlay -I "$android_jar" -F "$out/apk/unaligned.apk"
find "$src/java" "$out/apk/gen" -name '*.java' >"$out/apk/sources.txt"
# Android's own class library as boot classpath: a JDK-only API (java.util.Base64, streams, ...)
# fails here instead of crashing on the phone.
javac -encoding UTF-8 -source 8 -target 8 -Xlint:all,-options,-serial -Werror -bootclasspath "$android_jar" \
    -cp "$out/uprelay-distributor.jar" -d "$out/apk/obj" @"$out/apk/sources.txt"
# The standalone app is the thin wrapper: its own classes plus the library's, in one dex.
cp -r "$out/lib/obj/." "$out/apk/obj/"
java -cp "$dx_jar" com.android.dx.command.Main --dex --min-sdk-version=21 --output="$out/apk/classes.dex" "$out/apk/obj"
(cd "$out/apk" && aapt add unaligned.apk classes.dex >/dev/null)
zipalign -f -p 4 "$out/apk/unaligned.apk" "$out/apk/aligned.apk"
keystore=$out/debug.keystore
if [ ! -s "$keystore" ]; then
    keytool -genkeypair -keystore "$keystore" -storepass android -keypass android -alias debug \
        -keyalg RSA -keysize 2048 -validity 10000 -dname "CN=uprelay debug" >/dev/null 2>&1
fi
apksigner sign --ks "$keystore" --ks-pass pass:android --key-pass pass:android --ks-key-alias debug \
    --out "$apk" "$out/apk/aligned.apk"
apksigner verify --verbose "$apk" | tee "$out/apk/verify.log"
grep -q '^Verifies$' "$out/apk/verify.log" || die "apksigner verify failed"

step "checking the manifest"
aapt dump xmltree "$apk" AndroidManifest.xml >"$out/apk/manifest.txt"
# Prints the whole element (children included) of the first <tag> whose android:name is $2.
element() {
    awk -v tag="$1" -v name="\"$2\"" '
        function depth(s) { match(s, /^ */); return RLENGTH }
        inside && depth($0) <= base { if (index(block, name)) { print block; found = 1; exit } inside = 0 }
        !inside && $0 ~ "^ *E: " tag " " { inside = 1; base = depth($0); block = $0; next }
        inside { block = block "\n" $0 }
        END { if (!found && inside && index(block, name)) print block }
    ' "$out/apk/manifest.txt"
}
problems=0
expect() { # expect <what> <text> <needle>...
    local what=$1 text=$2; shift 2
    if [ -z "$text" ]; then echo "MISSING: $what"; problems=$((problems + 1)); return; fi
    for needle in "$@"; do
        grep -qF -- "$needle" <<<"$text" || { echo "MISSING in $what: $needle"; problems=$((problems + 1)); }
    done
}
exported='android:exported(0x01010010)=(type 0x12)0xffffffff'
expect "uses-permission INTERNET" "$(element uses-permission android.permission.INTERNET)" INTERNET
expect "uses-permission c2dm RECEIVE" "$(element uses-permission com.google.android.c2dm.permission.RECEIVE)" RECEIVE
expect "queries for Play services" "$(element package com.google.android.gms)" com.google.android.gms
expect "distributor receiver" "$(element receiver org.uprelay.shim.DistributorReceiver)" "$exported" \
    '"org.unifiedpush.android.distributor.REGISTER"' '"org.unifiedpush.android.distributor.UNREGISTER"' \
    '"org.unifiedpush.android.distributor.MESSAGE_ACK"' '"org.unifiedpush.android.distributor.feature.BYTES_MESSAGE"'
expect "GMS receiver" "$(element receiver org.uprelay.shim.GmsReceiver)" "$exported" \
    'android:permission(0x01010006)="com.google.android.c2dm.permission.SEND"' \
    '"com.google.android.c2dm.intent.RECEIVE"' '"com.google.android.c2dm.intent.REGISTRATION"'
expect "link activity" "$(element activity org.uprelay.shim.LinkActivity)" "$exported" \
    '"android.intent.action.VIEW"' '"android.intent.category.DEFAULT"' \
    'android:scheme(0x01010027)="unifiedpush"' 'android:host(0x01010028)="link"'
expect "status activity" "$(element activity org.uprelay.shim.StatusActivity)" '"android.intent.category.LAUNCHER"'
# A component whose class did not make it into the APK would crash on first use.
for component in $(sed -nE 's/.*android:name\(0x01010003\)="(org\.uprelay\.shim\.[A-Za-z]+)".*/\1/p' "$out/apk/manifest.txt"); do
    [ -f "$out/apk/obj/${component//.//}.class" ] || { echo "MISSING class for manifest component $component"; problems=$((problems + 1)); }
done
[ $problems -eq 0 ] || die "manifest check failed ($problems problems); see $out/apk/manifest.txt"
echo "manifest declares the receivers, permissions and link activity the spec requires"

printf '\nbuild.sh: OK in %ss: %s\n' "$(( $(date +%s) - start ))" "$apk"
