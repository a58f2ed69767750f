//! The FCM emulator (`uprelay emulator`) as a black box over HTTP: OAuth, FCM validation rules,
//! error bodies, fault injection, inspection and counters.
//!
//! Needs the binary: `cargo build -p uprelay && cargo test -p uprelay-tests --test emulator`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uprelay_tests::emulator::{sign_jwt, unix_now, EmulatorProcess, ServiceAccount, JWT_BEARER, SCOPE_CLOUD, SCOPE_FCM};

const MSG_BAD_TOKEN: &str = "The registration token is not a valid FCM registration token";
const MSG_UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

fn data_msg(token: &str, data: Value) -> Value {
    json!({ "message": { "token": token, "data": data } })
}

fn std_header(sa: &ServiceAccount) -> Value {
    json!({ "alg": "RS256", "typ": "JWT", "kid": sa.private_key_id })
}

// ---------------------------------------------------------------------------------------------
// Credentials and OAuth

#[tokio::test]
async fn written_credentials_look_like_a_google_service_account() {
    let emu = EmulatorProcess::start_with(&["--project", "my-proj-1"]).await;
    let sa = &emu.credentials;
    assert_eq!(sa.json["type"], "service_account");
    assert_eq!(sa.project_id, "my-proj-1");
    assert_eq!(sa.token_uri, format!("{}/token", emu.base_url));
    assert!(sa.private_key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", sa.private_key);
    assert!(sa.private_key.trim_end().ends_with("-----END PRIVATE KEY-----"));
    assert_eq!(sa.private_key_id.len(), 40);
    assert!(sa.private_key_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(sa.client_email.ends_with("@my-proj-1.iam.gserviceaccount.com"), "{}", sa.client_email);
    assert!(sa.json["client_id"].as_str().unwrap().bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(sa.json["auth_uri"], "https://accounts.google.com/o/oauth2/auth");
    // Written in Google's member order.
    let text = std::fs::read_to_string(&emu.credentials_path).unwrap();
    assert!(text.trim_start().starts_with("{\n  \"type\": \"service_account\",\n  \"project_id\""), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&emu.credentials_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "credentials must not be group/world readable: {mode:o}");
    }
    // The process prints one line with its URL.
    let out = emu.child.output();
    assert!(out.contains(&format!("listening on {}", emu.base_url)), "{out}");
}

#[tokio::test]
async fn token_grant_accepts_padded_and_unpadded_assertions() {
    let emu = EmulatorProcess::start().await;
    let sa = &emu.credentials;

    // google-auth style: unpadded, with kid.
    let (status, body) = emu.grant(&sa.assertion()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let unpadded_token = body["access_token"].as_str().unwrap().to_owned();
    assert!(unpadded_token.len() >= 32);

    // yup-oauth2 style: no kid, base64url WITH '=' padding on every segment.
    let header = json!({ "alg": "RS256", "typ": "JWT" });
    let mut claims = sa.claims(SCOPE_FCM);
    // Make the claim segment need padding too (its JSON length must not be a multiple of 3).
    while serde_json::to_vec(&claims).unwrap().len() % 3 == 0 {
        claims["x"] = json!(format!("{}y", claims["x"].as_str().unwrap_or("")));
    }
    let padded = sign_jwt(&sa.private_key, &header, &claims, true);
    let segments: Vec<&str> = padded.split('.').collect();
    assert!(segments[1].ends_with('='), "claims segment should be padded: {padded}");
    assert!(segments[2].ends_with('='), "signature segment should be padded: {padded}");
    let (status, body) = emu.grant(&padded).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let padded_token = body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(padded_token, unpadded_token);

    // cloud-platform scope, and several scopes in one string, are fine too.
    for scope in [SCOPE_CLOUD, &format!("https://www.googleapis.com/auth/userinfo.email {SCOPE_FCM}")] {
        let a = sign_jwt(&sa.private_key, &std_header(sa), &sa.claims(scope), false);
        let (status, body) = emu.grant(&a).await;
        assert_eq!(status, StatusCode::OK, "scope {scope}: {body}");
    }
    // google-auth always signs for Google's own token URL, whatever token_uri says.
    let mut claims = sa.claims(SCOPE_CLOUD);
    claims["aud"] = json!("https://oauth2.googleapis.com/token");
    let (status, body) = emu.grant(&sign_jwt(&sa.private_key, &std_header(sa), &claims, false)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Both tokens work.
    for t in [&unpadded_token, &padded_token] {
        let r = emu.send(t, &data_msg("tok", json!({"k": "v"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_eq!(emu.stats().await["tokens_issued"], 5);
}

#[tokio::test]
async fn token_grant_rejects_bad_assertions() {
    let emu = EmulatorProcess::start().await;
    let sa = emu.credentials.clone();
    let now = unix_now();
    // A key this emulator never issued (same service account name).
    let stranger = ServiceAccount::from_json(
        uprelay_emulator::Emulator::new("x", 1, Duration::from_secs(1)).issue_credentials(&sa.project_id, &sa.token_uri),
    );
    // A key of another project of this emulator.
    let other = emu.new_credentials("other-project").await;

    let sign = |key: &ServiceAccount, claims: Value| sign_jwt(&key.private_key, &std_header(key), &claims, false);
    let with = |field: &str, v: Value| {
        let mut c = sa.claims(SCOPE_FCM);
        if v.is_null() {
            c.as_object_mut().unwrap().remove(field);
        } else {
            c[field] = v;
        }
        c
    };
    let good = sa.assertion();
    let (h, c) = {
        let p: Vec<&str> = good.split('.').collect();
        (p[0].to_owned(), p[1].to_owned())
    };
    let tampered = {
        let other_claims = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&with("scope", json!(SCOPE_CLOUD))).unwrap(),
        );
        format!("{h}.{other_claims}.{}", good.split('.').nth(2).unwrap())
    };
    let alg_none =
        format!("{}.{c}.", base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, br#"{"alg":"none","typ":"JWT"}"#));

    let cases: Vec<(&str, String, &str)> = vec![
        ("untrusted key", sign(&stranger, sa.claims(SCOPE_FCM)), "invalid_grant"),
        (
            "other project's key, our iss",
            sign_jwt(&other.private_key, &json!({"alg":"RS256","typ":"JWT"}), &sa.claims(SCOPE_FCM), false),
            "invalid_grant",
        ),
        ("unknown iss", sign(&sa, with("iss", json!("nobody@x.iam.gserviceaccount.com"))), "invalid_grant"),
        ("missing iss", sign(&sa, with("iss", Value::Null)), "invalid_grant"),
        ("wrong aud", sign(&sa, with("aud", json!("https://example.org/token"))), "invalid_grant"),
        ("missing aud", sign(&sa, with("aud", Value::Null)), "invalid_grant"),
        ("scope without FCM", sign(&sa, with("scope", json!("https://www.googleapis.com/auth/userinfo.email"))), "invalid_scope"),
        ("missing scope", sign(&sa, with("scope", Value::Null)), "invalid_scope"),
        (
            "expired",
            sign(&sa, json!({"iss": sa.client_email, "scope": SCOPE_FCM, "aud": sa.token_uri, "iat": now - 7200, "exp": now - 3600})),
            "invalid_grant",
        ),
        (
            "lifetime over 1 h",
            sign(&sa, json!({"iss": sa.client_email, "scope": SCOPE_FCM, "aud": sa.token_uri, "iat": now, "exp": now + 3601})),
            "invalid_grant",
        ),
        (
            "iat in the future",
            sign(&sa, json!({"iss": sa.client_email, "scope": SCOPE_FCM, "aud": sa.token_uri, "iat": now + 600, "exp": now + 1200})),
            "invalid_grant",
        ),
        ("exp before iat", sign(&sa, with("exp", json!(now - 10))), "invalid_grant"),
        ("missing exp", sign(&sa, with("exp", Value::Null)), "invalid_grant"),
        ("tampered claims", tampered, "invalid_grant"),
        ("alg none", alg_none, "invalid_grant"),
        ("garbage", "not.a.jwt".to_owned(), "invalid_grant"),
        ("two segments", format!("{h}.{c}"), "invalid_grant"),
    ];
    for (name, assertion, expected) in &cases {
        let (status, body) = emu.grant(assertion).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(body["error"], *expected, "{name}: {body}");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{name}: {body}");
    }

    let (status, body) = emu.token_request(&[("grant_type", "client_credentials"), ("assertion", &good)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")), "{body}");
    let (status, body) = emu.token_request(&[("assertion", &good)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")), "{body}");
    let (status, body) = emu.token_request(&[("grant_type", JWT_BEARER)]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");

    // Nothing was issued; the good assertion still works afterwards.
    assert_eq!(emu.stats().await["tokens_issued"], 0);
    let (status, _) = emu.grant(&good).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn send_requires_a_live_access_token_of_the_project() {
    let emu = EmulatorProcess::start().await;
    let body = serde_json::to_vec(&data_msg("tok", json!({}))).unwrap();

    let r = emu.send_raw(&emu.project, None, body.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(r.body["error"]["code"], 401);

    // A token we never issued: Google's exact body.
    let r = emu.send_raw(&emu.project, Some("Bearer ya29.not-a-token-we-issued"), body.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.body, json!({"error": {"code": 401, "message": MSG_UNAUTHENTICATED, "status": "UNAUTHENTICATED"}}));
    assert!(r.headers.contains_key("www-authenticate"));
    for auth in ["Basic dXNlcjpwYXNz", "Bearer ", "ya29.no-scheme"] {
        let r = emu.send_raw(&emu.project, Some(auth), body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}: {}", r.body);
        assert_eq!(r.body["error"]["status"], "UNAUTHENTICATED", "{auth}");
        assert!(r.error_code().is_none(), "a bad access token carries no FcmError: {}", r.body);
    }

    // A token of another project: 403 PERMISSION_DENIED without an FCM errorCode.
    let other = emu.new_credentials("second-project").await;
    assert_eq!(other.token_uri, format!("{}/token", emu.base_url));
    let other_token = emu.client.access_token(&other).await;
    let r = emu.send(&other_token, &data_msg("tok", json!({}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["error"]["status"], "PERMISSION_DENIED");
    assert!(r.error_code().is_none(), "{}", r.body);
    // ...which works for its own project.
    let r = emu.client.send("second-project", &other_token, &data_msg("tok", json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["name"].as_str().unwrap().starts_with("projects/second-project/messages/"), "{}", r.body);

    let stats = emu.stats().await;
    assert_eq!(stats["send_requests"], 7);
    assert_eq!(stats["rejected"], 6);
    assert_eq!(stats["accepted"], 1);
}

#[tokio::test]
async fn access_tokens_expire() {
    let emu = EmulatorProcess::start_with(&["--token-lifetime", "1"]).await;
    let (status, body) = emu.grant(&emu.credentials.assertion()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().unwrap();
    let r = emu.send(token, &data_msg("tok", json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let r = emu.send(token, &data_msg("tok", json!({}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert_eq!(r.body["error"]["message"], MSG_UNAUTHENTICATED);
}

#[tokio::test]
async fn revoke_tokens_forces_a_refresh() {
    let emu = EmulatorProcess::start().await;
    let t1 = emu.access_token().await;
    let t2 = emu.access_token().await;
    assert_eq!(emu.send(&t1, &data_msg("tok", json!({}))).await.status, StatusCode::OK);
    let revoked = emu.revoke_tokens().await;
    assert_eq!(revoked["revoked"], 2, "{revoked}");
    for t in [&t1, &t2] {
        let r = emu.send(t, &data_msg("tok", json!({}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    }
    let t3 = emu.access_token().await;
    assert_eq!(emu.send(&t3, &data_msg("tok", json!({}))).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Accepted messages and inspection

#[tokio::test]
async fn accepted_message_is_kept_exactly_as_received() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    // Member order deliberately not alphabetical; lowerCamelCase and snake_case mixed.
    let raw = r#"{"message":{"token":"dev-1","data":{"z":"1","b":"two","a":"ü"},"android":{"ttl":"86400s","priority":"HIGH","collapseKey":"k1","direct_boot_ok":false,"restrictedPackageName":"org.example"}},"validateOnly":false}"#;
    let before = unix_now();
    let r = emu.send_raw(&emu.project, Some(&format!("Bearer {token}")), raw.as_bytes().to_vec()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let name = r.body["name"].as_str().unwrap();
    assert!(name.starts_with(&format!("projects/{}/messages/", emu.project)), "{name}");
    assert_eq!(r.body.as_object().unwrap().len(), 1, "only `name` in a success: {}", r.body);

    let text = emu.messages_text("").await;
    let sent_message = &raw[r#"{"message":"#.len()..raw.find(r#","validateOnly""#).unwrap()];
    assert!(text.contains(sent_message), "message not kept verbatim:\n{text}\nvs\n{sent_message}");

    let msgs = emu.messages(None).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["name"], name);
    assert_eq!(msgs[0]["project"], emu.project.as_str());
    let at = msgs[0]["received_at"].as_str().unwrap();
    assert!(at.len() == 24 && at.ends_with('Z') && at.as_bytes()[10] == b'T', "RFC 3339 UTC ms: {at}");
    let ms = msgs[0]["received_at_ms"].as_i64().unwrap();
    assert!(ms / 1000 >= before && ms / 1000 <= unix_now(), "{ms}");

    // Message names are unique.
    let r2 = emu.send(&token, &data_msg("dev-1", json!({}))).await;
    assert_ne!(r2.body["name"], r.body["name"]);
}

/// Status, headers (but `date`) and body of a send, with the message id cut off the name.
fn comparable(r: uprelay_tests::emulator::SendResult) -> (StatusCode, Vec<(String, String)>, Value) {
    let headers =
        r.headers.iter().filter(|(k, _)| *k != "date").map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned())).collect();
    let mut body = r.body;
    if let Some(name) = body.get_mut("name") {
        let s = name.as_str().unwrap();
        *name = json!(s[..s.find("/messages/").unwrap()]);
    }
    (r.status, headers, body)
}

/// Sends on a plain path skip axum's router (for speed); a percent-escaped project takes the
/// router. Both must answer alike, count alike and keep alike.
#[tokio::test]
async fn plain_and_escaped_send_paths_answer_alike() {
    let emu = EmulatorProcess::start().await;
    let bearer = format!("Bearer {}", emu.access_token().await);
    let escaped: String = emu.project.bytes().map(|b| format!("%{b:02X}")).collect();
    let kept = r#"{"token":"t\u0041\"k","data":{"k\n":"v\u00e9","b":"plain"}}"#;
    let cases: Vec<(Option<&str>, Vec<u8>)> = vec![
        (Some(&bearer), format!(r#"{{"message":{kept}}}"#).into_bytes()),
        (Some(&bearer), br#"{"validate_only":true,"message":{"topic":"news"}}"#.to_vec()),
        (Some(&bearer), br#"{"message":{"token":"t","data":{"a":12}}}"#.to_vec()),
        (Some(&bearer), b"not json".to_vec()),
        (Some("Bearer ya29.unknown"), br#"{"message":{"token":"t"}}"#.to_vec()),
        (None, br#"{"message":{"token":"t"}}"#.to_vec()),
        // Over axum's default body limit: its 413.
        (Some(&bearer), vec![b' '; 2 * 1024 * 1024 + 1]),
    ];
    for (auth, body) in cases {
        let plain = comparable(emu.send_raw(&emu.project, auth, body.clone()).await);
        let routed = comparable(emu.send_raw(&escaped, auth, body).await);
        assert_eq!(plain, routed);
    }
    let stats = emu.stats().await;
    // The 413s never reached the handler: not counted.
    assert_eq!(stats["send_requests"], 12, "{stats}");
    assert_eq!(stats["accepted"], 2, "{stats}");
    assert_eq!(stats["validated"], 2, "{stats}");
    let msgs = emu.messages(None).await;
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["message"], msgs[1]["message"]);
    assert_eq!(msgs[0]["project"], msgs[1]["project"]);
    assert_eq!(msgs[0]["message"]["token"], "tA\"k");
    let text = emu.messages_text("?token=tA%22k").await;
    assert_eq!(text.matches(r#""message":{"token":"tA\"k","data":{"k\n":"vé","b":"plain"}}"#).count(), 2, "{text}");
}

#[tokio::test]
async fn inbox_filters_by_token_and_clears() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    for (t, n) in [("A", "1"), ("B", "2"), ("A", "3"), ("with space?&=", "4")] {
        let r = emu.send(&token, &json!({"message": {"token": t.replace(' ', "_"), "data": {"n": n}}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let a = emu.messages(Some("A")).await;
    assert_eq!(a.iter().map(|m| m["message"]["data"]["n"].clone()).collect::<Vec<_>>(), vec![json!("1"), json!("3")]);
    assert_eq!(emu.messages(Some("B")).await.len(), 1);
    assert_eq!(emu.messages(Some("with_space?&=")).await.len(), 1, "query values are URL-decoded");
    assert_eq!(emu.messages(Some("C")).await.len(), 0);
    assert_eq!(emu.messages(None).await.len(), 4);
    let resp = emu.http.delete(emu.url("/emulator/messages")).send().await.unwrap();
    assert!(resp.status().is_success());
    assert!(emu.messages(None).await.is_empty());
    // Counters are not reset by clearing the inbox.
    assert_eq!(emu.stats().await["accepted"], 4);
}

#[tokio::test]
async fn keep_bounds_the_inbox_but_accepted_counts_everything() {
    let emu = EmulatorProcess::start_with(&["--keep", "3"]).await;
    let token = emu.access_token().await;
    for i in 0..5 {
        let r = emu.send(&token, &data_msg("t", json!({ "i": i.to_string() }))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let kept: Vec<Value> = emu.messages(None).await.iter().map(|m| m["message"]["data"]["i"].clone()).collect();
    assert_eq!(kept, vec![json!("2"), json!("3"), json!("4")]);
    let stats = emu.stats().await;
    assert_eq!(stats["accepted"], 5, "{stats}");
    assert_eq!(stats["stored"], 3, "{stats}");
    assert_eq!(stats["send_requests"], 5, "{stats}");
}

#[tokio::test]
async fn validate_only_is_validated_but_not_stored() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    for key in ["validate_only", "validateOnly"] {
        let r = emu.send(&token, &json!({ key: true, "message": {"token": "t", "data": {"a": "b"}} })).await;
        assert_eq!(r.status, StatusCode::OK, "{key}: {}", r.body);
        assert!(r.body["name"].as_str().unwrap().starts_with("projects/"), "{}", r.body);
        // Still validated.
        let r = emu.send(&token, &json!({ key: true, "message": {"token": "t", "data": {"from": "b"}} })).await;
        r.assert_invalid_argument();
    }
    let r = emu.send(&token, &json!({ "validate_only": "yes", "message": {"token": "t"} })).await;
    assert_eq!(r.assert_invalid_argument(), "Invalid value at 'validate_only' (TYPE_BOOL), \"yes\"");
    assert!(emu.messages(None).await.is_empty());
    let stats = emu.stats().await;
    assert_eq!((stats["validated"].as_u64(), stats["accepted"].as_u64()), (Some(2), Some(0)), "{stats}");
    assert_eq!(stats["rejected"], 3, "{stats}");
}

// ---------------------------------------------------------------------------------------------
// Validation rules

#[tokio::test]
async fn rejects_requests_without_exactly_one_valid_target() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"message": {"data": {"a": "b"}}}), "Recipient of the message is not set."),
        (json!({}), "Recipient of the message is not set."),
        (
            json!({"message": {"token": "t", "topic": "news"}}),
            "Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set 'topic'",
        ),
        (
            json!({"message": {"condition": "'a' in topics", "token": "t"}}),
            "Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set 'token'",
        ),
        (json!({"message": {"token": ""}}), MSG_BAD_TOKEN),
        (json!({"message": {"token": "abc def"}}), MSG_BAD_TOKEN),
        (json!({"message": {"token": "abc\ndef"}}), MSG_BAD_TOKEN),
        (json!({"message": {"token": "\tabc"}}), MSG_BAD_TOKEN),
        (json!({"message": {"token": "x".repeat(4097)}}), MSG_BAD_TOKEN),
        (json!({"message": {"token": 12}}), "Invalid value at 'message.token' (TYPE_STRING), 12"),
        (json!({"message": {"topic": "bad topic!"}}), "Invalid topic name: \"bad topic!\""),
    ];
    for (body, expected) in &cases {
        let r = emu.send(&token, body).await;
        assert_eq!(r.assert_invalid_argument(), *expected, "{body}");
    }
    // Not JSON at all, and a JSON array.
    for raw in [&b"{not json"[..], b"[1,2]", b""] {
        let r = emu.send_raw(&emu.project, Some(&format!("Bearer {token}")), raw.to_vec()).await;
        assert!(r.assert_invalid_argument().starts_with("Invalid JSON payload received."), "{}", r.body);
    }
    // Accepted targets: a 4096-character token, a topic, a condition.
    for body in [
        json!({"message": {"token": "x".repeat(4096)}}),
        json!({"message": {"topic": "news-1_a.b~c%d"}}),
        json!({"message": {"condition": "'a' in topics && 'b' in topics"}}),
    ] {
        let r = emu.send(&token, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_eq!(emu.stats().await["rejected"], cases.len() as u64 + 3);
}

#[tokio::test]
async fn rejects_non_string_data_values_with_a_field_violation() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    // Raw bodies, so that member order (and thus the index FCM reports) is exactly ours.
    let cases = [
        (r#"{"message":{"token":"t","data":{"a":"ok","b":12}}}"#, "message.data[1].value", "12"),
        (r#"{"message":{"token":"t","data":{"x":true}}}"#, "message.data[0].value", "true"),
        (r#"{"message":{"token":"t","data":{"z":"1","y":"2","x":1.5}}}"#, "message.data[2].value", "1.5"),
        (r#"{"message":{"token":"t","data":{"n":null}}}"#, "message.data[0].value", "null"),
        (r#"{"message":{"token":"t","data":{"o":{"p":"q"}}}}"#, "message.data[0].value", "Starting an object on a scalar field"),
        (r#"{"message":{"token":"t","android":{"data":{"k":"v","n":7}}}}"#, "message.android.data[1].value", "7"),
    ];
    for (raw, field, literal) in cases {
        let r = emu.send_raw(&emu.project, Some(&format!("Bearer {token}")), raw.as_bytes().to_vec()).await;
        let expected = format!("Invalid value at '{field}' (TYPE_STRING), {literal}");
        assert_eq!(r.assert_invalid_argument(), expected, "{raw}");
        let details = r.body["error"]["details"].as_array().unwrap();
        let bad_request = details
            .iter()
            .find(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
            .unwrap_or_else(|| panic!("no BadRequest detail: {}", r.body));
        assert_eq!(bad_request["fieldViolations"][0]["field"], field, "{}", r.body);
        assert_eq!(bad_request["fieldViolations"][0]["description"], expected.as_str());
    }
    let r = emu.send(&token, &json!({"message": {"token": "t", "data": ["a"]}})).await;
    r.assert_invalid_argument();
    assert!(emu.messages(None).await.is_empty());
}

#[tokio::test]
async fn rejects_reserved_data_keys() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    for key in ["from", "message_type", "google", "google.c.a.e", "googleFoo", "gcm", "gcm.notification.title", "gcmx"] {
        for target in ["data", "android"] {
            let body = if target == "data" {
                data_msg("t", json!({ "ok": "1", key: "v" }))
            } else {
                json!({"message": {"token": "t", "android": {"data": { key: "v" }}}})
            };
            let r = emu.send(&token, &body).await;
            assert_eq!(r.assert_invalid_argument(), format!("Invalid data payload key: {key}"), "{body}");
        }
    }
    // Documented as allowed (FCM overwrites it), and look-alikes that are not reserved.
    for key in ["collapse_key", "From", "fromx", "message", "Google", "x-google", "notification"] {
        let r = emu.send(&token, &data_msg("t", json!({ key: "v" }))).await;
        assert_eq!(r.status, StatusCode::OK, "{key}: {}", r.body);
    }
}

#[tokio::test]
async fn enforces_the_4096_byte_data_limit() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let send = |data: Value| {
        let (emu, token) = (&emu, &token);
        async move { emu.send(token, &data_msg("t", data)).await }
    };
    // Keys and values count: "k" + 4095 bytes = 4096 → accepted; one more byte → rejected.
    assert_eq!(send(json!({"k": "v".repeat(4095)})).await.status, StatusCode::OK);
    let r = send(json!({"k": "v".repeat(4096)})).await;
    assert_eq!(r.assert_invalid_argument(), "Android message is too big");
    // Spread over many entries.
    let mut many = serde_json::Map::new();
    for i in 0..64 {
        many.insert(format!("k{i:02}"), json!("x".repeat(61))); // 64 * (3 + 61) = 4096
    }
    assert_eq!(send(Value::Object(many.clone())).await.status, StatusCode::OK);
    many.insert("z".into(), json!(""));
    send(Value::Object(many)).await.assert_invalid_argument();
    // UTF-8 bytes, not characters: 2048 × "é" is 4096 bytes, plus the key → too big.
    send(json!({"k": "é".repeat(2048)})).await.assert_invalid_argument();
    assert_eq!(send(json!({"k": "é".repeat(2047)})).await.status, StatusCode::OK);
    // android.data counts as well.
    let r = emu.send(&token, &json!({"message": {"token": "t", "android": {"data": {"k": "v".repeat(4096)}}}})).await;
    r.assert_invalid_argument();
    // Topic messages have a 2048-byte limit.
    let r = emu.send(&token, &json!({"message": {"topic": "news", "data": {"k": "v".repeat(2047)}}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = emu.send(&token, &json!({"message": {"topic": "news", "data": {"k": "v".repeat(2048)}}})).await;
    assert_eq!(r.assert_invalid_argument(), "Android message is too big");
    // validate_only enforces the limit too.
    let r = emu.send(&token, &json!({"validate_only": true, "message": {"token": "t", "data": {"k": "v".repeat(5000)}}})).await;
    r.assert_invalid_argument();
}

#[tokio::test]
async fn validates_android_ttl() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let with_ttl = |ttl: Value| json!({"message": {"token": "t", "android": {"ttl": ttl}}});
    for ok in ["0s", "1s", "86400s", "2419200s", "3.5s", "3.000000001s", "2419200.999s", "-0s"] {
        let r = emu.send(&token, &with_ttl(json!(ok))).await;
        assert_eq!(r.status, StatusCode::OK, "ttl {ok}: {}", r.body);
    }
    for bad in ["86400", "s", "1.s", "1.0000000001s", "1e3s", " 1s", "1m", "abc", ""] {
        let r = emu.send(&token, &with_ttl(json!(bad))).await;
        let expected = format!("Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), {}", json!(bad));
        assert_eq!(r.assert_invalid_argument(), expected, "ttl {bad:?}");
    }
    let r = emu.send(&token, &with_ttl(json!(3600))).await;
    assert_eq!(r.assert_invalid_argument(), "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), 3600");
    for out_of_range in ["2419201s", "-1s", "-0.5s", "99999999999s"] {
        let r = emu.send(&token, &with_ttl(json!(out_of_range))).await;
        let msg = r.assert_invalid_argument();
        assert!(msg.starts_with("TTL must be between 0 and 2419200 seconds"), "{out_of_range}: {msg}");
    }
}

#[tokio::test]
async fn validates_android_priority_and_field_types() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let with_android = |a: Value| json!({"message": {"token": "t", "android": a}});
    for p in ["NORMAL", "HIGH", "normal", "high"] {
        let r = emu.send(&token, &with_android(json!({"priority": p}))).await;
        assert_eq!(r.status, StatusCode::OK, "{p}: {}", r.body);
    }
    for p in [json!("URGENT"), json!("very-low"), json!(""), json!(true), json!(5)] {
        let r = emu.send(&token, &with_android(json!({"priority": p}))).await;
        let expected =
            format!("Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), {p}");
        assert_eq!(r.assert_invalid_argument(), expected);
    }
    let type_cases = [
        (json!({"collapse_key": 5}), "Invalid value at 'message.android.collapse_key' (TYPE_STRING), 5"),
        (json!({"collapseKey": false}), "Invalid value at 'message.android.collapse_key' (TYPE_STRING), false"),
        (json!({"restricted_package_name": 1}), "Invalid value at 'message.android.restricted_package_name' (TYPE_STRING), 1"),
        (json!({"direct_boot_ok": "yes"}), "Invalid value at 'message.android.direct_boot_ok' (TYPE_BOOL), \"yes\""),
        (json!({"directBootOk": 1}), "Invalid value at 'message.android.direct_boot_ok' (TYPE_BOOL), 1"),
    ];
    for (android, expected) in type_cases {
        let r = emu.send(&token, &with_android(android.clone())).await;
        assert_eq!(r.assert_invalid_argument(), expected, "{android}");
    }
    let r = emu.send(&token, &json!({"message": {"token": "t", "android": "HIGH"}})).await;
    r.assert_invalid_argument();
    // Every documented field in both spellings.
    for a in [
        json!({"collapse_key": "c", "priority": "high", "ttl": "60s", "restricted_package_name": "org.x", "direct_boot_ok": true, "data": {"a": "b"}, "notification": {"title": "t"}, "fcm_options": {"analytics_label": "l"}, "bandwidth_constrained_ok": true, "restricted_satellite_ok": false}),
        json!({"collapseKey": "c", "priority": "NORMAL", "ttl": "60s", "restrictedPackageName": "org.x", "directBootOk": true, "fcmOptions": {"analyticsLabel": "l"}, "bandwidthConstrainedOk": true, "restrictedSatelliteOk": false}),
    ] {
        let r = emu.send(&token, &with_android(a.clone())).await;
        assert_eq!(r.status, StatusCode::OK, "{a}: {}", r.body);
    }
}

#[tokio::test]
async fn rejects_unknown_fields_like_google() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let cases = [
        (
            json!({"message": {"token": "t"}, "dry_run": true}),
            "Invalid JSON payload received. Unknown name \"dry_run\": Cannot find field.",
        ),
        (
            json!({"message": {"token": "t", "priority": "high"}}),
            "Invalid JSON payload received. Unknown name \"priority\" at 'message': Cannot find field.",
        ),
        (
            json!({"message": {"token": "t", "android": {"time_to_live": 60}}}),
            "Invalid JSON payload received. Unknown name \"time_to_live\" at 'message.android': Cannot find field.",
        ),
    ];
    for (body, expected) in cases {
        let r = emu.send(&token, &body).await;
        assert_eq!(r.assert_invalid_argument(), expected, "{body}");
    }
    // Every documented message field is accepted.
    let full = json!({"message": {
        "token": "t", "data": {"a": "b"}, "notification": {"title": "x"}, "android": {}, "webpush": {"headers": {}},
        "apns": {"headers": {}}, "fcm_options": {"analytics_label": "l"}, "name": ""
    }});
    let r = emu.send(&token, &full).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn each_fault_code_answers_with_fcms_status_body_and_retry_after() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let table = [
        ("UNREGISTERED", 404, "NOT_FOUND", "Requested entity was not found."),
        ("SENDER_ID_MISMATCH", 403, "PERMISSION_DENIED", "SenderId mismatch"),
        ("INVALID_ARGUMENT", 400, "INVALID_ARGUMENT", MSG_BAD_TOKEN),
        ("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        ("UNAVAILABLE", 503, "UNAVAILABLE", "The service is currently unavailable."),
        ("INTERNAL", 500, "INTERNAL", "Internal error encountered."),
        ("THIRD_PARTY_AUTH_ERROR", 401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
    ];
    for (i, (code, http, status, message)) in table.iter().enumerate() {
        let dev = format!("device-{code}");
        let installed = emu.add_fault(json!({"token": dev, "error": code, "times": 1, "retry_after": i + 1})).await;
        assert_eq!(installed["error"], *code);
        let r = emu.send(&token, &data_msg(&dev, json!({"a": "b"}))).await;
        assert_eq!(r.status.as_u16(), *http, "{code}: {}", r.body);
        assert_eq!(r.body["error"]["code"], *http, "{code}");
        assert_eq!(r.body["error"]["status"], *status, "{code}");
        assert_eq!(r.body["error"]["message"], *message, "{code}");
        let details = r.body["error"]["details"].as_array().unwrap();
        assert_eq!(details[0], json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}), "{code}");
        assert_eq!(r.retry_after(), Some((i + 1).to_string().as_str()), "{code}");
        assert!(r.headers["content-type"].to_str().unwrap().starts_with("application/json"));

        // The fault is used up: the next send goes through, except to a dead (UNREGISTERED) token.
        let r = emu.send(&token, &data_msg(&dev, json!({"a": "c"}))).await;
        if *code == "UNREGISTERED" {
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
            assert_eq!(r.retry_after(), None);
        } else {
            assert_eq!(r.status, StatusCode::OK, "{code}: {}", r.body);
        }
        // Faulted sends are not stored.
        let kept: Vec<Value> = emu.messages(Some(&dev)).await.iter().map(|m| m["message"]["data"]["a"].clone()).collect();
        let expected: Vec<Value> = if *code == "UNREGISTERED" { vec![] } else { vec![json!("c")] };
        assert_eq!(kept, expected, "{code}");
    }
    // Without retry_after, no Retry-After header.
    emu.add_fault(json!({"error": "UNAVAILABLE", "times": 1})).await;
    let r = emu.send(&token, &data_msg("x", json!({}))).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.retry_after(), None);
}

#[tokio::test]
async fn faults_count_down_and_global_faults_hit_every_token() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let send = |dev: &'static str| {
        let (emu, token) = (&emu, &token);
        async move { emu.send(token, &data_msg(dev, json!({}))).await.status }
    };
    // Global, twice.
    emu.add_fault(json!({"error": "QUOTA_EXCEEDED", "times": 2})).await;
    assert_eq!(send("a").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(send("b").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(send("a").await, StatusCode::OK);
    assert_eq!(emu.faults().await["faults"], json!([]));

    // Token-specific, forever: other tokens unaffected, until DELETE /emulator/faults.
    emu.add_fault(json!({"token": "flaky", "error": "INTERNAL"})).await;
    for _ in 0..5 {
        assert_eq!(send("flaky").await, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(send("steady").await, StatusCode::OK);
    }
    let listed = emu.faults().await;
    assert_eq!(listed["faults"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["faults"][0]["token"], "flaky");
    emu.clear_faults().await;
    assert_eq!(send("flaky").await, StatusCode::OK);

    // Token-specific faults come before global ones.
    emu.add_fault(json!({"error": "UNAVAILABLE", "times": 1})).await;
    emu.add_fault(json!({"token": "c", "error": "SENDER_ID_MISMATCH", "times": 1})).await;
    assert_eq!(send("c").await, StatusCode::FORBIDDEN);
    assert_eq!(send("c").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(send("c").await, StatusCode::OK);

    let stats = emu.stats().await;
    assert_eq!(stats["rejected"], 2 + 5 + 2, "{stats}");
}

#[tokio::test]
async fn a_dead_token_stays_dead() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    emu.add_fault(json!({"token": "gone", "error": "UNREGISTERED", "times": 1})).await;
    for _ in 0..3 {
        let r = emu.send(&token, &data_msg("gone", json!({}))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.error_code(), Some("UNREGISTERED"));
    }
    let listed = emu.faults().await;
    assert_eq!(listed["faults"], json!([]), "the fault itself is used up: {listed}");
    assert_eq!(listed["dead_tokens"], json!(["gone"]));
    // Clearing faults does not revive it; dry runs see it dead too; other tokens are fine.
    emu.clear_faults().await;
    assert_eq!(emu.send(&token, &data_msg("gone", json!({}))).await.status, StatusCode::NOT_FOUND);
    let r = emu.send(&token, &json!({"validate_only": true, "message": {"token": "gone"}})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(emu.send(&token, &data_msg("alive", json!({}))).await.status, StatusCode::OK);
    // A global UNREGISTERED fault kills each token it answers.
    emu.add_fault(json!({"error": "UNREGISTERED", "times": 1})).await;
    assert_eq!(emu.send(&token, &data_msg("victim", json!({}))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(emu.send(&token, &data_msg("victim", json!({}))).await.status, StatusCode::NOT_FOUND);
    assert!(emu.messages(Some("gone")).await.is_empty());
    // Only a full reset revives dead tokens.
    emu.reset().await;
    assert_eq!(emu.send(&token, &data_msg("gone", json!({}))).await.status, StatusCode::OK);
    assert_eq!(emu.faults().await["dead_tokens"], json!([]));
}

#[tokio::test]
async fn delay_ms_adds_latency() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let timed = |dev: &'static str| {
        let (emu, token) = (&emu, &token);
        async move {
            let t = Instant::now();
            let r = emu.send(token, &data_msg(dev, json!({}))).await;
            (r.status, t.elapsed())
        }
    };
    // Warm the connection.
    assert_eq!(timed("d").await.0, StatusCode::OK);

    emu.add_fault(json!({"token": "d", "delay_ms": 500, "times": 1})).await;
    let (status, took) = timed("d").await;
    assert_eq!(status, StatusCode::OK);
    assert!(took >= Duration::from_millis(500), "{took:?}");
    let (status, took) = timed("d").await;
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_millis(400), "delay should be used up: {took:?}");

    // Latency together with an error.
    emu.add_fault(json!({"error": "UNAVAILABLE", "delay_ms": 300, "times": 1, "retry_after": 2})).await;
    let (status, took) = timed("e").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took >= Duration::from_millis(300), "{took:?}");

    // A client with a short timeout gives up while the emulator sleeps.
    emu.add_fault(json!({"delay_ms": 2000, "times": 1})).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let err = client
        .post(emu.url(&format!("/v1/projects/{}/messages:send", emu.project)))
        .bearer_auth(&token)
        .json(&data_msg("f", json!({})))
        .send()
        .await
        .expect_err("should time out");
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn fault_specs_are_checked() {
    let emu = EmulatorProcess::start().await;
    for bad in [
        json!({"error": "NOT_A_CODE"}),
        json!({"error": "unregistered"}),
        json!({}),
        json!({"token": "t"}),
        json!({"error": "INTERNAL", "times": 0}),
        json!({"error": "INTERNAL", "token": ""}),
        json!({"error": "INTERNAL", "retry-after": 3}),
        json!({"error": "INTERNAL", "times": -1}),
    ] {
        let (status, body) = emu.post_fault(&bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    assert_eq!(emu.faults().await["faults"], json!([]));
    let (status, _) = emu.post_fault(&json!({"delay_ms": 10})).await;
    assert!(status.is_success());
}

// ---------------------------------------------------------------------------------------------
// Transport and embedding

#[tokio::test]
async fn speaks_h2c() {
    let emu = EmulatorProcess::start().await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let resp =
        h2.post(emu.url("/token")).form(&[("grant_type", JWT_BEARER), ("assertion", &emu.credentials.assertion())]).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let token = resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let mut handles = Vec::new();
    for i in 0..20 {
        let (h2, url, token) = (h2.clone(), emu.url(&format!("/v1/projects/{}/messages:send", emu.project)), token.clone());
        handles.push(tokio::spawn(async move {
            let r = h2.post(url).bearer_auth(token).json(&data_msg("h2", json!({"i": i.to_string()}))).send().await.unwrap();
            (r.version(), r.status())
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), (reqwest::Version::HTTP_2, StatusCode::OK));
    }
    assert_eq!(emu.messages(Some("h2")).await.len(), 20);
    // h2 has no Host header: the new credentials' token_uri comes from :authority.
    let resp = h2.post(emu.url("/emulator/credentials")).json(&json!({"project": "h2-project"})).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let sa = ServiceAccount::from_json(resp.json().await.unwrap());
    assert_eq!(sa.token_uri, format!("{}/token", emu.base_url));
    let token = emu.client.access_token(&sa).await;
    assert_eq!(emu.client.send("h2-project", &token, &data_msg("h2", json!({}))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn in_process_start_serves_and_exposes_state() {
    let running = uprelay_emulator::start("127.0.0.1:0".parse().unwrap(), "sandbox-p").await.unwrap();
    let (emu, addr) = (running.emulator(), running.addr());
    assert_ne!(addr.port(), 0);
    let sa = ServiceAccount::from_json(running.credentials().clone());
    assert_eq!(sa.token_uri, format!("http://{addr}/token"));
    let client = uprelay_tests::emulator::EmulatorClient::new(&format!("http://{addr}"));
    let token = client.access_token(&sa).await;
    let r = client.send("sandbox-p", &token, &data_msg("inproc", json!({"a": "b"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let msgs = emu.messages(Some("inproc"));
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["message"]["data"]["a"], "b");
    let stats = emu.stats();
    assert_eq!((stats.accepted, stats.tokens_issued, stats.send_requests), (1, 1, 1));
    // Faults through the Rust API.
    emu.add_fault(uprelay_emulator::FaultSpec { error: Some("UNAVAILABLE".into()), times: Some(1), ..Default::default() }).unwrap();
    let r = client.send("sandbox-p", &token, &data_msg("inproc", json!({}))).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(emu.add_fault(uprelay_emulator::FaultSpec::default()).is_err());
    // Shutdown closes the listener and waits for the open connections (the client's
    // keep-alive one included) to close.
    tokio::time::timeout(Duration::from_secs(10), running.shutdown()).await.expect("shutdown did not finish");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting connections after shutdown");
}

#[tokio::test]
async fn stops_on_sigterm() {
    let mut emu = EmulatorProcess::start().await;
    assert!(emu.child.terminate(Duration::from_secs(10)), "emulator ignored SIGTERM\n{}", emu.child.output());
}

// ---------------------------------------------------------------------------------------------
// h2c: the emulator serves HTTP/2 prior knowledge itself (not through hyper); its answers must
// be the ones HTTP/1.1 gets.

fn h2c_client() -> reqwest::Client {
    reqwest::Client::builder().http2_prior_knowledge().timeout(Duration::from_secs(30)).build().unwrap()
}

fn h1_client() -> reqwest::Client {
    reqwest::Client::builder().http1_only().timeout(Duration::from_secs(30)).build().unwrap()
}

/// Status, headers (in order) but `date` and a `content-length: 0` (hyper's HTTP/1.1 writes
/// one for an empty body, HTTP/2 ends the stream instead), and body text of an answer, with
/// the message id cut out of a send's `{"name": …}` (it differs between any two sends).
type Answer = (StatusCode, Vec<(String, String)>, String);

async fn answer_of(client: &reqwest::Client, method: reqwest::Method, url: &str, auth: Option<&str>, body: &[u8]) -> Answer {
    let mut req = client.request(method, url).body(body.to_vec());
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, v)| *k != "date" && !(*k == "content-length" && *v == "0"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let mut text = resp.text().await.expect("body");
    if text.starts_with(r#"{"name":"#) {
        let cut = text.find("/messages/").expect("a message name") + "/messages/".len();
        text.replace_range(cut..text.len() - 2, "ID");
    }
    (status, headers, text)
}

#[tokio::test]
async fn h2c_answers_like_http1_byte_for_byte() {
    let emu = EmulatorProcess::start().await;
    let bearer = format!("Bearer {}", emu.access_token().await);
    let escaped: String = emu.project.bytes().map(|b| format!("%{b:02X}")).collect();
    let plain_send = format!("/v1/projects/{}/messages:send", emu.project);
    let escaped_send = format!("/v1/projects/{escaped}/messages:send");
    let ok_body = br#"{"message":{"token":"h2-same","data":{"k":"v"}}}"#.to_vec();
    let big_body = vec![b' '; 2 * 1024 * 1024 + 1];
    use reqwest::Method as M;
    let cases: Vec<(M, &str, Option<&str>, Vec<u8>)> = vec![
        // Not sends: the router answers.
        (M::GET, "/emulator/faults", None, vec![]),
        (M::GET, "/emulator/messages?token=none", None, vec![]),
        (M::GET, "/nowhere", None, vec![]),
        (M::POST, "/emulator/stats", None, vec![]),
        (M::POST, "/emulator/faults", None, b"{".to_vec()),
        (M::DELETE, "/emulator/faults", None, vec![]),
        (M::POST, "/token", None, b"grant_type=password".to_vec()),
        // Sends the fast path leaves to the router: escaped project, other method.
        (M::POST, &escaped_send, Some(&bearer), ok_body.clone()),
        (M::POST, &escaped_send, Some(&bearer), b"not json".to_vec()),
        (M::POST, &escaped_send, None, ok_body.clone()),
        (M::GET, &plain_send, Some(&bearer), vec![]),
        // Plain sends.
        (M::POST, &plain_send, Some(&bearer), ok_body.clone()),
        (M::POST, &plain_send, Some("Bearer ya29.unknown"), ok_body.clone()),
        (M::POST, &plain_send, Some(&bearer), br#"{"message":{"token":"t","data":{"a":1}}}"#.to_vec()),
        (M::POST, &plain_send, Some(&bearer), big_body),
    ];
    let (h1, h2) = (h1_client(), h2c_client());
    for (method, path, auth, body) in cases {
        let url = emu.url(path);
        let over_h1 = answer_of(&h1, method.clone(), &url, auth, &body).await;
        let over_h2 = answer_of(&h2, method.clone(), &url, auth, &body).await;
        assert_eq!(over_h1, over_h2, "{method} {path}");
    }
    let probe = h2.get(emu.url("/emulator/stats")).send().await.unwrap();
    assert_eq!(probe.version(), reqwest::Version::HTTP_2);
    assert!(probe.headers().contains_key("date"), "{:?}", probe.headers());
    let stats = emu.stats().await;
    // 6 sends over each protocol reached the handler (the GET and the 413 did not).
    assert_eq!(stats["send_requests"], 12, "{stats}");
    assert_eq!(stats["accepted"], 4, "{stats}");
}

#[tokio::test]
async fn h2c_sends_honour_injected_faults() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let bearer = format!("Bearer {token}");
    let url = emu.url(&format!("/v1/projects/{}/messages:send", emu.project));
    let (h1, h2) = (h1_client(), h2c_client());
    let send = |client: &reqwest::Client, to: &str| {
        let body = serde_json::to_vec(&data_msg(to, json!({}))).unwrap();
        let (client, url, bearer) = (client.clone(), url.clone(), bearer.clone());
        async move { answer_of(&client, reqwest::Method::POST, &url, Some(&bearer), &body).await }
    };

    emu.add_fault(json!({"token": "flaky", "error": "UNAVAILABLE", "times": 2, "retry_after": 7})).await;
    let over_h1 = send(&h1, "flaky").await;
    let over_h2 = send(&h2, "flaky").await;
    assert_eq!(over_h2.0, StatusCode::SERVICE_UNAVAILABLE, "{over_h2:?}");
    assert!(over_h2.1.contains(&("retry-after".into(), "7".into())), "{over_h2:?}");
    assert_eq!(over_h1, over_h2);
    assert_eq!(send(&h2, "flaky").await.0, StatusCode::OK, "times: 2 is used up");

    emu.add_fault(json!({"token": "gone", "error": "UNREGISTERED", "times": 1})).await;
    let first = send(&h2, "gone").await;
    assert_eq!(first.0, StatusCode::NOT_FOUND, "{first:?}");
    assert_eq!(send(&h2, "gone").await, first, "a dead token stays dead");
    assert_eq!(send(&h1, "gone").await, first);

    emu.add_fault(json!({"token": "slow", "delay_ms": 3000, "times": 1})).await;
    let started = Instant::now();
    let slow = tokio::spawn(send(&h2, "slow"));
    // Another stream of the same connection is not held up by the delayed one: it is
    // answered while the delayed one still waits.
    assert_eq!(send(&h2, "quick").await.0, StatusCode::OK);
    assert!(!slow.is_finished(), "the quick stream waited for the delayed one");
    assert_eq!(slow.await.unwrap().0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(3000), "{:?}", started.elapsed());

    let stats = emu.stats().await;
    assert_eq!(stats["send_requests"], 8, "{stats}");
    assert_eq!(stats["rejected"], 5, "{stats}");
    assert_eq!(stats["accepted"], 3, "{stats}");
}

#[tokio::test]
async fn h2c_send_body_may_come_in_many_data_frames() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    let message = r#"{"token":"pieces","data":{"k":"v\u00e9","n":"1"}}"#;
    let body = format!(r#"{{"message":{message}}}"#);

    // Spread over time: the stream waits for its body while the connection goes on.
    let mut raw = RawH2::connect(emu.port).await;
    let path = format!("/v1/projects/{}/messages:send", emu.project);
    raw.request(1, "POST", &path, &[("authorization", &format!("Bearer {token}"))], false).await;
    let pieces = [&body[..10], &body[10..31], &body[31..]];
    for (i, piece) in pieces.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(60)).await;
        raw.data(1, piece.as_bytes(), i == pieces.len() - 1).await;
    }
    let (status, answer) = raw.response(1).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.starts_with(r#"{"name":"projects/"#), "{answer}");

    // Many DATA frames of 16 KiB, and together more than the connection's 1 MiB receive
    // window: the second body only arrives if the first one's capacity was given back.
    let padded = format!("{body}{}", " ".repeat(1_200_000));
    let h2 = h2c_client();
    for _ in 0..2 {
        let r = h2.post(emu.url(&path)).bearer_auth(&token).body(padded.clone()).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), StatusCode::OK);
    }

    let text = emu.messages_text("?token=pieces").await;
    let kept = format!(r#""message":{}"#, message.replace("\\u00e9", "é"));
    assert_eq!(text.matches(&kept).count(), 3, "{text}");
}

/// hyper dropped a handler whose stream the client reset; so does the emulator's own h2c
/// server: a send reset during its injected delay is never accepted.
#[tokio::test]
async fn h2c_send_reset_during_its_delay_is_not_accepted() {
    let emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    emu.add_fault(json!({"delay_ms": 300, "times": 1})).await;
    let mut raw = RawH2::connect(emu.port).await;
    let path = format!("/v1/projects/{}/messages:send", emu.project);
    raw.request(1, "POST", &path, &[("authorization", &format!("Bearer {token}"))], false).await;
    raw.data(1, br#"{"message":{"token":"cancelled"}}"#, true).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    raw.frame(RST_STREAM, 0, 1, &8u32.to_be_bytes()).await; // CANCEL
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The connection still serves other streams.
    raw.request(3, "POST", &path, &[("authorization", &format!("Bearer {token}"))], false).await;
    raw.data(3, br#"{"message":{"token":"after"}}"#, true).await;
    assert_eq!(raw.response(3).await.0, 200);
    let stats = emu.stats().await;
    assert_eq!(stats["send_requests"], 2, "{stats}");
    assert_eq!(stats["accepted"], 1, "{stats}");
    assert_eq!(emu.messages(Some("cancelled")).await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_h2c_send_in_flight_finish() {
    let mut emu = EmulatorProcess::start().await;
    let token = emu.access_token().await;
    emu.add_fault(json!({"delay_ms": 500, "times": 1})).await;
    let h2 = h2c_client();
    // An idle h2c connection must not hold the emulator up either.
    let idle = h2c_client();
    assert!(idle.get(emu.url("/emulator/stats")).send().await.unwrap().status().is_success());
    let send = tokio::spawn(
        h2.post(emu.url(&format!("/v1/projects/{}/messages:send", emu.project)))
            .bearer_auth(&token)
            .json(&data_msg("in-flight", json!({})))
            .send(),
    );
    // The emulator took the send (its one-time fault is used up) and holds it for 500 ms.
    let taken = uprelay_tests::eventually(Duration::from_secs(10), || async {
        emu.faults().await["faults"].as_array().is_some_and(|f| f.is_empty())
    })
    .await;
    assert!(taken, "the send never reached the emulator");
    let started = Instant::now();
    let exited = tokio::task::block_in_place(|| emu.child.terminate(Duration::from_secs(10)));
    assert!(exited, "emulator ignored SIGTERM\n{}", emu.child.output());
    assert!(started.elapsed() >= Duration::from_millis(200), "did not wait for the send");
    let resp = send.await.unwrap().expect("the in-flight send is answered");
    assert_eq!(resp.status(), StatusCode::OK);
}

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

/// A minimal HTTP/2 client written frame by frame, for what reqwest cannot do: a body in
/// DATA frames spread over time, a stream reset by the client.
struct RawH2 {
    tcp: tokio::net::TcpStream,
    authority: String,
}

impl RawH2 {
    async fn connect(port: u16) -> RawH2 {
        use tokio::io::AsyncWriteExt;
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        let mut raw = RawH2 { tcp, authority: format!("127.0.0.1:{port}") };
        raw.frame(SETTINGS, 0, 0, &[]).await;
        raw
    }

    async fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        use tokio::io::AsyncWriteExt;
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        self.tcp.write_all(&f).await.unwrap();
    }

    /// HEADERS of a request: every field a literal without indexing (HPACK §6.2.2).
    async fn request(&mut self, stream: u32, method: &str, path: &str, extra: &[(&str, &str)], end: bool) {
        let authority = self.authority.clone();
        let mut fields = vec![(":method", method), (":scheme", "http"), (":path", path), (":authority", &authority)];
        fields.extend_from_slice(extra);
        let mut block = Vec::new();
        for (name, value) in fields {
            block.push(0);
            for s in [name, value] {
                hpack_int(&mut block, s.len());
                block.extend_from_slice(s.as_bytes());
            }
        }
        let flags = END_HEADERS | if end { END_STREAM } else { 0 };
        self.frame(HEADERS, flags, stream, &block).await;
    }

    async fn data(&mut self, stream: u32, bytes: &[u8], end: bool) {
        self.frame(DATA, if end { END_STREAM } else { 0 }, stream, bytes).await;
    }

    async fn read_frame(&mut self) -> (u8, u8, u32, Vec<u8>) {
        use tokio::io::AsyncReadExt;
        let mut head = [0u8; 9];
        self.tcp.read_exact(&mut head).await.expect("a frame");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        self.tcp.read_exact(&mut payload).await.expect("a frame's payload");
        (head[3], head[4], stream, payload)
    }

    /// The parameters of the server's first SETTINGS frame (RFC 9113 §6.5.1), acknowledged.
    async fn server_settings(&mut self) -> Vec<(u16, u32)> {
        loop {
            let (kind, flags, _, payload) =
                tokio::time::timeout(Duration::from_secs(10), self.read_frame()).await.expect("the server's SETTINGS in time");
            if kind == SETTINGS && flags & 1 == 0 {
                self.frame(SETTINGS, 1, 0, &[]).await;
                return payload
                    .chunks_exact(6)
                    .map(|p| (u16::from_be_bytes([p[0], p[1]]), u32::from_be_bytes([p[2], p[3], p[4], p[5]])))
                    .collect();
            }
        }
    }

    /// Status and body of `stream`'s response (the status as h2 encodes the common ones:
    /// an indexed static-table field), acknowledging the server's SETTINGS on the way.
    async fn response(&mut self, stream: u32) -> (u16, String) {
        let (mut status, mut body) = (0, Vec::new());
        loop {
            let (kind, flags, id, payload) =
                tokio::time::timeout(Duration::from_secs(10), self.read_frame()).await.expect("the response in time");
            if kind == SETTINGS && flags & 1 == 0 {
                self.frame(SETTINGS, 1, 0, &[]).await;
            }
            if id != stream {
                continue;
            }
            match kind {
                HEADERS => {
                    status = match payload[0] {
                        0x88 => 200,
                        0x89 => 204,
                        0x8c => 400,
                        0x8d => 404,
                        0x8e => 500,
                        other => panic!("unexpected :status encoding {other:#x}"),
                    }
                }
                DATA => body.extend_from_slice(&payload),
                RST_STREAM => panic!("stream {stream} reset: {payload:?}"),
                _ => {}
            }
            if flags & END_STREAM != 0 {
                return (status, String::from_utf8(body).unwrap());
            }
        }
    }
}

/// SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2).
const MAX_CONCURRENT_STREAMS: u16 = 3;

/// h2c connections advertise FCM's stream limit (100), or the one `--max-concurrent-streams`
/// gives: clients that spread sends over connections see the limit they would meet at Google.
#[tokio::test]
async fn h2c_settings_carry_fcms_stream_limit_or_the_configured_one() {
    for (args, expected) in [(&[][..], 100), (&["--max-concurrent-streams", "7"][..], 7)] {
        let emu = EmulatorProcess::start_with(args).await;
        let mut raw = RawH2::connect(emu.port).await;
        let settings = raw.server_settings().await;
        let limit = settings.iter().find(|(id, _)| *id == MAX_CONCURRENT_STREAMS).map(|&(_, v)| v);
        assert_eq!(limit, Some(expected), "emulator {args:?} sent SETTINGS {settings:?}");
        // And the connection still answers under it.
        raw.request(1, "GET", "/emulator/stats", &[], true).await;
        assert_eq!(raw.response(1).await.0, 200);
    }
}

/// A stream limit of 0 (no sends at all) or one that is not a number stops the emulator at
/// start with a message naming the flag.
#[tokio::test]
async fn emulator_refuses_a_useless_stream_limit() {
    for bad in ["0", "-3", "many", "4294967296"] {
        let out = std::process::Command::new(uprelay_tests::process::bin_path("uprelay"))
            .args(["emulator", "--listen", "127.0.0.1:0", &format!("--max-concurrent-streams={bad}")])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--max-concurrent-streams {bad}: {stderr}");
        assert!(stderr.contains("--max-concurrent-streams"), "--max-concurrent-streams {bad}: {stderr}");
    }
}

/// An HPACK integer with a 7-bit prefix (RFC 7541 §5.1), for string lengths.
fn hpack_int(out: &mut Vec<u8>, mut n: usize) {
    if n < 127 {
        out.push(n as u8);
        return;
    }
    out.push(127);
    n -= 127;
    while n >= 128 {
        out.push((n % 128 + 128) as u8);
        n /= 128;
    }
    out.push(n as u8);
}
