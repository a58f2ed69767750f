#!/usr/bin/env python3
"""Send one Web Push message with pywebpush, as a real application server does, and print
the push service's answer as JSON: {"status", "location", "ttl", "retry_after", "body"}.

The body is encrypted for the subscription (--p256dh, --auth) with aes128gcm (RFC 8291) by
default, or legacy aesgcm with --encoding aesgcm, and signed with VAPID using the private key
in --vapid-pem-file: RFC 8292 `Authorization: vapid t=…, k=…` by default, or with --legacy the
draft form `Authorization: WebPush <jwt>` + `Crypto-Key: p256ecdsa=…`. pywebpush sets `aud`
to the endpoint's origin and `exp` to now + 12 h. A refusal (status > 202) is reported, not
raised, so the caller can assert on it.
"""
import argparse
import json
import sys

from py_vapid import Vapid01, Vapid02
from pywebpush import WebPushException, webpush


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--p256dh", required=True)
    p.add_argument("--auth", required=True)
    p.add_argument("--vapid-pem-file", required=True)
    p.add_argument("--message-hex", required=True, help="plaintext bytes, hex")
    p.add_argument("--ttl", type=int, default=60)
    p.add_argument("--encoding", default="aes128gcm", choices=["aes128gcm", "aesgcm"])
    p.add_argument("--legacy", action="store_true", help="WebPush + Crypto-Key: p256ecdsa form")
    p.add_argument("--aud", help="override the JWT aud (default: the endpoint's origin)")
    args = p.parse_args()

    with open(args.vapid_pem_file, "rb") as f:
        pem = f.read()
    signer = (Vapid01 if args.legacy else Vapid02).from_pem(pem)
    claims = {"sub": "mailto:push-test@example.org"}
    if args.aud:
        claims["aud"] = args.aud
    try:
        resp = webpush(
            subscription_info={"endpoint": args.endpoint, "keys": {"p256dh": args.p256dh, "auth": args.auth}},
            data=bytes.fromhex(args.message_hex),
            vapid_private_key=signer,
            vapid_claims=claims,
            content_encoding=args.encoding,
            ttl=args.ttl,
            timeout=30,
        )
    except WebPushException as e:
        resp = e.response
        if resp is None:
            print(f"no response: {e}", file=sys.stderr)
            sys.exit(1)
    print(json.dumps({
        "status": resp.status_code,
        "location": resp.headers.get("Location"),
        "ttl": resp.headers.get("TTL"),
        "retry_after": resp.headers.get("Retry-After"),
        "body": resp.text,
    }))


if __name__ == "__main__":
    main()
