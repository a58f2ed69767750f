//! `POST /token`: Google's OAuth2 JWT-bearer grant for service accounts (RFC 7523); the
//! access tokens it hands out are kept in [`crate::tokens`].

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{json, Value};

use crate::errors::{json_response, OAuthError};
use crate::state::Emulator;
use crate::wire::FCM_SCOPE;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const SCOPE_CLOUD: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google caps service-account assertions at one hour.
pub const MAX_ASSERTION_LIFETIME: i64 = 3600;
/// Clock skew tolerated on `iat` (assertions signed "in the future") — undocumented by Google.
pub const CLOCK_SKEW: i64 = 60;

/// Audiences Google's own token endpoint accepts; google-auth (Python) always signs for the first
/// one, whatever `token_uri` says.
pub const GOOGLE_AUDIENCES: &[&str] =
    &["https://oauth2.googleapis.com/token", "https://www.googleapis.com/oauth2/v4/token", "https://accounts.google.com/o/oauth2/token"];

const MSG_TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.";
const MSG_SIGNATURE: &str = "Invalid JWT Signature.";

/// base64url that accepts segments with or without `=` padding (yup-oauth2 pads).
const B64URL_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent));

/// `POST /token`.
pub async fn token(State(emu): State<Emulator>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    match grant(&emu, &headers, &uri, &body) {
        Ok(resp) => resp,
        Err(e) => {
            tracing::debug!(error = e.error, description = %e.description, "emulator: token request refused");
            e.into_response()
        }
    }
}

fn grant(emu: &Emulator, headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<Response, OAuthError> {
    let mut grant_type = None;
    let mut assertion = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "grant_type" => grant_type = Some(v.into_owned()),
            "assertion" => assertion = Some(v.into_owned()),
            _ => {}
        }
    }
    let grant_type = grant_type.unwrap_or_default();
    if grant_type != JWT_BEARER {
        return Err(OAuthError { error: "unsupported_grant_type", description: format!("Invalid grant_type: {grant_type}") });
    }
    let Some(assertion) = assertion.filter(|a| !a.is_empty()) else {
        return Err(OAuthError { error: "invalid_request", description: "Missing required parameter: assertion".into() });
    };
    let request_token_uri = request_authority(headers, uri).map(|h| format!("http://{h}/token"));
    let project = verify_assertion(emu, &assertion, request_token_uri.as_deref())?;

    let lifetime = emu.inner.token_lifetime;
    let access_token = emu.inner.tokens.issue(&project, lifetime);
    let body = json!({
        "access_token": access_token,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    });
    let mut resp = json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default());
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Check a JWT-bearer assertion; on success return the project its key belongs to.
fn verify_assertion(emu: &Emulator, assertion: &str, request_token_uri: Option<&str>) -> Result<String, OAuthError> {
    let malformed = |what: &str| OAuthError::invalid_grant(format!("Invalid JWT: {what}"));
    let mut parts = assertion.split('.');
    let (Some(h64), Some(c64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("expected three dot-separated segments"));
    };
    let header: Value = B64URL_LENIENT
        .decode(h64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("header is not base64url JSON"))?;
    let claims: Value = B64URL_LENIENT
        .decode(c64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| malformed("claim set is not base64url JSON"))?;
    let signature = B64URL_LENIENT.decode(s64).map_err(|_| malformed("signature is not base64url"))?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(malformed("unsupported signing algorithm (only RS256)"));
    }

    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
    if iss.is_empty() {
        return Err(OAuthError::invalid_grant("Invalid JWT: No iss claim."));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates = emu.inner.keys.candidates(kid, iss);
    if candidates.is_empty() {
        return Err(OAuthError::invalid_grant("Invalid grant: account not found"));
    }
    // The signature covers the first two segments exactly as sent (padding included).
    let signed = &assertion.as_bytes()[..h64.len() + 1 + c64.len()];
    let key = candidates
        .iter()
        .find(|k| {
            ring::signature::RsaPublicKeyComponents { n: &k.n, e: &k.e }
                .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signed, &signature)
                .is_ok()
        })
        .ok_or_else(|| OAuthError::invalid_grant(MSG_SIGNATURE))?;

    let aud_ok = |aud: &str| aud == key.token_uri || Some(aud) == request_token_uri || GOOGLE_AUDIENCES.contains(&aud);
    let aud_matches = match claims.get("aud") {
        Some(Value::String(a)) => aud_ok(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(aud_ok),
        _ => false,
    };
    if !aud_matches {
        return Err(OAuthError::invalid_grant(format!("Invalid JWT: Failed audience check. The right audience is {}", key.token_uri)));
    }

    let scope = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
    if scope.split_whitespace().next().is_none() {
        return Err(OAuthError { error: "invalid_scope", description: "Empty or missing scope not allowed.".into() });
    }
    if !scope.split_whitespace().any(|s| s == FCM_SCOPE || s == SCOPE_CLOUD) {
        return Err(OAuthError { error: "invalid_scope", description: "Invalid OAuth scope or ID token audience provided.".into() });
    }

    let num = |name: &str| claims.get(name).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)));
    let (Some(iat), Some(exp)) = (num("iat"), num("exp")) else {
        return Err(OAuthError::invalid_grant(MSG_TIMEFRAME));
    };
    let now = crate::time::unix_secs();
    if iat > now + CLOCK_SKEW || exp <= now || exp <= iat || exp - iat > MAX_ASSERTION_LIFETIME {
        return Err(OAuthError::invalid_grant(MSG_TIMEFRAME));
    }
    Ok(key.project.clone())
}

/// The authority the client dialled: `Host` (HTTP/1.1) or the URI's authority (h2 `:authority`).
pub(crate) fn request_authority(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned).or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
}
