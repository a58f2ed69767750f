//! Across languages: the real uprelay server and emulator, and the Android shim's pure-Java
//! core driven from the JVM (`android-shim/run-e2e.sh`): device creation, registration,
//! random bodies of 1..4096 bytes pushed by an app server, what the emulator captured fed
//! to the shim's decoder shuffled and with a duplicate, token rotation, unregister; then the
//! whole distributor through a fake Play services and fake apps (sender id from `/v1/info`,
//! a temporary Play services error, two apps, split / aesgcm / Matrix bodies, ACKs, a token
//! reset whose new token must reach the relay); then the Web Push road the same way, with the
//! payloads the emulator's Web Push service accepted handed over as Play services' `rawData`.
//! Needs `android-shim/build.sh` to have run (tests/run.sh runs it first).

use std::process::Command;

use uprelay_tests::relay::{Relay, RelayConfig, StoreKind};
use uprelay_tests::workspace_root;

/// The Firebase project number the relay publishes at `GET /v1/info`; the shim must request
/// its token with it.
const SENDER_ID: &str = "123456789012";

#[tokio::test]
async fn shim_core_decodes_exactly_what_was_pushed() {
    for store in [StoreKind::Embedded, StoreKind::Redis] {
        let (_relay, stdout) = run_scenario(store, false).await;
        assert_all_passed(store, &stdout);
    }
}

/// The Web Push road: the test relay's `[webpush]` road goes to the emulator's Web Push service,
/// and the shim's `WebPushScenario` takes it: a token for the relay's published VAPID key,
/// registration with the phone's own keys, the senders' bytes recovered exactly from the
/// emulator's `raw_data`, nothing revealing kept on Google's side, token rotation, and a revoked
/// token's device found gone at the relay and re-created.
#[tokio::test]
async fn shim_recovers_the_senders_bytes_on_the_web_push_road() {
    for store in [StoreKind::Embedded, StoreKind::Redis] {
        let (_relay, stdout) = run_scenario(store, true).await;
        assert!(stdout.contains("PASS /v1/info offers the Web Push road"), "{store:?}: the Web Push road was not taken\n{stdout}");
        assert_all_passed(store, &stdout);
    }
}

/// Run `android-shim/run-e2e.sh` against a fresh relay on `store` (its Web Push scenario when
/// `webpush`), and fail with both outputs and the relay's log unless it exited 0.
async fn run_scenario(store: StoreKind, webpush: bool) -> (Relay, String) {
    let root = workspace_root();
    let classes = root.join("android-shim/build/e2e");
    assert!(classes.is_dir(), "{} is missing: run `bash android-shim/build.sh` first (tests/run.sh does)", classes.display());
    // The raw lines continue the `[[fcm.projects]]` entry.
    let relay = Relay::start_with(RelayConfig::new(store).tables(&format!("sender_id = \"{SENDER_ID}\""))).await;
    let mut command = Command::new("bash");
    command
        .arg(root.join("android-shim/run-e2e.sh"))
        .arg(&relay.base_url)
        .arg(&relay.emulator.base_url)
        .arg(&relay.emulator.project)
        .arg(SENDER_ID);
    if webpush {
        command.env("E2E_WEBPUSH", "1");
    }
    let out = command.output().expect("run android-shim/run-e2e.sh");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = if webpush { "Web Push check" } else { "cross-language check" };
    assert!(out.status.success(), "{store:?}: {what} failed\n{stdout}\n{stderr}\nrelay log:\n{}", relay.output());
    (relay, stdout)
}

/// The scenario's closing line counts passes and no failures.
fn assert_all_passed(store: StoreKind, stdout: &str) {
    let summary = stdout.lines().rev().find(|l| l.starts_with("e2e:")).unwrap_or("");
    assert!(summary.contains(" 0 failed") && !summary.contains(" 0 passed"), "{store:?}: {summary}\n{stdout}");
}
