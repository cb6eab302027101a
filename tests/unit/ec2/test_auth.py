"""The strings to sign the EC2 front computes are the ones botocore signs: SigV4 (header
and presigned query) and SigV2 (HmacSHA256, HmacSHA1), checked by signing with the
secret here as identity does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from botocore.auth import SigV2Auth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common import sigv4
from ec2.api import auth
from ec2.errors import AuthFailure, RequestExpired

CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
URL = "http://127.0.0.1:8788/"
BODY = {"Action": "DescribeVolumes", "Version": "2016-11-15", "VolumeId.1": "vol-1",
        "Filter.1.Name": "tag:Name", "Filter.1.Value.1": "a b+c/é"}


def _parse(req: AWSRequest, *, now: float | None = None,
           regions: tuple[str, ...] = ("RegionOne",)) -> auth.Signed:
    prepared = req.prepare()
    split = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    pairs = parse_qsl(split.query, keep_blank_values=True) + \
        parse_qsl(body.decode(), keep_blank_values=True)
    headers = list(prepared.headers.items())
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(("Host", split.netloc))
    return auth.parse(prepared.method, split.path or "/", split.query, headers, body, pairs,
                      now=now, regions=regions)


def _v4_post() -> AWSRequest:
    req = AWSRequest(method="POST", url=URL, data=dict(BODY), headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(CREDS, "ec2", "RegionOne").add_auth(req)
    return req


def test_sigv4_header_string_to_sign_is_botocores() -> None:
    req = _v4_post()
    signed = _parse(req)
    scope = signed.string_to_sign.split("\n")[2]
    assert signed.access == CREDS.access_key and signed.method is None
    assert sigv4.signature(CREDS.secret_key, scope, signed.string_to_sign) == \
        signed.signature == req.headers["Authorization"].rsplit("Signature=", 1)[1]

    # a scope's signing key (what identity hands back) checks later requests locally
    key = ("AWS4" + CREDS.secret_key).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert sigv4.signed_with(key, signed.string_to_sign, signed.signature)
    assert not sigv4.signed_with(key, signed.string_to_sign + "x", signed.signature)
    assert not sigv4.signed_with(b"other", signed.string_to_sign, signed.signature)


def test_sigv4_presigned_get() -> None:
    req = AWSRequest(method="GET", url=URL, params=dict(BODY))
    SigV4QueryAuth(CREDS, "ec2", "RegionOne", expires=300).add_auth(req)
    signed = _parse(req)
    scope = signed.string_to_sign.split("\n")[2]
    assert sigv4.signature(CREDS.secret_key, scope, signed.string_to_sign) == signed.signature


@pytest.mark.parametrize("method,digest", [("HmacSHA256", hashlib.sha256),
                                           ("HmacSHA1", hashlib.sha1)])
def test_sigv2_string_to_sign_is_botocores(method: str, digest: object) -> None:
    req = AWSRequest(method="POST", url=URL, data=dict(BODY))
    signer = SigV2Auth(CREDS)
    if method == "HmacSHA1":
        # botocore signs SigV2 with SHA-256 only; sign SHA-1 as older tools do
        req.data.update(SignatureVersion="2", SignatureMethod=method,
                        AWSAccessKeyId=CREDS.access_key,
                        Timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        sts = f"POST\n127.0.0.1:8788\n/\n{auth.canonical_v2(req.data.items())}"
        req.data["Signature"] = base64.b64encode(hmac.new(
            CREDS.secret_key.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    else:
        signer.add_auth(req)
    signed = _parse(req)
    assert signed.method == method
    mac = hmac.new(CREDS.secret_key.encode(), signed.string_to_sign.encode(),
                   digest)  # type: ignore[arg-type]
    assert base64.b64encode(mac.digest()).decode() == signed.signature


def test_bad_scopes_and_stale_requests_are_refused() -> None:
    req = _v4_post()
    with pytest.raises(AuthFailure, match="valid region"):
        _parse(req, regions=("Elsewhere",))
    with pytest.raises(RequestExpired):
        _parse(req, now=time.time() + 3600)
    s3 = AWSRequest(method="POST", url=URL, data=dict(BODY))
    SigV4Auth(CREDS, "s3", "RegionOne").add_auth(s3)
    with pytest.raises(AuthFailure, match="service"):
        _parse(s3)
    with pytest.raises(AuthFailure, match="not signed"):
        _parse(AWSRequest(method="POST", url=URL, data=dict(BODY)))
    old = AWSRequest(method="POST", url=URL, data={**BODY, "SignatureVersion": "1",
                                                   "AWSAccessKeyId": "a", "Signature": "x"})
    with pytest.raises(AuthFailure, match="SignatureVersion"):
        _parse(old)
    v2 = AWSRequest(method="POST", url=URL, data=dict(BODY))
    SigV2Auth(CREDS).add_auth(v2)
    v2.data["Timestamp"] = "2001-01-01T00:00:00Z"
    with pytest.raises(RequestExpired):
        _parse(v2)
