//! Stores written by the release before typed device targets (token-only devices) keep
//! serving their devices, with no migration step, in both stores. The records below are
//! the exact bytes that release wrote (captured from its `EmbeddedStore` and `RedisStore`:
//! a device with token `TOKEN` in `test-project`, one plain registration with a UUID
//! instance and one restricted to a VAPID key); this release reads them as they are, pushes
//! to their endpoints by `message.token`, and moves such a device to a FID.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use redb::TableDefinition;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uprelay_tests::redis::RedisServer;
use uprelay_tests::relay::{Device, Relay, RelayConfig, StoreKind, TEST_LIMIT};
use uprelay_tests::webpush::unhex as hex;

/// The device's FCM token in every captured record.
const TOKEN: &str = "dGhpc0lzQVRva2VuMTIzNDU2:APA91bHx9y8z7w6v5u4t3s2r1q0p-o_n";
/// The UUID instance's registration (unrestricted) and the restricted one's instance.
const UUID_INSTANCE: &str = "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
const VAPID_INSTANCE: &str = "app.two";
/// The key `app.two` is restricted to (RFC 8291's example public key).
const VAPID: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";

/// The embedded store's device: id, secret, and the endpoints of the two registrations.
const EMB_DEVICE: &str = "BOU4Y6OwWfSAc1Xud262bg";
const EMB_SECRET: &str = "N0yOVVXgo5edCKdaahq2VQLNNzXXgiEnn8nlkUQewJQ";
const EMB_UUID_ENDPOINT: &str = "6Z8jc00WVHkrvES0a1tknctV2UHVDB4y";
const EMB_VAPID_ENDPOINT: &str = "7YoiFA-xvrl842O6_NrLB9RyCwNDpk5B";
/// `devices` table: the device record (version 2: secret hash, project, token as text, registrations).
const EMB_DEVICE_RECORD: &str = "02d6ea5be14d96bc3f8711dcda8204617a0c746573742d70726f6a65637439006447687063306c7a51565276613256754d54497a4e4455323a41504139316248783979387a377736763575347433733272317130702d6f5f6e2436663163326433652d346235612d346336642d386537662d30613162326333643465356621365a386a6330305756486b72764553306131746b6e637456325548564442347900076170702e74776f6237596f6946412d7876726c3834324f365f4e724c4239527943774e44706b354201042571b2becdfde360551aaf1ed0f4cd366c11cebe555f89bcb7b186a53339173168ece2ebe018597bd30479b86e3c8f8eced577ca59187e9246990db682008b0e";
/// `endpoints` table: the two routes (version 1: device, instance, project, token as text, VAPID).
const EMB_UUID_ROUTE: &str = "0116424f553459364f7757665341633158756432363262672436663163326433652d346235612d346336642d386537662d3061316232633364346535660c746573742d70726f6a65637439006447687063306c7a51565276613256754d54497a4e4455323a41504139316248783979387a377736763575347433733272317130702d6f5f6e00";
const EMB_VAPID_ROUTE: &str = "0116424f553459364f775766534163315875643236326267076170702e74776f0c746573742d70726f6a65637439006447687063306c7a51565276613256754d54497a4e4455323a41504139316248783979387a377736763575347433733272317130702d6f5f6e01042571b2becdfde360551aaf1ed0f4cd366c11cebe555f89bcb7b186a53339173168ece2ebe018597bd30479b86e3c8f8eced577ca59187e9246990db682008b0e";

/// The Redis store's device, and its sealed endpoints.
const RED_DEVICE: &str = "hUg2kga4RKM0QdsMDacclQ";
const RED_SECRET: &str = "VjyauxjD2fWLU21sgWz0f-m9z_VPlWLQ1L9UTzgAz08";
const RED_UUID_ENDPOINT: &str = "cqQoDMaeEn9c7ABx349qACjKOjoXfUsflNHJi9vstIhaA07cU4yLauO1oJc5U0PN7rnew95TEfjlHY3YaXjt3w";
const RED_VAPID_ENDPOINT: &str = "b4Nxs_9B_30KDZMxZH10g7WY7c7Xtxor1X0lct5iKZo75bhRkkY2uEqJ9fpcFByhVwmOSi7lvQlPOpZhFrd6zQ";
/// Every key that release wrote for them: (kind, key, field, value), all hex.
const RED_KEYS: &[(&str, &str, &str, &str)] = &[
    // up:b:{8548}: the VAPID-restricted registration, the UUID one, the device head (token packed).
    ("hash", "75703a623a7b383534387d", "8548369206b844a33441db0c0da71c95311e11362ce8a1d0d011d28a5c3d2f6c959dd2e5", "01042571b2becdfde360551aaf1ed0f4cd366c11cebe555f89bcb7b186a53339173168ece2ebe018597bd30479b86e3c8f8eced577ca59187e9246990db682008b0e6170702e74776f"),
    ("hash", "75703a623a7b383534387d", "8548369206b844a33441db0c0da71c95c76be8925aa2aeed3ec872e4997732edef740413", "00ff6f1c2d3e4b5a4c6d8e7f0a1b2c3d4e5f"),
    ("hash", "75703a623a7b383534387d", "8548369206b844a33441db0c0da71c95", "3b0d7eacca7e6aa5f5447d2bdac416e70102183274686973497341546f6b656e3132333435361f1f72f33ef0eafe6ee2ddecdabd6ad29fa8fe70"),
    // up:projects
    ("hash", "75703a70726f6a65637473", "6e657874", "31"),
    ("hash", "75703a70726f6a65637473", "6e3a746573742d70726f6a656374", "31"),
    ("hash", "75703a70726f6a65637473", "693a31", "746573742d70726f6a656374"),
    // up:sealing-key
    ("string", "75703a7365616c696e672d6b6579", "", "705ca5e256bb0f14082544f10d33d74930e8e95512c9ed97c595b0945951d5e8"),
];

