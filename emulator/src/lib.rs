//! A faithful stand-in for Firebase Cloud Messaging (HTTP v1) and Google's OAuth token endpoint,
//! for tests, benchmarks and app developers (`uprelay emulator` through [`run`], and
//! `uprelay serve` in sandbox mode through [`start`]).
//!
//! It depends on nothing of the relay; the relay depends on it for that command, for sandbox
//! mode, and for the facts of FCM's wire both must agree on ([`wire`]).
//!
//! # HTTP surface
//! Google's side:
//! - `POST /token` — OAuth2 JWT-bearer grant (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`,
//!   `assertion=<JWT>`). The RS256 signature must verify with a key this emulator issued (found by
//!   the `kid` header, else by `iss` = client_email; base64url segments may be padded or not),
//!   `aud` must be the `token_uri` written into that key's credentials, `http://<Host>/token`, or
//!   one of Google's own token URLs (google-auth always signs for `https://oauth2.googleapis.com/token`),
//!   `scope` must contain `.../auth/firebase.messaging` or `.../auth/cloud-platform`, `iat` may be at
//!   most 60 s in the future, `exp` must be in the future and at most 3600 s after `iat`.
//!   Success: `{"access_token","expires_in","token_type":"Bearer"}`. Refusals: 400
//!   `{"error","error_description"}` with `invalid_grant` (signature, account, audience, times),
//!   `invalid_scope` (scope), `unsupported_grant_type` or `invalid_request`.
//! - `POST /v1/projects/{project}/messages:send` — see `send::validate` for the rules (exactly
//!   one of `token`, `fid`, `topic`, `condition`; a `fid` of the shape Firebase Installations
//!   issues: 22 characters of base64url starting with `c`–`f`). Order of
//!   checks: access token (401 UNAUTHENTICATED, no FcmError detail) → token's project (403
//!   PERMISSION_DENIED, no FcmError detail) → request validation (400 INVALID_ARGUMENT with an
//!   FcmError detail, plus `google.rpc.BadRequest` when a field is at fault) → dead token (404
//!   UNREGISTERED) → injected faults (latency, then the fault's error) → accepted: 200
//!   `{"name":"projects/{project}/messages/<id>"}`, kept for inspection unless `validate_only`.
//! - `POST /fcm/send/{token}` — Google's Web Push service (RFC 8030/8291/8292), what tokens
//!   Play services issues for a VAPID key lead to: VAPID required and verified, each token
//!   bound to the key it was issued for; see `webpush/mod.rs` for the checks and answers.
//!
//! Emulator control (not part of FCM):
//! - `POST /emulator/credentials` `{"project": "p2"}` (optional; also optional `token_uri`) → the
//!   service-account JSON of a new key for that project, trusted from now on.
//! - `POST /emulator/faults` `{"token"? or "fid"?, "error"?, "times"?, "retry_after"?, "delay_ms"?}` → 200 with
//!   the fault (and its `id`; a `fid` fault affects only sends by `message.fid` to it); `GET /emulator/faults` → `{"faults":[…],"dead_tokens":[…]}`;
//!   `DELETE /emulator/faults` → 204, removes every injected fault. Matching rules are in
//!   `faults.rs`: token-specific faults before global ones, the first error fault decides, delay-only
//!   faults add latency, each affected send uses up one of `times`. A token that was answered
//!   UNREGISTERED stays dead (`DELETE /emulator/faults` does not revive it; `POST /emulator/reset` does).
//! - `POST /emulator/revoke-tokens` → `{"revoked": n}`: every access token stops working (401).
//! - `GET /emulator/messages[?token=T | ?fid=F][&project=P][&limit=N]` → JSON array, oldest first (with
//!   `limit`, only the newest N), of `{"road":"fcm","target" (which target field was set:
//!   `token`, `fid`, `topic`, `condition`),"name","project","message" (as received,
//!   member order kept),"received_at" (RFC 3339 UTC, milliseconds),"received_at_ms" (unix ms)}`
//!   and, for Web Push, `{"road":"webpush","name","token","headers":{"ttl","urgency",
//!   "topic","content-encoding","authorization"},"raw_data" (the body in standard base64, as
//!   the phone gets it in `rawData`),"received_at","received_at_ms"}`;
//!   `DELETE /emulator/messages` → 204.
//! - `POST /emulator/webpush/tokens` `{"vapid": "<87-char key>"}` → `{"token": "…"}`, a Web
//!   Push token bound to that key (what Play services does for a VAPID key as the sender);
//!   `POST /emulator/webpush/revoke` `{"token": "…"}` → `{"revoked": true}` (pushes to it get
//!   410 from then on), 404 for a token never issued.
//! - `GET /emulator/rejected[?limit=N]` → JSON array, oldest first, of the last 100 rejected
//!   sends: `{"project","status","error" (FCM's errorCode, else the google.rpc status),"message",
//!   "request" (the request's `message` object, or null),"received_at","received_at_ms"}`;
//!   `DELETE /emulator/rejected` → 204. Kept only when accepted messages are (not with `--keep 0`).
//! - `GET /emulator/stats` → `{"accepted","rejected","validated","tokens_issued","send_requests",
//!   "stored","sends_in_flight","max_sends_in_flight","connections_accepted",
//!   "h2_connections_accepted"}`; counts since start, Web Push requests included (`accepted` counts messages evicted by
//!   `--keep` too; `validate_only` successes count as `validated`, not `accepted`;
//!   `max_sends_in_flight` is the most sends handled at once).
//! - `POST /emulator/reset` → 204: clears faults, dead tokens, stored messages and rejected sends.
//! - `GET /` (with `/inbox.js`, `/inbox.css`): the inbox page (`page.rs`), which polls the three
//!   lists above once a second and adds and clears faults.
//!
//! The controls and the page are behind a guard (`guard.rs`): writes must be
//! `Content-Type: application/json` or body-less without a type (415), an `Origin` other than
//! `http://<Host>` is refused (403), and so is a non-loopback `Host` while the emulator listens
//! on loopback (403), so that a web page the developer visits cannot drive it.
//!
//! # Realism
//! `--latency-ms N --jitter-ms J` delay every `messages:send` answer by N ± J ms (uniform,
//! never below 0; a timer in the send's own future, holding only its HTTP/2 stream), and
//! access tokens are shaped like Google's: `ya29.` + base64url, 1024 characters unless
//! `--token-bytes` (16–4096) says otherwise (`realism.rs`).
//!
//! # Layout
//! [`run`] / [`start`] (`run.rs`) bind and serve the service of `http.rs` through the
//! accept loop of `serve.rs` (HTTP/1.1 by hyper, h2c by `h2c.rs`); the handlers (`oauth.rs`,
//! `send.rs`, `control.rs`, and `page.rs` for the inbox page; the last two behind `guard.rs`)
//! work on the [`Emulator`] state (`state.rs`), which holds the keys (`credentials.rs`), access
//! tokens (`tokens.rs`), faults (`faults.rs`), and kept messages and rejected sends (`inbox.rs`).

#![warn(missing_docs)]

mod control;
mod credentials;
mod errors;
mod faults;
mod guard;
mod h2c;
mod http;
mod inbox;
mod json;
mod oauth;
mod page;
mod realism;
mod run;
mod send;
mod serve;
mod state;
mod time;
mod tokens;
mod webpush;
pub mod wire;

pub use faults::{Fault, FaultCode};
pub use realism::{DEFAULT_TOKEN_BYTES, MAX_LATENCY_MS, MAX_TOKEN_BYTES, MIN_TOKEN_BYTES};
pub use run::{run, start, EmulatorArgs, Running};
pub use state::{Emulator, EmulatorStats, FaultSpec, Realism};
pub use webpush::tokens::TokenIssue;
