#!/usr/bin/env bash
# Runs the shim core against a running uprelay and its FCM emulator (see CrossLanguageCheck).
# usage: run-e2e.sh <relay_base_url> <emulator_base_url> <project> [<sender_id>]
#   sender_id: the Firebase project number the relay publishes at GET /v1/info, if it does.
# E2E_WEBPUSH=1 also runs the Web Push road's scenario (the relay must offer it at /v1/info).
# build.sh must have run first; it leaves every class the check needs in build/e2e.
set -euo pipefail
if [ $# -ne 3 ] && [ $# -ne 4 ]; then
    echo "usage: $0 <relay_base_url> <emulator_base_url> <project> [<sender_id>]" >&2
    exit 2
fi
classes=$(cd "$(dirname "$0")" && pwd)/build/e2e
[ -f "$classes/org/uprelay/shim/e2e/CrossLanguageCheck.class" ] || { echo "run build.sh first" >&2; exit 2; }
exec java ${E2E_SEED:+-Dseed=$E2E_SEED} ${E2E_WEBPUSH:+-Dwebpush=true} -cp "$classes" org.uprelay.shim.e2e.CrossLanguageCheck "$@"
