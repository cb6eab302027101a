"""identity.api.auth.expected_signature against AWS's published test vectors."""

from __future__ import annotations

import base64
import hashlib
import hmac

from identity.api.auth import ec2_credential_id, expected_signature

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_sigv4_get_object_example() -> None:
    # AWS S3 SigV4 documentation: "GET Object" example.
    canonical_request = "\n".join([
        "GET", "/test.txt", "",
        "host:examplebucket.s3.amazonaws.com",
        "range:bytes=0-9",
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "x-amz-date:20130524T000000Z", "",
        "host;range;x-amz-content-sha256;x-amz-date",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ])
    sts = "\n".join([
        "AWS4-HMAC-SHA256", "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
        hashlib.sha256(canonical_request.encode()).hexdigest(),
    ])
    assert expected_signature(SECRET, sts) == (
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_sigv2() -> None:
    sts = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
    want = base64.b64encode(hmac.new(SECRET.encode(), sts.encode(), hashlib.sha1).digest())
    assert expected_signature(SECRET, sts) == want.decode()


def test_credential_id_is_sha256_of_access() -> None:
    assert ec2_credential_id("abc") == hashlib.sha256(b"abc").hexdigest()
