//! The emulator playing Google's Web Push service (`POST /fcm/send/<token>`): pywebpush, a
//! real application server, sends to a token the emulator issued for its VAPID key, and
//! what the emulator keeps is exactly what the phone would get (`raw_data`, which http_ece
//! decrypts to the plaintext); raw requests for each refusal Google's service answers.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uprelay_tests::emulator::{unix_now, EmulatorProcess};
use uprelay_tests::relay::random_body;
use uprelay_tests::relay::VapidSigner as Signer;
use uprelay_tests::webpush::{verified_vapid_claims, Keys};

/// `POST /emulator/webpush/tokens` for `vapid`: status and body.
async fn issue(emu: &EmulatorProcess, vapid: &str) -> (StatusCode, Value) {
    let resp = emu.http.post(emu.url("/emulator/webpush/tokens")).json(&json!({ "vapid": vapid })).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap())
}

async fn token_for(emu: &EmulatorProcess, vapid: &str) -> String {
    let (status, body) = issue(emu, vapid).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

async fn revoke(emu: &EmulatorProcess, token: &str) -> StatusCode {
    emu.http.post(emu.url("/emulator/webpush/revoke")).json(&json!({ "token": token })).send().await.unwrap().status()
}

/// A raw Web Push request: status, `Retry-After`, body text.
async fn push(emu: &EmulatorProcess, token: &str, headers: &[(&str, String)], body: Vec<u8>) -> (StatusCode, Option<String>, String) {
    let mut req = emu.http.post(emu.url(&format!("/fcm/send/{token}"))).body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, resp.text().await.unwrap())
}

/// `vapid t=<JWT for aud and exp>, k=<signer's key>`.
fn auth_for(signer: &Signer, aud: &str, exp: i64) -> String {
    signer.authorization(&signer.jwt(aud, exp as u64))
}

/// The headers of a well-formed push signed by `signer` for the emulator's origin.
fn good_headers(emu: &EmulatorProcess, signer: &Signer) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", auth_for(&signer, &emu.base_url, unix_now() + 3600)),
        ("ttl", "60".into()),
        ("content-encoding", "aes128gcm".into()),
    ]
}

