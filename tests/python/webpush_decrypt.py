#!/usr/bin/env python3
"""Decrypt what a phone received, as the UnifiedPush connector does: the body bytes
(--body-b64, standard padded base64, e.g. the FCM data map's "b", or the joined halves) are an
aes128gcm (RFC 8291) message for the subscription whose private key is --ua-private
(base64url P-256 scalar) and auth secret --auth (base64url). Prints {"plaintext_hex"}.

With --encoding aesgcm the body is a legacy draft message in the UnifiedPush convention,
`aesgcm\nEncryption: <v>\nCrypto-Key: <v>\n` + ciphertext: the salt (and record size) and
the sender's ECDH key are taken from those lines, as a UnifiedPush Mastodon client does, and
the lines are printed too ({"plaintext_hex", "encryption", "crypto_key"}).
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
    p.add_argument("--encoding", default="aes128gcm", choices=["aes128gcm", "aesgcm"])
    args = p.parse_args()

    private_value = int.from_bytes(b64url_decode(args.ua_private), "big")
    key = ec.derive_private_key(private_value, ec.SECP256R1())
    body = base64.b64decode(args.body_b64, validate=True)
    if args.encoding == "aesgcm":
        marker, encryption, crypto_key, ciphertext = body.split(b"\n", 3)
        assert marker == b"aesgcm", marker
        encryption = encryption.decode().removeprefix("Encryption: ")
        crypto_key = crypto_key.decode().removeprefix("Crypto-Key: ")
        params = dict(p.strip().split("=", 1) for p in (encryption + ";" + crypto_key).replace(",", ";").split(";") if "=" in p)
        plaintext = http_ece.decrypt(
            ciphertext,
            salt=b64url_decode(params["salt"]),
            dh=b64url_decode(params["dh"]),
            rs=int(params.get("rs", "4096")),
            private_key=key,
            auth_secret=b64url_decode(args.auth),
            version="aesgcm",
        )
        print(json.dumps({"plaintext_hex": plaintext.hex(), "encryption": encryption, "crypto_key": crypto_key}))
        return
    plaintext = http_ece.decrypt(
        body,
        private_key=key,
        auth_secret=b64url_decode(args.auth),
        version="aes128gcm",
    )
    print(json.dumps({"plaintext_hex": plaintext.hex()}))


if __name__ == "__main__":
    main()
