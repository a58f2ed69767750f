//! The emulator's inbox page in a real headless Chromium, after pushes through a real relay:
//! each message shown (decoded by the wire format), a split body shown once and reassembled,
//! a fault added by clicking in the page failing the next push with its FCM error, and that
//! rejected send shown. Also the guard in front of the controls and the page:
//! JSON-only writes, no foreign `Origin`, no foreign `Host` on loopback, loopback by default,
//! standalone and in sandbox mode.

use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uprelay_tests::browser::Browser;
use uprelay_tests::emulator::EmulatorProcess;
use uprelay_tests::relay::{run_bounded, unique_token, Relay, RelayConfig, StoreKind, TEST_LIMIT};
use uprelay_tests::{bin_path, free_port, wait_for_http, ChildGuard, TempDir};

const SHOWN: Duration = Duration::from_secs(15);

/// A selector's element count and text, as the page shows them.
fn texts_of(selector: &str) -> String {
    let sel = serde_json::to_string(selector).unwrap();
    format!("Array.from(document.querySelectorAll({sel}), (e) => e.innerText)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_page_shows_pushes_and_faults_added_in_it() {
    run_bounded("inbox_page_shows_pushes_and_faults_added_in_it", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).no_rate_limits()).await;
        let dev = relay.create_device(&unique_token("inbox-page")).await;
        let endpoint = relay.register(&dev, "app.inbox", None).await;

        let text = "hello from the inbox test ✓ <b>not markup</b>";
        let r = relay.push(&endpoint, &[("TTL", "60"), ("Urgency", "high"), ("Topic", "greeting")], text).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let text_id = r.message_id();
        let binary = [0xffu8, 0xfe, 0x00, 0x01, 0x80];
        let r = relay.push(&endpoint, &[("TTL", "120")], binary.to_vec()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let binary_id = r.message_id();
        // Long enough that uprelay splits it in two FCM messages.
        let long: String = format!("BEGIN:{}:END", "abcdefghijklmnopqrstuvwxyz".repeat(135));
        let r = relay.push(&endpoint, &[("TTL", "300")], long.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let long_id = r.message_id();
        assert_eq!(relay.messages_with_id(&dev.token, &long_id).await.len(), 2, "the long body was sent as two halves");

        let mut page = Browser::open(&format!("{}/", relay.emulator.base_url), 1200, 1600).await;
        let entry = |m: &str| format!("#messages li[data-m=\"{m}\"]");
        let all_three = format!(
            "[{:?}, {:?}, {:?}].every((s) => document.querySelectorAll(s).length === 1)",
            entry(&text_id),
            entry(&binary_id),
            entry(&long_id)
        );
        assert!(page.wait_for(&all_three, SHOWN).await, "the page shows each push once: {}", page.eval(&texts_of("#messages li")).await);

        // Newest first.
        let order = page.eval("Array.from(document.querySelectorAll('#messages li'), (e) => e.dataset.m)").await;
        assert_eq!(order, json!([long_id, binary_id, text_id]));

        let short_token = format!("{}…{}", &dev.token[..8], &dev.token[dev.token.len() - 6..]);
        let shown = page.eval(&format!("document.querySelector({:?}).innerText", entry(&text_id))).await;
        let shown = shown.as_str().unwrap();
        for want in [text, "project test-project", &short_token, "priority HIGH", "TTL 60s", "collapse key greeting", "app.inbox", "UTF-8 text"]
        {
            assert!(shown.contains(want), "{want:?} not in the text entry:\n{shown}");
        }
        assert!(shown.contains(&format!("body: {} bytes", text.len())), "{shown}");
        assert!(!shown.contains(&dev.token), "the token is shortened:\n{shown}");
        let shown = page.eval(&format!("document.querySelector({:?}).innerText", entry(&binary_id))).await;
        let shown = shown.as_str().unwrap();
        for want in ["ff fe 00 01 80", "binary, shown as hex", "body: 5 bytes", "TTL 120s"] {
            assert!(shown.contains(want), "{want:?} not in the binary entry:\n{shown}");
        }
        let long_body = page.eval(&format!("document.querySelector({:?} + ' pre.body').textContent", entry(&long_id))).await;
        assert_eq!(long_body.as_str(), Some(long.as_str()), "the split body is shown once, reassembled");
        let shown = page.eval(&format!("document.querySelector({:?}).innerText", entry(&long_id))).await;
        let shown = shown.as_str().unwrap();
        for want in ["halves 1 + 2 reassembled", &format!("body: {} bytes", long.len())] {
            assert!(shown.contains(want), "{want:?} not in the split entry:\n{shown}");
        }

        // A fault added in the page: choose the error, type the token, click "Add fault".
        page.eval("(() => { const s = document.getElementById('fault-error'); s.value = 'UNREGISTERED'; s.dispatchEvent(new Event('change')); })()")
            .await;
        page.type_into("#fault-token", &dev.token).await;
        page.type_into("#fault-times", "1").await;
        page.click("#fault-add").await;
        assert!(
            page.wait_for("document.getElementById('fault-result').textContent.startsWith('added fault')", SHOWN).await,
            "the page says the fault was added: {}",
            page.eval("document.getElementById('fault-result').textContent").await
        );
        let faults = relay.emulator.client.faults().await;
        assert_eq!(faults["faults"].as_array().map(Vec::len), Some(1), "{faults}");
        assert_eq!(faults["faults"][0]["error"], "UNREGISTERED");
        assert_eq!(faults["faults"][0]["token"], dev.token.as_str());
        assert!(page.wait_for("document.querySelectorAll('#faults li[data-error=\"UNREGISTERED\"]').length === 1", SHOWN).await);

        // The next push fails with the error the fault names: UNREGISTERED → the relay answers 410.
        let r = relay.push(&endpoint, &[("TTL", "60")], "after the fault").await;
        assert_eq!(r.status, StatusCode::GONE, "{r:?}");
        assert!(
            page.wait_for("document.querySelectorAll('#rejected li[data-error=\"UNREGISTERED\"]').length === 1", SHOWN).await,
            "the page shows the rejected send: {}",
            page.eval(&texts_of("#rejected li")).await
        );
        let shown = page.eval("document.querySelector('#rejected li').innerText").await;
        let shown = shown.as_str().unwrap();
        for want in ["FCM error UNREGISTERED", "HTTP 404", &short_token, "after the fault", "Requested entity was not found."] {
            assert!(shown.contains(want), "{want:?} not in the rejected entry:\n{shown}");
        }
        assert!(page.wait_for("document.querySelectorAll('#faults li.dead').length === 1", SHOWN).await, "the dead token is listed");

        // Clear faults from the page.
        page.eval("document.getElementById('fault-error').value = 'UNAVAILABLE'").await;
        page.type_into("#fault-token", "").await;
        page.type_into("#fault-times", "").await;
        page.click("#fault-add").await;
        assert!(eventually_faults(&relay, 1).await, "a second fault added in the page");
        page.click("#fault-clear").await;
        assert!(eventually_faults(&relay, 0).await, "faults cleared in the page");
        assert!(page.wait_for("document.querySelectorAll('#faults li.fault').length === 0", SHOWN).await);

        let shots = TempDir::new("uprelay-inbox-page");
        let png = shots.join("inbox-page.png");
        page.screenshot(&png).await;
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "screenshot of {size} bytes");
        eprintln!("inbox page screenshot: {}", png.display());
        // To look at it after the test: UPRELAY_TEST_KEEP_SCREENSHOT=/some/dir.
        if let Ok(dir) = std::env::var("UPRELAY_TEST_KEEP_SCREENSHOT") {
            std::fs::copy(&png, std::path::Path::new(&dir).join("inbox-page.png")).expect("copy the screenshot");
        }
    })
    .await;
}

