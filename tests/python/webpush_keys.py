#!/usr/bin/env python3
"""Key material for a Web Push end-to-end test, printed as one JSON object.

- vapid_private_pem / vapid_public: the application server's VAPID key pair (py_vapid);
  vapid_public is the 87-character base64url uncompressed P-256 point a UnifiedPush
  registration's "vapid" holds.
- ua_private / p256dh / auth: the user agent's (phone's) subscription keys: an ECDH P-256
  private scalar (base64url), its public point (base64url, uncompressed) and a 16-byte
  auth secret (base64url), as RFC 8291 uses them.
"""
import base64
import json
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uncompressed(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def main() -> None:
    vapid = Vapid()
    vapid.generate_keys()
    ua = ec.generate_private_key(ec.SECP256R1())
    print(json.dumps({
        "vapid_private_pem": vapid.private_pem().decode(),
        "vapid_public": b64url(uncompressed(vapid.public_key)),
        "ua_private": b64url(ua.private_numbers().private_value.to_bytes(32, "big")),
        "p256dh": b64url(uncompressed(ua.public_key())),
        "auth": b64url(os.urandom(16)),
    }))


if __name__ == "__main__":
    main()
