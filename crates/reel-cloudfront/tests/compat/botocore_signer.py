"""Reference signer for reel-cloudfront's compatibility tests: botocore's CloudFrontSigner.

Reads one JSON case per line on stdin and writes one JSON answer per line on stdout:
botocore's signed URL for the case (RSA PKCS#1 v1.5 signatures through `cryptography`,
deterministic, so the Rust test compares the whole URL), and whether the signature that
reel-cloudfront produced for the same policy verifies with the public key (`cryptography`).
botocore signs SHA-1 only; for SHA-256 it is given a SHA-256 signer and the
`Hash-Algorithm=SHA256` parameter is appended, as its documentation suggests.
"""

import base64
import json
import sys
from datetime import datetime, timezone

from botocore.signers import CloudFrontSigner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

KEYS = {}


def load_key(path):
    if path not in KEYS:
        with open(path, "rb") as handle:
            KEYS[path] = serialization.load_pem_private_key(handle.read(), password=None)
    return KEYS[path]


def digest(name):
    return hashes.SHA256() if name == "sha256" else hashes.SHA1()


def make_signer(key, hash_name):
    def sign(message):
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(message, padding.PKCS1v15(), digest(hash_name))
        return key.sign(message, ec.ECDSA(digest(hash_name)))

    return sign


def cloudfront_b64decode(text):
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def verify(key, message, signature, hash_name):
    public = key.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, message, padding.PKCS1v15(), digest(hash_name))
        else:
            public.verify(signature, message, ec.ECDSA(digest(hash_name)))
        return True
    except InvalidSignature:
        return False


def when(seconds):
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def answer(case):
    key = load_key(case["key"])
    signer = CloudFrontSigner(case["key_pair_id"], make_signer(key, case["hash"]))
    if case["custom"]:
        policy = signer.build_policy(
            case["resource"],
            when(case["expires"]),
            date_greater_than=when(case["starts"]) if case.get("starts") is not None else None,
            ip_address=case.get("ip"),
        )
        url = signer.generate_presigned_url(case["url"], policy=policy)
    else:
        policy = signer.build_policy(case["url"], when(case["expires"]))
        url = signer.generate_presigned_url(case["url"], date_less_than=when(case["expires"]))
    if case["hash"] == "sha256":
        url += "&Hash-Algorithm=SHA256"
    ours_verified = verify(
        key,
        case["our_policy"].encode("utf-8"),
        cloudfront_b64decode(case["our_signature"]),
        case["hash"],
    )
    signature = cloudfront_b64decode(url.split("&Signature=")[1].split("&")[0])
    return {"id": case["id"], "url": url, "policy": policy, "signature_der": signature.hex(),
            "ours_verified": ours_verified}


def main():
    for line in sys.stdin:
        if line.strip():
            sys.stdout.write(json.dumps(answer(json.loads(line))) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
