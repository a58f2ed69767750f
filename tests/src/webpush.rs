//! Web Push from the tests' side: subscription keys, pywebpush sends and http_ece
//! decryption (the Python scripts under `tests/python/`), and a VAPID signer and verifier of
//! our own for the raw requests pywebpush will not make (a wrong `aud`, a late `exp`).

use std::path::PathBuf;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use crate::relay::run_python;

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(h: &str) -> Vec<u8> {
    (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
}

/// A subscription's keys (`webpush_keys.py`): the application server's VAPID pair (its
/// private key in a PEM file for pywebpush) and the user agent's ECDH pair and auth secret.
pub struct Keys {
    pub json: Value,
    pub pem_file: PathBuf,
}

impl Keys {
    /// New keys; the VAPID PEM is written as `<dir>/<name>-vapid.pem`.
    pub fn new(dir: &std::path::Path, name: &str) -> Keys {
        let json = run_python("webpush_keys.py", &[]);
        let pem_file = dir.join(format!("{name}-vapid.pem"));
        std::fs::write(&pem_file, json["vapid_private_pem"].as_str().unwrap()).unwrap();
        assert_eq!(json["vapid_public"].as_str().unwrap().len(), 87, "{json}");
        Keys { json, pem_file }
    }

    pub fn get(&self, name: &str) -> &str {
        self.json[name].as_str().unwrap_or_else(|| panic!("no {name} in {}", self.json))
    }

    /// The VAPID public key, 87 characters of base64url.
    pub fn vapid_public(&self) -> &str {
        self.get("vapid_public")
    }

    /// pywebpush sends `message` to `endpoint`, encrypted for `self`'s subscription keys and
    /// signed with `signer`'s VAPID key; the push service's answer
    /// (`{"status","location","ttl","retry_after","body"}`). `--name=value` everywhere:
    /// base64url values may start with `-`, which argparse would take for an option.
    pub fn pywebpush(&self, endpoint: &str, signer: &Keys, message: &[u8], extra: &[&str]) -> Value {
        let mut args = vec![
            format!("--endpoint={endpoint}"),
            format!("--p256dh={}", self.get("p256dh")),
            format!("--auth={}", self.get("auth")),
            format!("--vapid-pem-file={}", signer.pem_file.display()),
            format!("--message-hex={}", hex(message)),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_python("webpush_send.py", &args)
    }

    /// http_ece decrypts `body` (an aes128gcm message, or with `encoding` "aesgcm" the
    /// UnifiedPush header-lines form) with the subscription's private key; the plaintext.
    pub fn decrypt(&self, body: &[u8], encoding: &str) -> Vec<u8> {
        let args = [
            format!("--ua-private={}", self.get("ua_private")),
            format!("--auth={}", self.get("auth")),
            format!("--body-b64={}", STANDARD.encode(body)),
            format!("--encoding={encoding}"),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        unhex(run_python("webpush_decrypt.py", &args)["plaintext_hex"].as_str().unwrap())
    }
}

/// A VAPID key pair that signs ES256 JWTs with any claims.
pub struct Signer {
    pair: EcdsaKeyPair,
}

impl Default for Signer {
    fn default() -> Self {
        Signer::new()
    }
}

impl Signer {
    pub fn new() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Signer { pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap() }
    }

    /// The public key, 87 characters of base64url.
    pub fn public(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
    }

    pub fn jwt(&self, claims: &Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        let input = format!("{}.{}", enc(&json!({"typ": "JWT", "alg": "ES256"})), enc(claims));
        let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// `vapid t=<JWT for aud, exp>, k=<key>`.
    pub fn authorization(&self, aud: &str, exp: i64) -> String {
        let t = self.jwt(&json!({"aud": aud, "exp": exp, "sub": "mailto:test@example.org"}));
        format!("vapid t={t}, k={}", self.public())
    }
}

/// The claims of the JWT in a `vapid t=…, k=…` Authorization header, after checking its ES256
/// signature against `key` (87-character base64url) and that `k` is that key.
pub fn verified_vapid_claims(authorization: &str, key: &str) -> Value {
    let rest = authorization.strip_prefix("vapid ").unwrap_or_else(|| panic!("not a vapid authorization: {authorization}"));
    let mut t = None;
    let mut k = None;
    for p in rest.split(',') {
        match p.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.trim()),
            Some(("k", v)) => k = Some(v.trim()),
            _ => {}
        }
    }
    let (t, k) = (t.expect("t="), k.expect("k="));
    assert_eq!(k, key, "the request was signed with another key than the one expected");
    let (input, sig) = t.rsplit_once('.').expect("a JWT");
    let pk = URL_SAFE_NO_PAD.decode(key).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &pk)
        .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
        .expect("the VAPID JWT's signature verifies with the key");
    let (header, claims) = input.split_once('.').unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256", "{header}");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
}