fn without(headers: &[(&'static str, String)], name: &str) -> Vec<(&'static str, String)> {
    headers.iter().filter(|(k, _)| *k != name).cloned().collect()
}

fn with(headers: &[(&'static str, String)], name: &'static str, value: String) -> Vec<(&'static str, String)> {
    let mut h = without(headers, name);
    h.push((name, value));
    h
}

#[tokio::test]
async fn pywebpush_reaches_an_issued_token_and_the_phone_decrypts_raw_data() {
    let emu = EmulatorProcess::start().await;
    let app = Keys::new(emu.dir.path(), "app");
    let token = token_for(&emu, app.vapid_public()).await;
    let endpoint = emu.url(&format!("/fcm/send/{token}"));

    let plaintexts = [b"{\"title\":\"hello\"}".to_vec(), random_body(3993)];
    for plaintext in &plaintexts {
        let answer = app.pywebpush(&endpoint, &app, plaintext, &["--ttl=120"]);
        assert_eq!(answer["status"], 201, "{answer}");
        assert!(answer["location"].as_str().is_some_and(|l| l.contains("/0:")), "Google-shaped Location: {answer}");
    }
    let kept = emu.messages(Some(&token)).await;
    assert_eq!(kept.len(), 2, "{kept:?}");
    for (m, sent) in kept.iter().zip(&plaintexts) {
        let len = sent.len();
        assert_eq!(m["road"], "webpush", "{m}");
        assert_eq!(m["token"], token.as_str());
        assert_eq!(m["headers"]["ttl"], 120, "{m}");
        assert_eq!(m["headers"]["content-encoding"], "aes128gcm", "{m}");
        assert!(m.get("message").is_none() && m.get("project").is_none(), "no FCM fields on a Web Push entry: {m}");
        let raw = STANDARD.decode(m["raw_data"].as_str().unwrap()).expect("raw_data is standard base64");
        assert_eq!(raw.len(), 86 + len + 1 + 16, "aes128gcm body of a {len}-byte plaintext");
        assert_eq!(&app.decrypt(&raw, "aes128gcm"), sent, "what the phone decrypts is what pywebpush sent");
        // The JWT pywebpush signed is kept with the request, and verifies with the app's key.
        let claims = verified_vapid_claims(m["headers"]["authorization"].as_str().unwrap(), app.vapid_public());
        assert_eq!(claims["aud"], emu.base_url.as_str(), "{claims}");
    }

    // Another sender's key, for this token: refused as Google refuses it.
    let other = Keys::new(emu.dir.path(), "other");
    let answer = app.pywebpush(&endpoint, &other, b"intruder", &[]);
    assert_eq!(answer["status"], 403, "{answer}");
    assert!(answer["body"].as_str().unwrap().contains("does not correspond to the sender ID"), "{answer}");
    // Revoked: 410 from then on; never issued: 404.
    assert_eq!(revoke(&emu, &token).await, StatusCode::OK);
    let answer = app.pywebpush(&endpoint, &app, b"late", &[]);
    assert_eq!(answer["status"], 410, "{answer}");
    let answer = app.pywebpush(&emu.url("/fcm/send/never-issued:APA91bX"), &app, b"x", &[]);
    assert_eq!(answer["status"], 404, "{answer}");
    assert_eq!(emu.messages(Some(&token)).await.len(), 2, "refused pushes are not kept");
    let rejected: Value = emu.http.get(emu.url("/emulator/rejected")).send().await.unwrap().json().await.unwrap();
    let refusals: Vec<_> = rejected.as_array().unwrap().iter().filter(|r| r["road"] == "webpush").map(|r| r["status"].clone()).collect();
    assert_eq!(refusals, [json!(403), json!(410), json!(404)], "{rejected}");
}

/// What pywebpush will not send: each of Google's refusals, from raw requests.
#[tokio::test]
async fn raw_requests_get_google_refusals() {
    let emu = EmulatorProcess::start().await;
    let signer = Signer::new();
    let token = token_for(&emu, &signer.public_b64()).await;
    let ok = good_headers(&emu, &signer);

    let (status, _, text) = push(&emu, &token, &ok, vec![7; 100]).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");

    let cases: Vec<(&str, Vec<(&'static str, String)>, Vec<u8>, StatusCode)> = vec![
        ("no Authorization", without(&ok, "authorization"), vec![1], StatusCode::UNAUTHORIZED),
        ("no TTL", without(&ok, "ttl"), vec![1], StatusCode::BAD_REQUEST),
        ("TTL not a number", with(&ok, "ttl", "soon".into()), vec![1], StatusCode::BAD_REQUEST),
        ("bad Urgency", with(&ok, "urgency", "urgent".into()), vec![1], StatusCode::BAD_REQUEST),
        ("Topic too long", with(&ok, "topic", "t".repeat(33)), vec![1], StatusCode::BAD_REQUEST),
        ("a body without Content-Encoding", without(&ok, "content-encoding"), vec![1], StatusCode::BAD_REQUEST),
        ("4097 bytes", ok.clone(), vec![1; 4097], StatusCode::PAYLOAD_TOO_LARGE),
        (
            "aud of another service",
            with(&ok, "authorization", auth_for(&signer, "https://fcm.googleapis.com", unix_now() + 3600)),
            vec![1],
            StatusCode::FORBIDDEN,
        ),
        (
            "exp more than 24 h ahead",
            with(&ok, "authorization", auth_for(&signer, &emu.base_url, unix_now() + 25 * 3600)),
            vec![1],
            StatusCode::FORBIDDEN,
        ),
        ("exp passed", with(&ok, "authorization", auth_for(&signer, &emu.base_url, unix_now() - 10)), vec![1], StatusCode::FORBIDDEN),
        (
            "signed by one key, naming another",
            with(&ok, "authorization", {
                let auth = auth_for(&Signer::new(), &emu.base_url, unix_now() + 3600);
                format!("{}k={}", auth.split("k=").next().unwrap(), signer.public_b64())
            }),
            vec![1],
            StatusCode::FORBIDDEN,
        ),
        ("a Bearer token", with(&ok, "authorization", "Bearer ya29.abc".into()), vec![1], StatusCode::FORBIDDEN),
    ];
    for (what, headers, body, expected) in cases {
        let (status, _, text) = push(&emu, &token, &headers, body).await;
        assert_eq!(status, expected, "{what}: {text}");
        assert!(!text.trim().is_empty(), "{what}: a refusal says why");
    }
    // 4096 bytes is within the limit; TTL 0 is allowed; TTL beyond four weeks is kept shorter.
    let (status, _, text) = push(&emu, &token, &ok, vec![1; 4096]).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let resp = emu
        .http
        .post(emu.url(&format!("/fcm/send/{token}")))
        .header("authorization", auth_for(&signer, &emu.base_url, unix_now() + 3600))
        .header("ttl", "99999999")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["ttl"], "2419200", "the TTL kept is echoed");
    // A key that is not a P-256 point gets no token.
    let (status, body) = issue(&emu, &"A".repeat(87)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(revoke(&emu, "never-issued").await, StatusCode::NOT_FOUND);
    assert_eq!(emu.messages(Some(&token)).await.len(), 3, "only accepted requests are kept");
}

/// The emulator's faults, on a Web Push token: 429 with Retry-After, 5xx, delay, and a dead
/// token after UNREGISTERED.
#[tokio::test]
async fn faults_apply_to_web_push_tokens() {
    let emu = EmulatorProcess::start().await;
    let signer = Signer::new();
    let token = token_for(&emu, &signer.public_b64()).await;
    let other = token_for(&emu, &signer.public_b64()).await;
    let ok = good_headers(&emu, &signer);

    emu.add_fault(json!({ "token": token, "error": "QUOTA_EXCEEDED", "retry_after": 7, "times": 1 })).await;
    emu.add_fault(json!({ "token": token, "error": "UNAVAILABLE", "times": 1 })).await;
    emu.add_fault(json!({ "token": token, "error": "INTERNAL", "times": 1 })).await;
    let (status, retry_after, _) = push(&emu, &token, &ok, vec![1]).await;
    assert_eq!((status, retry_after.as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("7")));
    // The other token is not affected.
    assert_eq!(push(&emu, &other, &ok, vec![1]).await.0, StatusCode::CREATED);
    assert_eq!(push(&emu, &token, &ok, vec![1]).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(push(&emu, &token, &ok, vec![1]).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(push(&emu, &token, &ok, vec![1]).await.0, StatusCode::CREATED, "faults used up");

    emu.add_fault(json!({ "token": token, "delay_ms": 300, "times": 1 })).await;
    let started = std::time::Instant::now();
    assert_eq!(push(&emu, &token, &ok, vec![1]).await.0, StatusCode::CREATED);
    assert!(started.elapsed() >= Duration::from_millis(300), "the delay fault held the answer");

    emu.add_fault(json!({ "token": token, "error": "UNREGISTERED", "times": 1 })).await;
    assert_eq!(push(&emu, &token, &ok, vec![1]).await.0, StatusCode::NOT_FOUND);
    assert_eq!(push(&emu, &token, &ok, vec![1]).await.0, StatusCode::NOT_FOUND, "a dead token stays dead");
    assert_eq!(emu.messages(Some(&token)).await.len(), 2);
}

/// The inbox page shows Web Push requests with their road, accepted and refused, beside
/// FCM v1 messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_page_shows_the_road() {
    let emu = EmulatorProcess::start().await;
    let signer = Signer::new();
    let token = token_for(&emu, &signer.public_b64()).await;
    let ok = good_headers(&emu, &signer);
    assert_eq!(push(&emu, &token, &with(&ok, "topic", "news".into()), vec![3; 200]).await.0, StatusCode::CREATED);
    assert_eq!(push(&emu, &token, &without(&ok, "ttl"), vec![3; 10]).await.0, StatusCode::BAD_REQUEST);

    let mut page = uprelay_tests::browser::Browser::open(&format!("{}/", emu.base_url), 1200, 1200).await;
    let shown = "document.querySelectorAll('#messages li[data-road=\"webpush\"]').length === 1 \
                 && document.querySelectorAll('#rejected li[data-road=\"webpush\"]').length === 1";
    assert!(page.wait_for(shown, Duration::from_secs(15)).await, "{}", page.eval("document.body.innerText").await);
    let accepted = page.eval("document.querySelector('#messages li[data-road=\"webpush\"]').innerText").await;
    let accepted = accepted.as_str().unwrap();
    for expected in ["road Web Push", "TTL 60s", "topic news", "encoding aes128gcm", "raw data 200 B", &token[..8]] {
        assert!(accepted.contains(expected), "{expected:?} not in {accepted:?}");
    }
    let refused = page.eval("document.querySelector('#rejected li[data-road=\"webpush\"]').innerText").await;
    let refused = refused.as_str().unwrap();
    for expected in ["road Web Push", "MISSING_TTL", "HTTP 400"] {
        assert!(refused.contains(expected), "{expected:?} not in {refused:?}");
    }
}
