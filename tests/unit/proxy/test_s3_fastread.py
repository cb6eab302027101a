"""Which requests the S3 front's one-step read may take at all (``fastread.eligible``):
the shape of the request, before anything is looked up."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from proxy.s3 import fastread

SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=a/20261207/us-east-1/s3/aws4_request, "
                           "SignedHeaders=host;x-amz-date, Signature=00",
          "X-Amz-Date": "20261207T000000Z"}


def request(method: str, path: str, headers: dict[str, str]) -> bool:
    return fastread.eligible(make_mocked_request(method, path, headers=CIMultiDict(headers)))


@pytest.mark.parametrize("method,path", [("GET", "/b/k"), ("HEAD", "/b/k"),
                                         ("GET", "/b/k?x-id=GetObject")])
def test_plain_signed_reads_are_eligible(method: str, path: str) -> None:
    assert request(method, path, SIGNED)


@pytest.mark.parametrize("method,path", [
    ("PUT", "/b/k"), ("DELETE", "/b/k"), ("POST", "/b/k"), ("OPTIONS", "/b/k"),
    ("GET", "/b/k?versionId=1"), ("GET", "/b/k?partNumber=1"), ("GET", "/b/k?acl"),
    ("GET", "/b/k?response-content-type=x"), ("GET", "/b/k?x-id=GetObject&acl"),
    ("GET", "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256")])
def test_other_operations_are_not(method: str, path: str) -> None:
    assert not request(method, path, SIGNED)


@pytest.mark.parametrize("extra", [
    {"Origin": "http://example.com"}, {"If-Match": '"x"'}, {"If-None-Match": "*"},
    {"x-amz-expected-bucket-owner": "p"},
    {"Authorization": "AWS a:b"}, {"Authorization": ""}])
def test_headers_only_the_general_path_knows(extra: dict[str, str]) -> None:
    assert not request("GET", "/b/k", {**SIGNED, **extra})
