#!/usr/bin/env bash
# Runs every test of the project: Rust unit + end-to-end tests (real uprelay binary,
# real redis-server, the FCM emulator, Python Web Push senders) and the Android shim's
# JVM tests + APK build. Needs: cargo, python3, redis-server, a JDK and Debian's Android
# tools (see .ci/run, which installs them on a fresh Debian machine).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Python senders/decoders used by the end-to-end tests.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import pywebpush, http_ece, firebase_admin' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

# Android shim: JVM tests, APK build + verification, and the classes the
# cross-language end-to-end test runs.
bash android-shim/build.sh

# The end-to-end tests drive the real binary, so build it first.
cargo build --workspace --bins
cargo test --workspace
