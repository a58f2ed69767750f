//! Service-account keys the emulator generated and therefore trusts.

use std::sync::{Arc, RwLock};

use rand::Rng;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::json::J;

/// The public half of a key the emulator issued, and what it was issued for.
#[derive(Debug)]
pub struct TrustedKey {
    pub kid: String,
    pub client_email: String,
    pub project: String,
    pub token_uri: String,
    /// RSA modulus and exponent, big-endian (what `ring` verifies with).
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

#[derive(Default)]
pub struct KeyRing {
    keys: RwLock<Vec<Arc<TrustedKey>>>,
}

pub fn client_email(project: &str) -> String {
    format!("firebase-adminsdk-emu@{project}.iam.gserviceaccount.com")
}

impl KeyRing {
    /// Generate a fresh RSA-2048 key for `project`, trust it, and return the service-account JSON
    /// with the fields Google's console writes. Slow (tens to hundreds of ms): call it off the
    /// async runtime's worker threads.
    pub fn issue(&self, project: &str, token_uri: &str) -> Value {
        let mut rng = rand::rngs::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation failed");
        let pem = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM encoding failed");
        let kid: String = {
            let bytes: [u8; 20] = rng.gen();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        let client_id: String = {
            let mut s = String::with_capacity(21);
            s.push(char::from(b'1' + rng.gen_range(0..9u8)));
            for _ in 0..20 {
                s.push(char::from(b'0' + rng.gen_range(0..10u8)));
            }
            s
        };
        let email = client_email(project);
        let trusted = TrustedKey {
            kid: kid.clone(),
            client_email: email.clone(),
            project: project.to_owned(),
            token_uri: token_uri.to_owned(),
            n: key.n().to_bytes_be(),
            e: key.e().to_bytes_be(),
        };
        self.keys.write().unwrap().push(Arc::new(trusted));
        let email_escaped = email.replace('@', "%40");
        json!({
            "type": "service_account",
            "project_id": project,
            "private_key_id": kid,
            "private_key": pem.as_str(),
            "client_email": email,
            "client_id": client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!("https://www.googleapis.com/robot/v1/metadata/x509/{email_escaped}"),
            "universe_domain": "googleapis.com",
        })
    }

    /// Keys that may have signed an assertion: the one named by `kid` when it is known,
    /// otherwise every key of the service account `iss`.
    pub fn candidates(&self, kid: Option<&str>, iss: &str) -> Vec<Arc<TrustedKey>> {
        let keys = self.keys.read().unwrap();
        if let Some(kid) = kid {
            if let Some(k) = keys.iter().find(|k| k.kid == kid && k.client_email == iss) {
                return vec![k.clone()];
            }
        }
        keys.iter().filter(|k| k.client_email == iss).cloned().collect()
    }
}

/// Google's member order for service-account files (serde_json's `Value` sorts keys).
const SERVICE_ACCOUNT_ORDER: &[&str] = &[
    "type",
    "project_id",
    "private_key_id",
    "private_key",
    "client_email",
    "client_id",
    "auth_uri",
    "token_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
];

pub(crate) fn in_google_order(creds: &Value) -> J<'_> {
    use std::borrow::Cow;
    fn member(v: &Value) -> J<'_> {
        J::deserialize(v).unwrap_or(J::Null)
    }
    let mut members = Vec::new();
    if let Some(obj) = creds.as_object() {
        for k in SERVICE_ACCOUNT_ORDER {
            if let Some(v) = obj.get(*k) {
                members.push((Cow::Borrowed(*k), member(v)));
            }
        }
        for (k, v) in obj {
            if !SERVICE_ACCOUNT_ORDER.contains(&k.as_str()) {
                members.push((Cow::Borrowed(k.as_str()), member(v)));
            }
        }
    }
    J::Obj(members)
}
