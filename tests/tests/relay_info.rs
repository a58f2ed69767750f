//! `GET /v1/info` and `limits.require_vapid`: what a distributor learns before registering.

use reqwest::{Method, StatusCode};
use uprelay_tests::relay::{Relay, RelayConfig, StoreKind, VapidSigner, PROJECT};

#[tokio::test]
async fn info_names_the_projects_and_policy() {
    let relay = Relay::start(StoreKind::Embedded).await;
    let (status, body) = relay.api(Method::GET, "/v1/info", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["default_project"], PROJECT);
    assert_eq!(body["projects"][0]["id"], PROJECT);
    assert_eq!(body["require_vapid"], false);
    assert_eq!(body["max_registrations_per_device"], 100);
}

#[tokio::test]
async fn require_vapid_refuses_unrestricted_registrations() {
    let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).limit("require_vapid = true")).await;
    let dev = relay.create_device("require-vapid-token").await;
    let (status, body) = relay.try_register(&dev, "open", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "vapid_required");
    let signer = VapidSigner::new();
    relay.register(&dev, "restricted", Some(&signer.public_b64())).await;
    let (_, info) = relay.api(Method::GET, "/v1/info", None, None).await;
    assert_eq!(info["require_vapid"], true);
}
