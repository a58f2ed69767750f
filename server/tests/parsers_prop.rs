//! Property tests of everything that parses untrusted input: Web Push headers, VAPID
//! credentials and JWTs, stored records, and configuration. Each property runs
//! `CASES` generated inputs (override with PROPTEST_CASES); the counts are printed so
//! runs can be reported.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use uprelay::webpush::{PushHeaders, Urgency, VapidClaim, VapidKey, VapidVerifier};

const CASES: u32 = 4096;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    eprintln!("proptest: {cases} cases per property");
    ProptestConfig { cases, ..ProptestConfig::default() }
}

fn header_map(pairs: &[(String, Vec<u8>)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_bytes(v)) {
            h.append(k, v);
        }
    }
    h
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ttl".to_string()),
        Just("urgency".to_string()),
        Just("topic".to_string()),
        Just("authorization".to_string()),
        Just("crypto-key".to_string()),
        "[a-z-]{1,12}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary header bytes never panic; whatever is accepted is within bounds.
    #[test]
    fn push_headers_never_panic(pairs in prop::collection::vec((header_name(), prop::collection::vec(any::<u8>(), 0..48)), 0..6)) {
        let h = header_map(&pairs);
        if let Ok(p) = PushHeaders::parse(&h, 86_400, 2_419_200) {
            prop_assert!(p.ttl.secs() <= 2_419_200);
            if let Some(t) = p.topic {
                prop_assert!(!t.as_str().is_empty() && t.as_str().len() <= 32);
            }
        }
    }

    /// Every delta-seconds value parses to itself (clamped).
    #[test]
    fn ttl_digits_round_trip(n in any::<u64>()) {
        let h = header_map(&[("ttl".into(), n.to_string().into_bytes())]);
        let p = PushHeaders::parse(&h, 1, 2_419_200).unwrap();
        prop_assert_eq!(p.ttl.secs() as u64, n.min(2_419_200));
    }

    /// Valid urgencies in any case parse; anything else is refused.
    #[test]
    fn urgency_only_four_values(s in "[a-zA-Z-]{0,10}") {
        let h = header_map(&[("urgency".into(), s.clone().into_bytes())]);
        let expected = match s.to_ascii_lowercase().as_str() {
            "very-low" => Some(Urgency::VeryLow),
            "low" => Some(Urgency::Low),
            "normal" => Some(Urgency::Normal),
            "high" => Some(Urgency::High),
            _ => None,
        };
        prop_assert_eq!(PushHeaders::parse(&h, 1, 10).ok().map(|p| p.urgency), expected);
    }

    /// Arbitrary Authorization / Crypto-Key values never panic and never pass.
    #[test]
    fn vapid_garbage_never_passes(
        auth in prop::collection::vec(any::<u8>(), 0..300),
        scheme in prop_oneof![Just("vapid t="), Just("WebPush "), Just("")],
        crypto in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let key = VapidKey::from_bytes(&[4u8; 65]).unwrap();
        let verifier = VapidVerifier::new("https://push.example.org");
        let mut value = scheme.as_bytes().to_vec();
        value.extend(auth);
        let h = header_map(&[("authorization".into(), value), ("crypto-key".into(), crypto)]);
        prop_assert!(verifier.verify(&VapidClaim::from_headers(&h), &key, 1_700_000_000).is_err());
    }

    /// JWT-shaped garbage (three base64url parts) with the right key never passes.
    #[test]
    fn vapid_jwt_shaped_garbage_never_passes(a in "[A-Za-z0-9_-]{0,60}", b in "[A-Za-z0-9_-]{0,120}", c in "[A-Za-z0-9_-]{0,90}") {
        let key = VapidKey::from_bytes(&[4u8; 65]).unwrap();
        let verifier = VapidVerifier::new("https://push.example.org");
        let value = format!("vapid t={a}.{b}.{c}, k={}", key.to_b64());
        let h = header_map(&[("authorization".into(), value.into_bytes())]);
        prop_assert!(verifier.verify(&VapidClaim::from_headers(&h), &key, 1_700_000_000).is_err());
    }

    /// Key parsing accepts exactly the 65-byte uncompressed points.
    #[test]
    fn vapid_key_parse_total(s in "[A-Za-z0-9_=-]{0,100}") {
        if let Some(k) = VapidKey::parse(&s) {
            prop_assert_eq!(k.as_bytes()[0], 4);
            prop_assert_eq!(VapidKey::parse(&k.to_b64()), Some(k));
        }
    }

    /// Arbitrary TOML-ish text as a config file never panics.
    #[test]
    fn config_never_panics(text in "[a-z_\\[\\]=\". 0-9\n]{0,200}") {
        let dir = std::env::temp_dir().join(format!("uprelay-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.toml", rand_suffix(&text)));
        std::fs::write(&path, &text).unwrap();
        let _ = uprelay::config::Config::load(Some(&path));
        let _ = std::fs::remove_file(&path);
    }
}

fn rand_suffix(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    std::thread::current().id().hash(&mut h);
    h.finish()
}
