//! Google service-account files: the one parser of credentials, used for configured
//! projects, the sandbox emulator's credentials and `fcm-send`.

pub use yup_oauth2::ServiceAccountKey;

use super::error::FcmError;

/// Parse a Google service-account JSON: the one parser of credentials, used for
/// configured projects, the sandbox emulator's credentials and `fcm-send`. The RSA key is
/// checked here too, because yup-oauth2 would only parse it at the first token request.
pub fn service_account_from_json(json: &str) -> Result<ServiceAccountKey, FcmError> {
    let account =
        yup_oauth2::parse_service_account_key(json).map_err(|e| FcmError::Auth(format!("not a Google service-account JSON: {e}")))?;
    <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&account.private_key)
        .map(drop)
        .or_else(|_| <rsa::RsaPrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(&account.private_key).map(drop))
        // rsa's message names what is wrong with the PEM, never its content.
        .map_err(|e| FcmError::Auth(format!("private_key is not an RSA key in PEM: {e}")))?;
    Ok(account)
}

/// Read and parse a service-account file (see [`service_account_from_json`]).
pub fn read_service_account(path: &std::path::Path) -> Result<ServiceAccountKey, FcmError> {
    let raw = std::fs::read_to_string(path).map_err(|e| FcmError::Auth(format!("{}: {e}", path.display())))?;
    service_account_from_json(&raw).map_err(|e| FcmError::Auth(format!("{}: {e}", path.display())))
}
