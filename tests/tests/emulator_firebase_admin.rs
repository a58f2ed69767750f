//! Interop: Google's Python Admin SDK (`firebase-admin` from PyPI) against the emulator binary.
//! What the SDK accepts, rejects, retries and how it classifies each answer must match FCM's
//! documentation (and the SDK's own behaviour against the real FCM).
//!
//! Needs the binary and the venv: `cargo build -p uprelay`,
//! `python3 -m venv .venv && .venv/bin/pip install -r tests/python/requirements.txt`.

use std::process::Command;

use serde_json::{json, Value};
use uprelay_tests::emulator::EmulatorProcess;
use uprelay_tests::{python, workspace_root};

#[track_caller]
fn expect(results: &Value, case: &str, outcome: &str, requests: u64) -> Value {
    let r = &results[case];
    assert_eq!(r["outcome"], outcome, "{case}: {r}");
    assert_eq!(r["requests"], requests, "{case}: requests the emulator saw: {r}");
    r.clone()
}

#[tokio::test]
async fn firebase_admin_python_sdk_interoperates() {
    let emu = EmulatorProcess::start().await;
    let script = workspace_root().join("tests/python/firebase_admin_interop.py");
    let (base, creds) = (emu.base_url.clone(), emu.credentials_path.clone());
    let out = tokio::task::spawn_blocking(move || Command::new(python()).arg(&script).arg(&base).arg(&creds).output().expect("run python"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "interop script failed ({}):\n{stdout}\n{stderr}\n{}", out.status, emu.child.output());
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON line:\n{stdout}\n{stderr}"));
    let r: Value = serde_json::from_str(line).expect("result JSON");
    let p = &emu.project;

    // A data message with an Android config: accepted, and stored as the SDK encoded it.
    let valid = expect(&r, "valid", "ok", 1);
    assert_eq!(valid["tokens"], 1, "the SDK fetched one OAuth token from the emulator: {valid}");
    assert!(valid["value"].as_str().unwrap().starts_with(&format!("projects/{p}/messages/")), "{valid}");
    let stored = emu.messages(Some("interop-valid")).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0]["message"],
        json!({
            "android": {"collapse_key": "topic1", "priority": "high", "ttl": "86400s"},
            "data": {"i": "instance-1", "b": "aGVsbG8=", "m": "m1"},
            "token": "interop-valid",
        })
    );

    // dry_run → validate_only: answered with a name, not stored.
    let dry = expect(&r, "dry_run", "ok", 1);
    assert!(dry["value"].as_str().unwrap().starts_with("projects/"));
    assert!(emu.messages(Some("interop-dry")).await.is_empty());

    // Non-string data values never leave the SDK.
    expect(&r, "non_string_value", "ValueError", 0);

    // Server-side validation, classified by the SDK from the FcmError detail.
    for case in ["reserved_key", "too_big"] {
        let e = expect(&r, case, "InvalidArgumentError", 1);
        assert_eq!(e["http_status"], 400, "{case}");
    }
    assert_eq!(r["reserved_key"]["message"], "Invalid data payload key: from");
    assert_eq!(r["too_big"]["message"], "Android message is too big");

    // Injected FCM errors → the SDK's typed exceptions.
    assert_eq!(expect(&r, "unregistered", "UnregisteredError", 1)["http_status"], 404);
    assert_eq!(expect(&r, "unregistered_again", "UnregisteredError", 1)["http_status"], 404);
    assert_eq!(expect(&r, "quota_exceeded", "QuotaExceededError", 1)["http_status"], 429);
    assert_eq!(expect(&r, "sender_id_mismatch", "SenderIdMismatchError", 1)["http_status"], 403);
    assert_eq!(expect(&r, "invalid_argument", "InvalidArgumentError", 1)["http_status"], 400);
    // Retries: 503 and 500 are retried 4 times; a 429 only when it carries Retry-After.
    assert_eq!(expect(&r, "unavailable", "UnavailableError", 5)["http_status"], 503);
    assert_eq!(expect(&r, "internal", "InternalError", 5)["http_status"], 500);
    assert_eq!(expect(&r, "quota_exceeded_retry_after", "QuotaExceededError", 5)["http_status"], 429);
    expect(&r, "unavailable_then_ok", "ok", 3);
    assert_eq!(emu.messages(Some("interop-flaky")).await.len(), 1);
    // THIRD_PARTY_AUTH_ERROR is a 401: google-auth refreshes its token twice before giving up.
    let tpa = expect(&r, "third_party_auth_error", "ThirdPartyAuthError", 3);
    assert_eq!(tpa["tokens"], 2, "{tpa}");
    // Revoked tokens: one refresh, then success.
    let revoked = expect(&r, "after_revoke", "ok", 2);
    assert_eq!(revoked["tokens"], 1, "{revoked}");

    // The async (httpx) path classifies the same way.
    let each = expect(&r, "send_each_async", "ok", 2);
    assert_eq!(each["value"][0]["success"], true, "{each}");
    assert_eq!(each["value"][1], json!({"success": false, "value": "InvalidArgumentError"}), "{each}");

    // Every token send shows firebase-admin 7.x's deprecation warning, unsilenced; no FID
    // send shows any warning.
    let token_warning = "DeprecationWarning: Message.token is deprecated. Use Message.fid instead.";
    for case in ["valid", "unregistered", "quota_exceeded", "after_revoke", "fid_and_token"] {
        assert_eq!(r[case]["warnings"], json!([token_warning]), "{case}: {}", r[case]);
    }
    let fid_cases = [
        "fid_valid",
        "fid_unregistered",
        "fid_unregistered_again",
        "fid_quota_exceeded",
        "fid_quota_then_ok",
        "fid_malformed",
        "fid_multicast",
    ];
    for case in fid_cases {
        assert_eq!(r[case]["warnings"], json!([]), "{case}: {}", r[case]);
    }

    // Installation IDs: sent as `message.fid`, stored as such, kept apart from tokens.
    let fid_valid = expect(&r, "fid_valid", "ok", 1);
    assert!(fid_valid["value"].as_str().unwrap().starts_with(&format!("projects/{p}/messages/")), "{fid_valid}");
    let by_fid = |fid: &str| {
        let emu = &emu;
        let query = format!("?fid={fid}");
        async move { serde_json::from_str::<Vec<Value>>(&emu.client.messages_text(&query).await).unwrap() }
    };
    // The single send, then the multicast's first.
    let stored = by_fid("cInteropValidFid012345").await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[1]["message"]["data"], json!({"k": "multi"}));
    assert_eq!(stored[0]["target"], "fid");
    assert_eq!(
        stored[0]["message"],
        json!({"android": {"priority": "high"}, "data": {"i": "instance-1", "b": "aGVsbG8=", "m": "m2"}, "fid": "cInteropValidFid012345"})
    );
    assert!(emu.messages(Some("cInteropValidFid012345")).await.is_empty(), "a FID's messages are not a token's");
    // A dead FID and a throttled one: the SDK's own classes, from FCM's answers.
    assert_eq!(expect(&r, "fid_unregistered", "UnregisteredError", 1)["http_status"], 404);
    assert_eq!(expect(&r, "fid_unregistered_again", "UnregisteredError", 1)["http_status"], 404);
    assert_eq!(expect(&r, "fid_quota_exceeded", "QuotaExceededError", 1)["http_status"], 429);
    expect(&r, "fid_quota_then_ok", "ok", 1);
    // A FID of the wrong shape: FCM's INVALID_ARGUMENT, as the SDK classifies it.
    let malformed = expect(&r, "fid_malformed", "InvalidArgumentError", 1);
    assert_eq!(malformed["http_status"], 400);
    assert_eq!(malformed["message"], "The installation ID is not a valid Firebase installation ID");
    // Both targets: refused by the SDK before any request.
    let both = expect(&r, "fid_and_token", "ValueError", 0);
    assert_eq!(both["message"], "Exactly one of fid, token, topic or condition must be specified.");
    let multi = expect(&r, "fid_multicast", "ok", 2);
    assert_eq!(multi["value"], json!([true, true]));
    assert_eq!(by_fid("dInteropValidFid012345").await.len(), 1);
    assert!(by_fid("eInteropDeadFid0123456").await.is_empty(), "a dead FID got a message");
    assert_eq!(by_fid("fInteropQuotaFid012345").await.len(), 1, "only the send after the quota fault");

    // Nothing faulted or rejected was stored.
    for t in ["interop-dead", "interop-quota", "interop-sender", "interop-unavailable", "interop-internal", "interop-3p", "interop-bad"] {
        assert!(emu.messages(Some(t)).await.is_empty(), "{t} stored");
    }
}
