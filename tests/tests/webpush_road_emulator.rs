//! The Web Push road's sending half against the emulator's Web Push service (a real
//! `uprelay emulator` process): a push framed, encrypted to a phone's keys made by Python,
//! signed with the road's VAPID identity and sent to a token issued for that identity; what
//! the emulator kept decrypts (http_ece) to the frame, and the frame to the instance, the
//! message id and the sender's bytes. Google's refusals come back as the service's status.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uprelay::ids::MessageId;
use uprelay::road::webpush::frame::parse;
use uprelay::road::webpush::{DeliveryError, Identity, WebPushError, WebPushRoad, WebPushSettings};
use uprelay::road::Message;
use uprelay::target::WebPushSubscription;
use uprelay_tests::emulator::EmulatorProcess;
use uprelay_tests::relay::random_body;
use uprelay_tests::webpush::{verified_vapid_claims, Keys};

struct Phone {
    keys: Keys,
    token: String,
    subscription: WebPushSubscription,
}

fn road_to(emu: &EmulatorProcess) -> WebPushRoad {
    let der =
        ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &ring::rand::SystemRandom::new())
            .unwrap();
    let identity = Arc::new(Identity::from_pkcs8(der.as_ref()).unwrap());
    let settings = WebPushSettings { http2_prior_knowledge: true, ..Default::default() };
    WebPushRoad::new(&settings, &emu.base_url, identity, "mailto:ops@example.org".into()).unwrap()
}

async fn phone_for(emu: &EmulatorProcess, vapid: &str, name: &str) -> Phone {
    let keys = Keys::new(emu.dir.path(), name);
    let resp: Value =
        emu.http.post(emu.url("/emulator/webpush/tokens")).json(&json!({ "vapid": vapid })).send().await.unwrap().json().await.unwrap();
    let token = resp["token"].as_str().unwrap_or_else(|| panic!("{resp}")).to_owned();
    // The subscription as the distributor API parses what the phone registers.
    let subscription = WebPushSubscription::parse(&token, keys.get("p256dh"), keys.get("auth")).unwrap();
    Phone { keys, token, subscription }
}

fn message<'a>(id: &'a MessageId, body: &'a [u8], topic: Option<&'a str>) -> Message<'a> {
    Message { id, body, ttl_secs: 3600, urgency: uprelay::webpush::Urgency::High, topic }
}

const INSTANCE: &str = "org.example.chat";

#[tokio::test]
async fn pushes_arrive_signed_encrypted_and_framed() {
    let emu = EmulatorProcess::start().await;
    let road = road_to(&emu);
    let phone = phone_for(&emu, road.vapid_public_key(), "phone").await;

    let (small_id, big_id) = (MessageId::generate(), MessageId::generate());
    let small = b"{\"type\":\"m.room.message\"}".to_vec();
    road.deliver(&phone.subscription, INSTANCE, message(&small_id, &small, Some("chat1"))).await.unwrap();
    let big = random_body(4096 + 60);
    road.deliver(&phone.subscription, INSTANCE, message(&big_id, &big, Some("chat1"))).await.unwrap();

    let kept = emu.messages(Some(&phone.token)).await;
    assert_eq!(kept.len(), 3, "one whole push and two halves: {kept:?}");
    let mut halves = Vec::new();
    for (i, m) in kept.iter().enumerate() {
        assert_eq!(m["road"], "webpush");
        let h = &m["headers"];
        assert_eq!(
            (h["ttl"].as_u64(), h["urgency"].as_str(), h["content-encoding"].as_str()),
            (Some(3600), Some("high"), Some("aes128gcm"))
        );
        assert_eq!(h["topic"].as_str(), (i == 0).then_some("chat1"), "Topic only on a whole push: {m}");
        let claims = verified_vapid_claims(h["authorization"].as_str().unwrap(), road.vapid_public_key());
        assert_eq!(claims["aud"], emu.base_url.as_str());
        assert_eq!(claims["sub"], "mailto:ops@example.org");
        let raw = STANDARD.decode(m["raw_data"].as_str().unwrap()).unwrap();
        assert!(raw.len() <= 4096, "{}", raw.len());
        // Google never sees the instance, the message id or the body in clear.
        for secret in [INSTANCE.as_bytes(), small_id.as_str().as_bytes(), big_id.as_str().as_bytes(), b"m.room.message"] {
            assert!(!raw.windows(secret.len()).any(|w| w == secret), "{:?} in clear", String::from_utf8_lossy(secret));
        }
        let frame = phone.keys.decrypt(&raw, "aes128gcm");
        let read = parse(&frame).expect("a version-1 frame");
        assert_eq!(read.instance, INSTANCE);
        match i {
            0 => assert_eq!((read.part, read.message_id, read.body), (0, small_id.as_str(), &small[..])),
            _ => {
                assert_eq!((read.part as usize, read.message_id), (i, big_id.as_str()));
                halves.extend_from_slice(read.body);
            }
        }
    }
    assert_eq!(halves, big, "the halves rejoin to the sender's bytes");
    // The JWT is signed once and reused.
    assert_eq!(kept[0]["headers"]["authorization"], kept[2]["headers"]["authorization"]);
}

#[tokio::test]
async fn the_services_refusals_come_back_as_its_status() {
    let emu = EmulatorProcess::start().await;
    let road = road_to(&emu);
    let phone = phone_for(&emu, road.vapid_public_key(), "phone").await;
    let status_of = |r: Result<(), DeliveryError>| match r {
        Err(DeliveryError::Service(WebPushError::Status { status, retry_after })) => (status, retry_after.map(|d| d.as_secs())),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let id = MessageId::generate();
    let msg = message(&id, b"x", None);

    emu.add_fault(json!({ "token": phone.token, "error": "QUOTA_EXCEEDED", "retry_after": 42, "times": 1 })).await;
    assert_eq!(status_of(road.deliver(&phone.subscription, INSTANCE, msg).await), (StatusCode::TOO_MANY_REQUESTS, Some(42)));
    emu.add_fault(json!({ "token": phone.token, "error": "UNAVAILABLE", "times": 1 })).await;
    assert_eq!(status_of(road.deliver(&phone.subscription, INSTANCE, msg).await).0, StatusCode::SERVICE_UNAVAILABLE);
    road.deliver(&phone.subscription, INSTANCE, msg).await.expect("delivered once the faults are spent");

    // A token issued for another sender's key: 403.
    let foreign = phone_for(&emu, &uprelay_tests::relay::VapidSigner::new().public_b64(), "foreign").await;
    assert_eq!(status_of(road.deliver(&foreign.subscription, INSTANCE, msg).await).0, StatusCode::FORBIDDEN);
    // Revoked: 410.
    let resp = emu.http.post(emu.url("/emulator/webpush/revoke")).json(&json!({ "token": phone.token })).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(status_of(road.deliver(&phone.subscription, INSTANCE, msg).await).0, StatusCode::GONE);
    // A token the service never issued: 404.
    let unknown = Phone {
        subscription: WebPushSubscription::parse("dGhpcyBpcyBub3Q:APA91bnever", phone.keys.get("p256dh"), phone.keys.get("auth")).unwrap(),
        ..phone
    };
    assert_eq!(status_of(road.deliver(&unknown.subscription, INSTANCE, msg).await).0, StatusCode::NOT_FOUND);
    assert_eq!(emu.messages(None).await.len(), 1, "only the delivered push was kept");
}
