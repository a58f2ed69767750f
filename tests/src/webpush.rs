//! Web Push from the tests' side: subscription keys, pywebpush sends and http_ece
//! decryption (the Python scripts under `tests/python/`), and a check of a VAPID
//! authorization against the key it must have been signed with.

use std::path::PathBuf;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use serde_json::Value;

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
