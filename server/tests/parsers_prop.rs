//! Property tests of everything that parses untrusted input: Web Push headers, VAPID
//! credentials and JWTs, the `aesgcm` parameters, stored records, and configuration.
//! (The Matrix notification parser, private to the gateway, has its own next to it:
//! `gateway::notification::properties`.) Each property runs
//! `CASES` generated inputs (override with PROPTEST_CASES); the counts are printed so
//! runs can be reported.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use uprelay::webpush::{aesgcm_prefix, PushHeaders, Urgency, VapidClaim, VapidKey, VapidVerifier};

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

/// A real P-256 key pair, made once. The "never passes" properties below need a key that is
/// a curve point: with one that is not, every signature check fails whatever the verifier
/// does, and the properties could not fail.
fn signer() -> &'static (ring::signature::EcdsaKeyPair, VapidKey) {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    static PAIR: std::sync::OnceLock<(EcdsaKeyPair, VapidKey)> = std::sync::OnceLock::new();
    PAIR.get_or_init(|| {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let key = VapidKey::from_bytes(pair.public_key().as_ref()).expect("a generated P-256 point");
        (pair, key)
    })
}

const AUDIENCE: &str = "https://push.example.org";
const NOW: u64 = 1_700_000_000;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An ES256 JWT header and claims that the verifier accepts at [`NOW`], base64url.
fn valid_header_and_claims() -> (String, String) {
    let claims = format!(r#"{{"aud":"{AUDIENCE}","exp":{},"sub":"mailto:ops@example.org"}}"#, NOW + 3600);
    (b64(br#"{"typ":"JWT","alg":"ES256"}"#), b64(claims.as_bytes()))
}

/// `vapid t=…, k=…` with the real key.
fn authorization(jwt: &str) -> HeaderMap {
    header_map(&[("authorization".into(), format!("vapid t={jwt}, k={}", signer().1.to_b64()).into_bytes())])
}

/// The control of the properties: a JWT signed with the key passes; one bit off in the
/// signature does not.
#[test]
fn vapid_signed_jwt_passes_and_a_flipped_signature_bit_does_not() {
    let (pair, key) = signer();
    let (h, c) = valid_header_and_claims();
    let input = format!("{h}.{c}");
    let sig = pair.sign(&ring::rand::SystemRandom::new(), input.as_bytes()).unwrap();
    let good = format!("{input}.{}", b64(sig.as_ref()));
    assert!(VapidVerifier::new(AUDIENCE).verify(&VapidClaim::from_headers(&authorization(&good)), key, NOW).is_ok());
    let mut bad = sig.as_ref().to_vec();
    bad[10] ^= 1;
    let bad = format!("{input}.{}", b64(&bad));
    assert!(VapidVerifier::new(AUDIENCE).verify(&VapidClaim::from_headers(&authorization(&bad)), key, NOW).is_err());
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
        let key = &signer().1;
        let verifier = VapidVerifier::new(AUDIENCE);
        let mut value = scheme.as_bytes().to_vec();
        value.extend(auth);
        let h = header_map(&[("authorization".into(), value), ("crypto-key".into(), crypto)]);
        prop_assert!(verifier.verify(&VapidClaim::from_headers(&h), key, NOW).is_err());
    }

    /// JWT-shaped garbage (three base64url parts) with the right key never passes, also
    /// when the header and claims are valid and only the signature is not the key's.
    #[test]
    fn vapid_jwt_shaped_garbage_never_passes(
        a in prop_oneof!["[A-Za-z0-9_-]{0,60}", Just(valid_header_and_claims().0)],
        b in prop_oneof!["[A-Za-z0-9_-]{0,120}", Just(valid_header_and_claims().1)],
        c in prop_oneof!["[A-Za-z0-9_-]{0,90}", "[A-Za-z0-9_-]{86}"],
    ) {
        let verifier = VapidVerifier::new(AUDIENCE);
        let h = authorization(&format!("{a}.{b}.{c}"));
        prop_assert!(verifier.verify(&VapidClaim::from_headers(&h), &signer().1, NOW).is_err());
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

/// One `name=value` parameter of an `Encryption` / `Crypto-Key` header, as senders and
/// attackers spell them: the names that matter in any case, odd spacing, quotes, empties.
fn aesgcm_param() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        Just("salt"),
        Just("dh"),
        Just("p256ecdsa"),
        Just("P256ECDSA"),
        Just("P256ecdsa"),
        Just("rs"),
        Just("keyid"),
        Just("DH"),
        Just(""),
    ];
    (name, "[ \t]{0,2}", "[A-Za-z0-9_=\\\"+/ -]{0,20}").prop_map(|(n, sp, v)| format!("{sp}{n}{sp}={sp}{v}"))
}

/// A header value: parameters joined by `;` or `,`, sometimes with garbage around.
fn aesgcm_header() -> impl Strategy<Value = String> {
    (prop::collection::vec((aesgcm_param(), prop_oneof![Just(";"), Just(","), Just("; "), Just(" , ")]), 0..5), "[ -~]{0,6}")
        .prop_map(|(ps, tail)| ps.into_iter().map(|(p, sep)| format!("{p}{sep}")).collect::<String>() + &tail)
}

/// The parameters of a header value, as the relay splits them.
fn split_params(v: &str) -> Vec<String> {
    v.split([';', ',']).map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

fn named(param: &str, name: &str) -> bool {
    param.split_once('=').is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
}

proptest! {
    #![proptest_config(config())]

    /// The `aesgcm` prefix from any Encryption / Crypto-Key headers: never a panic; when
    /// accepted, three lines, `Encryption` exactly as sent (values joined), every
    /// `Crypto-Key` parameter kept in order except `p256ecdsa`, which never survives in
    /// any spelling; and salt and dh are there.
    #[test]
    fn aesgcm_prefix_keeps_the_keys_and_drops_the_vapid_key(
        encryption in prop::collection::vec(aesgcm_header(), 0..3),
        crypto_key in prop::collection::vec(aesgcm_header(), 0..3),
        raw in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut h = HeaderMap::new();
        for v in &encryption {
            if let Ok(v) = HeaderValue::from_str(v) { h.append("encryption", v); }
        }
        for v in &crypto_key {
            if let Ok(v) = HeaderValue::from_str(v) { h.append("crypto-key", v); }
        }
        if let Ok(v) = HeaderValue::from_bytes(&raw) {
            if raw.first() == Some(&b'x') { h.append("crypto-key", v); }
        }
        let Ok(prefix) = aesgcm_prefix(&h) else { return Ok(()) };
        let text = String::from_utf8(prefix).expect("the prefix is text");
        let lines: Vec<&str> = text.split('\n').collect();
        prop_assert_eq!(lines.len(), 4, "{:?}", text);
        prop_assert_eq!(lines[0], "aesgcm");
        prop_assert_eq!(lines[3], "");
        let sent_encryption: Vec<&str> = h.get_all("encryption").iter().map(|v| v.to_str().unwrap().trim()).collect();
        let sent_encryption = sent_encryption.join(",");
        prop_assert_eq!(lines[1].strip_prefix("Encryption: "), Some(sent_encryption.as_str()));
        let sent_keys: Vec<String> = h
            .get_all("crypto-key")
            .iter()
            .flat_map(|v| split_params(v.to_str().unwrap()))
            .filter(|p| !named(p, "p256ecdsa"))
            .collect();
        let delivered = lines[2].strip_prefix("Crypto-Key: ").expect("a Crypto-Key line");
        prop_assert_eq!(split_params(delivered), sent_keys);
        prop_assert!(!split_params(delivered).iter().any(|p| named(p, "p256ecdsa")), "{:?}", text);
        prop_assert!(split_params(&sent_encryption).iter().any(|p| named(p, "salt")));
        prop_assert!(split_params(delivered).iter().any(|p| named(p, "dh")));
    }
}
