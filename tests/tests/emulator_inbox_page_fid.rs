//! The emulator's inbox page, in a real headless Chromium, for a device reached by its
//! Firebase Installation ID: the message shows its target kind (`target fid`, the FID
//! shortened), a fault added in the page for that FID fails the next push, and the rejected
//! send and the fault list name the FID as such.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uprelay_tests::browser::Browser;
use uprelay_tests::relay::{random_bytes, run_bounded, Device, Relay, RelayConfig, StoreKind, TEST_LIMIT};

const SHOWN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_page_shows_fid_targets_and_fid_faults() {
    run_bounded("inbox_page_shows_fid_targets_and_fid_faults", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).no_rate_limits()).await;
        let mut bytes = random_bytes(17);
        bytes[0] = 0b0111_0000 | (bytes[0] & 0x0f);
        let fid = URL_SAFE_NO_PAD.encode(bytes)[..22].to_owned();
        let (status, body) = relay.api(Method::POST, "/v1/devices", None, Some(json!({ "fcm_fid": fid }))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let dev = Device { id: body["device_id"].as_str().unwrap().into(), secret: body["secret"].as_str().unwrap().into(), token: fid.clone() };
        let endpoint = relay.register(&dev, "app.fid", None).await;
        let r = relay.push(&endpoint, &[("TTL", "60")], "to an installation").await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let id = r.message_id();
        let short = format!("{}…{}", &fid[..8], &fid[fid.len() - 6..]);

        let mut page = Browser::open(&format!("{}/", relay.emulator.base_url), 1200, 1400).await;
        let entry = format!("#messages li[data-m=\"{id}\"]");
        assert!(page.wait_for(&format!("document.querySelectorAll({entry:?}).length === 1"), SHOWN).await, "the push is shown");
        let shown = page.eval(&format!("document.querySelector({entry:?}).innerText")).await;
        let shown = shown.as_str().unwrap();
        for want in ["target fid", &format!("fid {short}"), "to an installation", "app.fid"] {
            assert!(shown.contains(want), "{want:?} not in the entry:\n{shown}");
        }
        assert!(!shown.contains("token "), "a FID is not shown as a token:\n{shown}");
        assert!(!shown.contains(&fid), "the FID is shortened:\n{shown}");

        // A fault for this FID, added in the page.
        page.eval("(() => { const s = document.getElementById('fault-error'); s.value = 'UNREGISTERED'; s.dispatchEvent(new Event('change')); })()")
            .await;
        page.type_into("#fault-fid", &fid).await;
        page.click("#fault-add").await;
        assert!(
            page.wait_for("document.getElementById('fault-result').textContent.startsWith('added fault')", SHOWN).await,
            "the page says the fault was added: {}",
            page.eval("document.getElementById('fault-result').textContent").await
        );
        let faults = relay.emulator.client.faults().await;
        assert_eq!(faults["faults"][0]["fid"], fid.as_str(), "{faults}");
        assert!(faults["faults"][0].get("token").is_none(), "{faults}");
        assert!(page.wait_for(&format!("Array.from(document.querySelectorAll('#faults li.fault'), (e) => e.innerText).some((t) => t.includes({:?}))", format!("fid {short}")), SHOWN).await);

        let r = relay.push(&endpoint, &[("TTL", "60")], "after the fault").await;
        assert_eq!(r.status, StatusCode::GONE, "{r:?}");
        assert!(page.wait_for("document.querySelectorAll('#rejected li[data-error=\"UNREGISTERED\"]').length === 1", SHOWN).await);
        let rejected = page.eval("document.querySelector('#rejected li').innerText").await;
        let rejected = rejected.as_str().unwrap();
        for want in ["FCM error UNREGISTERED", &format!("fid {short}"), "after the fault"] {
            assert!(rejected.contains(want), "{want:?} not in the rejected entry:\n{rejected}");
        }
    })
    .await
}
