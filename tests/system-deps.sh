#!/usr/bin/env bash
# What the tests need from the system, installed when missing: on Debian 12 (the machine
# the README's commands are written for) with apt-get, through sudo when not root;
# elsewhere the missing Debian packages are named and nothing is run. tests/run.sh calls
# this first, so the README's test command is all a fresh machine with Rust needs.
set -euo pipefail

command -v cargo >/dev/null || { echo "tests: cargo (a Rust toolchain) is required: https://rustup.rs" >&2; exit 1; }

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v javac >/dev/null || need+=(default-jdk-headless)
[ -f /usr/share/java/junit4.jar ] || need+=(junit4)
[ -f /usr/share/java/hamcrest.jar ] || need+=(libhamcrest-java)
[ -f /usr/share/java/com.android.json.jar ] || need+=(libandroid-json-java)
command -v aapt >/dev/null || need+=(aapt)
command -v zipalign >/dev/null || need+=(zipalign)
command -v apksigner >/dev/null || need+=(apksigner)
[ -d /etc/ssl/certs ] || need+=(ca-certificates)
command -v openssl >/dev/null || need+=(openssl)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# prometheus + promtool: alert-rule unit tests and the dashboard test's real Prometheus.
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || need+=(prometheus)
# kubectl (kustomize) for the Kubernetes manifests test; machine images that ship kubectl
# have it from another package, which Debian's kubernetes-client conflicts with.
command -v kubectl >/dev/null || need+=(kubernetes-client)
# Headless Chromium drives the emulator's inbox page (tests/tests/emulator_inbox_page.rs).
[ -x /usr/bin/chromium ] || need+=(chromium)

[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "tests: missing system packages (Debian names): ${need[*]}" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "tests: run as root or install sudo, to install: ${need[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "installing: ${need[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
