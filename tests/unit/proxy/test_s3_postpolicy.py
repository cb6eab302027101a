"""Browser uploads' policy documents (proxy/s3/postpolicy.py), the form's signature
claim (proxy/s3/postobject.py) and identity's check of a POST policy signature
against what botocore signs."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from botocore.auth import HmacV1PostAuth, S3SigV4PostAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from identity.api.auth import expected_signature
from proxy.s3 import postobject, postpolicy
from proxy.s3.errors import S3Error

NOW = 1_800_000_000.0


def encode(doc: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(doc).encode()).decode()


def policy(*conditions: Any, expiration: str = "2027-01-15T08:00:00Z") -> str:
    return encode({"expiration": expiration, "conditions": list(conditions)})


def code(exc: pytest.ExceptionInfo[S3Error]) -> str:
    return exc.value.code


def test_conditions_met() -> None:
    p = postpolicy.decode(policy({"bucket": "b"}, ["starts-with", "$key", "up/"],
                                 {"acl": "public-read"}, ["eq", "$X-Amz-Meta-Tag", "t"],
                                 ["starts-with", "$Content-Type", "image/"],
                                 ["content-length-range", 1, 10]))
    assert p.length_range == (1, 10)
    fields = {"key": "up/a.png", "acl": "public-read", "x-amz-meta-tag": "t",
              "content-type": "image/png", "policy": "...", "x-ignore-me": "1"}
    postpolicy.check(p, fields, "b", NOW)
    postpolicy.check_size(p, 10, final=True)


@pytest.mark.parametrize(("fields", "bucket", "message"), [
    ({"key": "down/a"}, "b", "Policy Condition failed"),
    ({"key": "up/a"}, "other", "Policy Condition failed"),
    ({"key": "up/a", "acl": "public-read"}, "b", "Extra input fields: acl"),
    ({}, "b", "Policy Condition failed"),
])
def test_conditions_failed(fields: dict[str, str], bucket: str, message: str) -> None:
    p = postpolicy.decode(policy({"bucket": "b"}, ["starts-with", "$key", "up/"]))
    with pytest.raises(S3Error) as exc:
        postpolicy.check(p, fields, bucket, NOW)
    assert code(exc) == "AccessDenied" and message in exc.value.message


def test_expired() -> None:
    p = postpolicy.decode(policy(expiration="2020-01-01T00:00:00.000Z"))
    with pytest.raises(S3Error) as exc:
        postpolicy.check(p, {}, "b", NOW)
    assert code(exc) == "AccessDenied" and "expired" in exc.value.message


@pytest.mark.parametrize("b64", [
    "not base64!", base64.b64encode(b"{not json").decode(), encode({"conditions": []}),
    encode({"expiration": "soon", "conditions": []}),
    policy(["between", "$key", "a"]), policy(["content-length-range", 10, 1]),
    policy({"a": "1", "b": "2"}), policy(["eq", "key", "a"]),
    encode({"expiration": "2027-01-15T08:00:00Z"}),
])
def test_malformed(b64: str) -> None:
    with pytest.raises(S3Error) as exc:
        postpolicy.decode(b64)
    assert code(exc) == "InvalidPolicyDocument" and exc.value.status == 400


def test_sizes() -> None:
    p = postpolicy.decode(policy(["content-length-range", 5, 8]))
    postpolicy.check_size(p, 2, final=False)  # more may come
    for size, final, want in ((2, True, "EntityTooSmall"), (9, False, "EntityTooLarge")):
        with pytest.raises(S3Error) as exc:
            postpolicy.check_size(p, size, final=final)
        assert code(exc) == want


def test_signed_claims() -> None:
    assert postobject.signed_claim({"key": "a"}, ("r",)) is None
    v2 = postobject.signed_claim({"awsaccesskeyid": "AK", "signature": "sig",
                                  "policy": "cG9s"}, ("r",))
    assert v2 is not None and (v2.access, v2.string_to_sign, v2.scope) == ("AK", "cG9s", None)
    v4 = postobject.signed_claim({
        "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "AK/20270115/r/s3/aws4_request",
        "x-amz-date": "20270115T080000Z", "x-amz-signature": "ab", "policy": "cG9s"}, ("r",))
    assert v4 is not None and v4.sigv4 and v4.scope == "20270115/r/s3/aws4_request"
    for fields in ({"policy": "cG9s"}, {"x-amz-algorithm": "AWS4-HMAC-SHA256", "policy": "x"},
                   {"awsaccesskeyid": "AK", "policy": "cG9s"}):
        with pytest.raises(S3Error) as exc:
            postobject.signed_claim(fields, ("r",))
        assert code(exc) == "InvalidArgument"


def _botocore_post(auth_cls: type, creds: Credentials, **kw: Any) -> dict[str, str]:
    req = AWSRequest(method="POST", url="http://127.0.0.1/b")
    req.context["s3-presign-post-fields"] = {"key": "k"}
    req.context["s3-presign-post-policy"] = {
        "expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60)),
        "conditions": [{"key": "k"}]}
    auth_cls(creds, **kw).add_auth(req)
    fields: dict[str, str] = req.context["s3-presign-post-fields"]
    return fields


def test_identity_checks_what_botocore_signs() -> None:
    creds = Credentials("AKID", "the-secret")
    v4 = _botocore_post(S3SigV4PostAuth, creds, service_name="s3", region_name="RegionOne")
    scope = v4["x-amz-credential"].split("/", 1)[1]
    assert expected_signature("the-secret", v4["policy"], scope=scope) == \
        v4["x-amz-signature"]
    assert expected_signature("other", v4["policy"], scope=scope) != v4["x-amz-signature"]
    v2 = _botocore_post(HmacV1PostAuth, creds)
    assert expected_signature("the-secret", v2["policy"]) == v2["signature"]
