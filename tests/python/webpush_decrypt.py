#!/usr/bin/env python3
"""Decrypt what a phone received, as the UnifiedPush connector does: the body bytes
(--body-b64, standard padded base64, e.g. the FCM data map's "b", or the joined halves) are an
aes128gcm (RFC 8291) message for the subscription whose private key is --ua-private
(base64url P-256 scalar) and auth secret --auth (base64url). Prints {"plaintext_hex"}.
"""
import argparse
import base64
import json

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ua-private", required=True)
    p.add_argument("--auth", required=True)
    p.add_argument("--body-b64", required=True)
    args = p.parse_args()

    private_value = int.from_bytes(b64url_decode(args.ua_private), "big")
    key = ec.derive_private_key(private_value, ec.SECP256R1())
    body = base64.b64decode(args.body_b64, validate=True)
    plaintext = http_ece.decrypt(
        body,
        private_key=key,
        auth_secret=b64url_decode(args.auth),
        version="aes128gcm",
    )
    print(json.dumps({"plaintext_hex": plaintext.hex()}))


if __name__ == "__main__":
    main()