async fn eventually_faults(relay: &Relay, n: usize) -> bool {
    uprelay_tests::eventually(SHOWN, || async { relay.emulator.client.faults().await["faults"].as_array().map(Vec::len) == Some(n) }).await
}

/// Status and body of a request to the emulator with the given headers.
async fn request(method: reqwest::Method, url: &str, headers: &[(&str, &str)], body: &str) -> (StatusCode, String) {
    let mut req = reqwest::Client::new().request(method, url).body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    (resp.status(), resp.text().await.unwrap_or_default())
}

/// The guard's rules against one emulator at `base` (listening on 127.0.0.1).
async fn check_guard(base: &str) {
    use reqwest::Method as M;
    let faults_url = format!("{base}/emulator/faults");
    let fault = r#"{"error":"UNREGISTERED"}"#;
    let host = base.strip_prefix("http://").unwrap();
    let own_origin = base.to_owned();
    let count = || async {
        let v: Value = reqwest::get(format!("{base}/emulator/faults")).await.unwrap().json().await.unwrap();
        v["faults"].as_array().map_or(usize::MAX, Vec::len)
    };

    // What a foreign page can send without a CORS preflight: refused, nothing added.
    for ct in ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let (status, body) = request(M::POST, &faults_url, &[("content-type", ct)], fault).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}: {body}");
    }
    let (status, _) = request(M::POST, &faults_url, &[], fault).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "a body without a type");
    assert_eq!(count().await, 0, "no fault was added");

    // A foreign Origin: refused for writes and reads alike.
    let json_type = ("content-type", "application/json");
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1"] {
        let (status, body) = request(M::POST, &faults_url, &[json_type, ("origin", origin)], fault).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}: {body}");
        let (status, _) = request(M::GET, &format!("{base}/emulator/messages"), &[("origin", origin)], "").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "GET messages from {origin}");
    }
    assert_eq!(count().await, 0, "no fault was added");
    // DNS rebinding: a foreign name for this loopback address, its own origin.
    let rebound = format!("evil.example:{}", host.rsplit(':').next().unwrap());
    let (status, _) =
        request(M::POST, &faults_url, &[json_type, ("host", &rebound), ("origin", &format!("http://{rebound}"))], fault).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "Host {rebound}");
    let (status, _) = request(M::GET, &format!("{base}/"), &[("host", &rebound)], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the page under Host {rebound}");
    assert_eq!(count().await, 0, "no fault was added");

    // The page's own requests (same origin, JSON) and clients without Origin work.
    let (status, body) = request(M::POST, &faults_url, &[json_type, ("origin", &own_origin)], fault).await;
    assert_eq!(status, StatusCode::OK, "same origin: {body}");
    let (status, body) = request(M::DELETE, &faults_url, &[json_type, ("origin", &own_origin)], "").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "same origin: {body}");
    let (status, _) = request(M::POST, &format!("{base}/emulator/reset"), &[], "").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "a body-less write without a type");
    let localhost = base.replace("127.0.0.1", "localhost");
    let resp = reqwest::get(format!("{localhost}/")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert!(resp.text().await.unwrap().contains("<title>uprelay FCM emulator: inbox</title>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_refuse_foreign_origins_and_non_json_writes() {
    run_bounded("controls_refuse_foreign_origins_and_non_json_writes", TEST_LIMIT, async {
        let emu = EmulatorProcess::start().await;
        check_guard(&emu.base_url).await;
        // The standalone command listens on loopback unless told otherwise.
        let help = Command::new(bin_path("uprelay")).args(["emulator", "--help"]).output().expect("uprelay emulator --help");
        let help = String::from_utf8_lossy(&help.stdout);
        assert!(help.contains("[default: 127.0.0.1:8090]"), "{help}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_emulator_points_at_its_page_and_is_guarded() {
    run_bounded("sandbox_emulator_points_at_its_page_and_is_guarded", TEST_LIMIT, async {
        let dir = TempDir::new("uprelay-sandbox-page");
        let port = free_port();
        // No [[fcm.projects]]: sandbox mode; no [sandbox] emulator_listen: the default.
        let config = format!("listen = \"127.0.0.1:{port}\"\n[store]\npath = {:?}\n", dir.join("data").display().to_string());
        std::fs::write(dir.join("uprelay.toml"), config).unwrap();
        let mut cmd = Command::new(bin_path("uprelay"));
        cmd.arg("serve").arg("--config").arg(dir.join("uprelay.toml")).env_remove("RUST_LOG");
        let child = ChildGuard::spawn("uprelay-sandbox", cmd);
        wait_for_http(&format!("http://127.0.0.1:{port}/healthz")).await;
        let mut page_url = None;
        for _ in 0..100 {
            let out = child.output();
            if let Some(at) = out.find("see what your pushes become at ") {
                let rest = &out[at + "see what your pushes become at ".len()..];
                page_url = Some(rest.split(|c: char| c.is_whitespace() || c == '"').next().unwrap().to_owned());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let page_url = page_url.unwrap_or_else(|| panic!("no page URL in the log:\n{}", child.output()));
        assert!(page_url.starts_with("http://127.0.0.1:") && page_url.ends_with('/'), "loopback by default, the page: {page_url}");
        check_guard(page_url.trim_end_matches('/')).await;
    })
    .await;
}
