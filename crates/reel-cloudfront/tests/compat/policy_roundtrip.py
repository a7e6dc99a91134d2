"""Reference for reel-cloudfront's `Policy::from_json` test: botocore's own custom policies.

Reads one JSON case per line on stdin ({id, key, key_pair_id, url, resource, expires, starts,
ip}) and answers one JSON line each: the policy text botocore's `CloudFrontSigner.build_policy`
writes, and the URL `generate_presigned_url(url, policy=that_text)` signs with it (RSA
PKCS#1 v1.5 over SHA-1 through `cryptography`, deterministic).
"""

import json
import sys
from datetime import datetime, timezone

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

KEYS = {}


def load_key(path):
    if path not in KEYS:
        with open(path, "rb") as handle:
            KEYS[path] = serialization.load_pem_private_key(handle.read(), password=None)
    return KEYS[path]


def when(seconds):
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def answer(case):
    key = load_key(case["key"])
    signer = CloudFrontSigner(
        case["key_pair_id"], lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA1())
    )
    policy = signer.build_policy(
        case["resource"],
        when(case["expires"]),
        date_greater_than=when(case["starts"]) if case.get("starts") is not None else None,
        ip_address=case.get("ip"),
    )
    url = signer.generate_presigned_url(case["url"], policy=policy)
    return {"id": case["id"], "policy": policy, "url": url}


for line in sys.stdin:
    if line.strip():
        sys.stdout.write(json.dumps(answer(json.loads(line))) + "\n")
sys.stdout.flush()