/// What this release must make of the old device: it shows, its pushes go by token, its
/// restriction holds, and it moves to a FID with its endpoints.
async fn serves_the_old_device(relay: &Relay, id: &str, secret: &str, plain: &str, restricted: &str) {
    let dev = Device { id: id.to_owned(), secret: secret.to_owned(), token: TOKEN.to_owned() };
    let (status, shown) = relay.show_device(&dev).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!((&shown["road"], &shown["target"], &shown["project"]), (&json!("fcm"), &json!("token"), &json!("test-project")), "{shown}");
    let regs = shown["registrations"].as_array().unwrap();
    let of = |instance: &str| regs.iter().find(|r| r["instance"] == instance).cloned().unwrap_or(Value::Null);
    assert_eq!(of(UUID_INSTANCE)["endpoint"], relay.url(&format!("/up/{plain}")), "{shown}");
    assert_eq!(of(VAPID_INSTANCE)["endpoint"], relay.url(&format!("/up/{restricted}")), "{shown}");
    assert_eq!(of(VAPID_INSTANCE)["vapid"], VAPID, "{shown}");

    let resp = relay.push(&relay.url(&format!("/up/{plain}")), &[], "to an old device").await;
    assert_eq!(resp.status, StatusCode::CREATED, "{}", resp.body);
    let msgs = relay.messages(TOKEN).await;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["message"]["token"], TOKEN);
    assert_eq!(msgs[0]["message"]["data"]["i"], UUID_INSTANCE);
    assert_eq!(STANDARD.decode(msgs[0]["message"]["data"]["b"].as_str().unwrap()).unwrap(), b"to an old device");
    let resp = relay.push(&relay.url(&format!("/up/{restricted}")), &[], "unsigned").await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "the VAPID restriction still holds: {}", resp.body);

    // Rotated to a FID, in place: the old record is rewritten, the endpoints stay.
    let fid = "eOldStoreMovedToFid012";
    let (status, body) = relay.api(Method::PUT, &format!("/v1/devices/{id}"), Some(secret), Some(json!({ "fcm_fid": fid }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(relay.show_device(&dev).await.1["registrations"], shown["registrations"]);
    assert_eq!(relay.push(&relay.url(&format!("/up/{plain}")), &[], "now by fid").await.status, StatusCode::CREATED);
    let by_fid: Vec<Value> = serde_json::from_str(&relay.emulator.client.messages_text(&format!("?fid={fid}")).await).unwrap();
    assert_eq!(by_fid.len(), 1, "{by_fid:?}");
    assert_eq!(by_fid[0]["message"]["fid"], fid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_store_of_the_previous_release_serves_its_devices() {
    uprelay_tests::relay::run_bounded("embedded previous release", TEST_LIMIT, async {
        let mut relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).no_rate_limits()).await;
        // SIGKILL: the file must be free to open here; redb is crash-safe.
        relay.kill();
        relay.wait_exit(std::time::Duration::from_secs(10)).await.expect("uprelay exits on SIGKILL");
        {
            let db = redb::Database::create(relay.dir.join("data").join("uprelay.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut devices = txn.open_table(TableDefinition::<&str, &[u8]>::new("devices")).unwrap();
                devices.insert(EMB_DEVICE, hex(EMB_DEVICE_RECORD).as_slice()).unwrap();
                let mut endpoints = txn.open_table(TableDefinition::<&str, &[u8]>::new("endpoints")).unwrap();
                endpoints.insert(EMB_UUID_ENDPOINT, hex(EMB_UUID_ROUTE).as_slice()).unwrap();
                endpoints.insert(EMB_VAPID_ENDPOINT, hex(EMB_VAPID_ROUTE).as_slice()).unwrap();
            }
            txn.commit().unwrap();
        }
        relay.restart().await;
        serves_the_old_device(&relay, EMB_DEVICE, EMB_SECRET, EMB_UUID_ENDPOINT, EMB_VAPID_ENDPOINT).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_store_of_the_previous_release_serves_its_devices() {
    uprelay_tests::relay::run_bounded("redis previous release", TEST_LIMIT, async {
        let redis = RedisServer::private().await;
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        for (kind, key, field, value) in RED_KEYS {
            let mut cmd = match *kind {
                "hash" => {
                    let mut c = redis::cmd("HSET");
                    c.arg(hex(key)).arg(hex(field));
                    c
                }
                _ => {
                    let mut c = redis::cmd("SET");
                    c.arg(hex(key));
                    c
                }
            };
            let _: () = cmd.arg(hex(value)).query_async(&mut conn).await.unwrap();
        }
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Redis).store_urls(vec![redis.url().to_owned()]).no_rate_limits()).await;
        serves_the_old_device(&relay, RED_DEVICE, RED_SECRET, RED_UUID_ENDPOINT, RED_VAPID_ENDPOINT).await;
    })
    .await
}
