//! Stricter input, against the real binary:
//! - instance names made only of dots (`.`, `..`, `...`) are refused (clients rewrite such
//!   path segments, so the registration could never be deleted);
//! - a VAPID key of the right shape that is not a P-256 point is refused at registration;
//! - two `Authorization` headers → 400, on the distributor API and on a push;
//! - auth schemes are case-insensitive (`BEARER`, `bearer`, `Bearer`);
//! - `Transfer-Encoding` other than `chunked` (`gzip, chunked`) → 501, nothing relayed;
//! - axum's own errors (405, a path that does not decode) have the JSON error body too.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uprelay_tests::per_store;
use uprelay_tests::relay::{endpoint_path, raw_request, unique_token, Relay, StoreKind, VapidSigner};

per_store!([embedded], TEST_LIMIT; registration_input_is_strict, headers_and_framing_are_strict);

/// The JSON error body of a raw HTTP/1.1 response text, or a panic naming it.
fn json_error(text: &str) -> Value {
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not a JSON body: {text:?}"));
    assert!(v["error"].is_string() && v["message"].is_string(), "{text:?}");
    v
}

async fn registration_input_is_strict(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("input")).await;
    for dots in [".", "..", "...", "...."] {
        let (status, body) = relay.try_register(&dev, dots, None).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_instance")), "instance {dots:?}: {body}");
    }
    // Dots among other characters are fine.
    for fine in ["a.b", ".a", "a..", "..a"] {
        assert_eq!(relay.try_register(&dev, fine, None).await.0, StatusCode::CREATED, "instance {fine:?}");
    }
    // 65 bytes with the uncompressed-point prefix, but no point of the curve.
    let mut not_a_point = [0u8; 65];
    not_a_point[0] = 4;
    not_a_point[1..].fill(0x11);
    for key in [
        not_a_point,
        {
            let mut k = [0u8; 65];
            k[0] = 4;
            k
        },
        {
            let mut k = [0xFFu8; 65];
            k[0] = 4;
            k
        },
    ] {
        let (status, body) = relay.try_register(&dev, "vapid-app", Some(&URL_SAFE_NO_PAD.encode(key))).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_vapid")), "{body}");
    }
    assert_eq!(relay.try_register(&dev, "vapid-app", Some(&VapidSigner::new().public_b64())).await.0, StatusCode::CREATED);
    // Schemes are case-insensitive.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} {}", dev.secret);
        let (status, body) = relay.api_raw(Method::GET, &format!("/v1/devices/{}", dev.id), Some(&auth), None).await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {body}");
    }
}

async fn headers_and_framing_are_strict(store: StoreKind) {
    let relay = Relay::start(store).await;
    let dev = relay.create_device(&unique_token("framing")).await;
    let endpoint = relay.register(&dev, "app", None).await;
    let path = endpoint_path(&endpoint);
    let device = format!("/v1/devices/{}", dev.id);

    // Two Authorization headers: the right secret first or second, it is refused either way.
    for (first, second) in [(dev.secret.as_str(), "wrong"), ("wrong", dev.secret.as_str())] {
        let mut s = relay.raw().await;
        let head = format!(
            "GET {device} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAuthorization: Bearer {first}\r\nAuthorization: Bearer {second}"
        );
        let (status, text) = raw_request(&mut s, &head, b"").await;
        assert_eq!(status, 400, "{text}");
        assert_eq!(json_error(&text)["error"], "duplicate_authorization");
    }
    let mut s = relay.raw().await;
    let head = format!("POST {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTTL: 60\r\nContent-Length: 2\r\nAuthorization: vapid t=a, k=b\r\nAuthorization: vapid t=c, k=d");
    let (status, text) = raw_request(&mut s, &head, b"hi").await;
    assert_eq!(status, 400, "a push with two Authorization headers: {text}");

    // gzip, chunked: hyper would undo the chunking only and hand over a gzipped body.
    let mut s = relay.raw().await;
    let head = format!("POST {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTTL: 60\r\nTransfer-Encoding: gzip, chunked");
    let (status, text) = raw_request(&mut s, &head, b"5\r\nhello\r\n0\r\n\r\n").await;
    assert_eq!(status, 501, "{text}");
    assert_eq!(json_error(&text)["error"], "unsupported_transfer_encoding");
    // Plain chunked is fine.
    let mut s = relay.raw().await;
    let head = format!("POST {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTTL: 60\r\nTransfer-Encoding: chunked");
    let (status, text) = raw_request(&mut s, &head, b"5\r\nhello\r\n0\r\n\r\n").await;
    assert_eq!(status, 201, "{text}");
    assert_eq!(relay.messages(&dev.token).await.len(), 1, "only the chunked push reached FCM");

    // The router's 405 keeps its Allow header and gets the JSON body.
    let r = relay.request_raw(Method::PATCH, "/v1/devices", None, None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{r:?}");
    assert_eq!(r.error_code(), "method_not_allowed", "{r:?}");
    assert!(r.header("allow").is_some_and(|a| a.contains("POST")), "{r:?}");
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{r:?}");
    // A path segment that does not decode to UTF-8: axum's Path rejection, as JSON.
    let mut s = relay.raw().await;
    let (status, text) = raw_request(&mut s, "GET /v1/devices/%FF%FE HTTP/1.1\r\nHost: a\r\nConnection: close", b"").await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(json_error(&text)["error"], "bad_request");
}
