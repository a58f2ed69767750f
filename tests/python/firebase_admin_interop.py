#!/usr/bin/env python3
"""Google's Python Admin SDK (PyPI `firebase-admin`) against the uprelay FCM emulator.

Usage: firebase_admin_interop.py BASE_URL CREDENTIALS_JSON

The SDK takes its OAuth token from the credentials' `token_uri` (the emulator's /token) and
sends to `_MessagingService.FCM_URL`, which is patched to point at the emulator. Each case is
run through the real SDK, including its client-side checks, its error classification and its
retry policy; the number of requests the emulator saw and tokens it issued for each case are
recorded from GET /emulator/stats, and so is every warning the SDK raised (none is
silenced: firebase-admin 7.x deprecates `Message.token` for `Message.fid`, and the token
cases must show exactly that warning while the FID cases show none). Prints exactly one
JSON object on one line, on stdout.
"""

import asyncio
import json
import sys
import urllib.request
import warnings

import firebase_admin
from firebase_admin import credentials, exceptions, messaging

BASE, CREDS = sys.argv[1].rstrip("/"), sys.argv[2]
messaging._MessagingService.FCM_URL = BASE + "/v1/projects/{0}/messages:send"


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read()
        return json.loads(text) if text else None


def fault(**spec):
    control("POST", "/emulator/faults", spec)


def describe_error(e):
    out = {"outcome": type(e).__name__, "message": str(e)}
    if isinstance(e, exceptions.FirebaseError):
        out["code"] = e.code
        if e.http_response is not None:
            out["http_status"] = e.http_response.status_code
    return out


def attempt(fn):
    before = control("GET", "/emulator/stats")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            res = {"outcome": "ok", "value": fn()}
        except Exception as e:  # noqa: BLE001 - the class is the result
            res = describe_error(e)
    res["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in seen})
    after = control("GET", "/emulator/stats")
    res["requests"] = after["send_requests"] - before["send_requests"]
    res["tokens"] = after["tokens_issued"] - before["tokens_issued"]
    return res


def msg(token, data=None, **kw):
    return messaging.Message(token=token, data=data if data is not None else {"k": "v"}, **kw)


def fid_msg(fid, data=None, **kw):
    return messaging.Message(fid=fid, data=data if data is not None else {"k": "v"}, **kw)


# Firebase Installation IDs: 22 characters of base64url starting with c, d, e or f.
FID_OK = "cInteropValidFid012345"
FID_OK_2 = "dInteropValidFid012345"
FID_DEAD = "eInteropDeadFid0123456"
FID_QUOTA = "fInteropQuotaFid012345"


def main():
    firebase_admin.initialize_app(credentials.Certificate(CREDS))
    send = messaging.send
    r = {}
    r["valid"] = attempt(lambda: send(msg(
        "interop-valid", {"i": "instance-1", "b": "aGVsbG8=", "m": "m1"},
        android=messaging.AndroidConfig(priority="high", ttl=86400, collapse_key="topic1"))))
    r["dry_run"] = attempt(lambda: send(msg("interop-dry"), dry_run=True))
    r["non_string_value"] = attempt(lambda: send(msg("interop-bad", {"n": 12})))
    r["reserved_key"] = attempt(lambda: send(msg("interop-bad", {"from": "x"})))
    r["too_big"] = attempt(lambda: send(msg("interop-bad", {"b": "x" * 5000})))

    fault(token="interop-dead", error="UNREGISTERED", times=1)
    r["unregistered"] = attempt(lambda: send(msg("interop-dead")))
    r["unregistered_again"] = attempt(lambda: send(msg("interop-dead")))

    fault(token="interop-quota", error="QUOTA_EXCEEDED", times=1)
    r["quota_exceeded"] = attempt(lambda: send(msg("interop-quota")))
    # urllib3 (under the SDK) also retries a 429 when it carries Retry-After, sleeping that long.
    fault(token="interop-quota-ra", error="QUOTA_EXCEEDED", retry_after=1)
    r["quota_exceeded_retry_after"] = attempt(lambda: send(msg("interop-quota-ra")))

    fault(token="interop-sender", error="SENDER_ID_MISMATCH", times=1)
    r["sender_id_mismatch"] = attempt(lambda: send(msg("interop-sender")))

    fault(token="interop-invalid", error="INVALID_ARGUMENT", times=1)
    r["invalid_argument"] = attempt(lambda: send(msg("interop-invalid")))

    # The SDK retries 500 and 503 four times (honouring Retry-After); a permanent fault wins.
    fault(token="interop-unavailable", error="UNAVAILABLE", retry_after=1)
    r["unavailable"] = attempt(lambda: send(msg("interop-unavailable")))
    fault(token="interop-internal", error="INTERNAL", retry_after=1)
    r["internal"] = attempt(lambda: send(msg("interop-internal")))
    # Two 503s, then success on the SDK's own retry.
    fault(token="interop-flaky", error="UNAVAILABLE", times=2, retry_after=1)
    r["unavailable_then_ok"] = attempt(lambda: send(msg("interop-flaky")))

    # 401 makes google-auth refresh its token and retry (twice at most).
    fault(token="interop-3p", error="THIRD_PARTY_AUTH_ERROR")
    r["third_party_auth_error"] = attempt(lambda: send(msg("interop-3p")))

    # Revoked access tokens: the SDK refreshes once and the send goes through.
    control("POST", "/emulator/revoke-tokens")
    r["after_revoke"] = attempt(lambda: send(msg("interop-revoked")))

    async def each_async():
        resp = await messaging.send_each_async([msg("interop-async"), msg("interop-async", {"gcm.x": "y"})])
        return [{"success": x.success, "value": x.message_id if x.success else type(x.exception).__name__}
                for x in resp.responses]
    r["send_each_async"] = attempt(lambda: asyncio.run(each_async()))

    # Installation IDs: the 2026 target, sent as `message.fid`.
    r["fid_valid"] = attempt(lambda: send(fid_msg(
        FID_OK, {"i": "instance-1", "b": "aGVsbG8=", "m": "m2"}, android=messaging.AndroidConfig(priority="high"))))
    fault(fid=FID_DEAD, error="UNREGISTERED", times=1)
    r["fid_unregistered"] = attempt(lambda: send(fid_msg(FID_DEAD)))
    r["fid_unregistered_again"] = attempt(lambda: send(fid_msg(FID_DEAD)))
    fault(fid=FID_QUOTA, error="QUOTA_EXCEEDED", times=1)
    r["fid_quota_exceeded"] = attempt(lambda: send(fid_msg(FID_QUOTA)))
    r["fid_quota_then_ok"] = attempt(lambda: send(fid_msg(FID_QUOTA)))
    r["fid_malformed"] = attempt(lambda: send(fid_msg("not-an-installation-id")))
    # Both targets at once never leave the SDK (its own "exactly one of" check).
    r["fid_and_token"] = attempt(lambda: send(messaging.Message(fid=FID_OK, token="interop-valid", data={"k": "v"})))

    def multicast():
        resp = messaging.send_each_for_multicast(messaging.MulticastMessage(fids=[FID_OK, FID_OK_2], data={"k": "multi"}))
        return [x.success for x in resp.responses]
    r["fid_multicast"] = attempt(multicast)

    control("DELETE", "/emulator/faults")
    print(json.dumps(r, sort_keys=True))


if __name__ == "__main__":
    main()
