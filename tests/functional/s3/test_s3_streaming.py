"""aws-chunked bodies (signed chunks, signed and unsigned trailers) and additional
checksums, against a real Strata.

The seed signature of each chunked request is made by botocore's own SigV4
signer (it signs whatever ``x-amz-content-sha256`` the request carries); unsigned
trailer bodies are encoded by botocore's ``AwsChunkedWrapper``, the code boto3
uses over HTTPS. The chunk signatures are computed here from the S3 spec.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import time
import zlib
from collections.abc import Iterator

import botocore.auth
import botocore.credentials
import crc32c
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from tests.functional.s3.conftest import Ec2Credential
from tests.functional.s3.test_s3_boto3 import client, error_of
from tests.functional.swift.conftest import StrataInstance

REGION = "RegionOne"
EMPTY = hashlib.sha256(b"").hexdigest()


@pytest.fixture(scope="module")
def s3(strata_swift: StrataInstance, ec2: Ec2Credential) -> BaseClient:
    return client(strata_swift, ec2.access, ec2.secret, retries={"total_max_attempts": 1})


@pytest.fixture(scope="module")
def bucket(s3: BaseClient) -> Iterator[str]:
    name = "streaming-" + os.urandom(4).hex()
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def crc32_b64(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def crc32c_b64(data: bytes) -> str:
    return b64(crc32c.crc32c(data).to_bytes(4, "big"))


class ChunkedPut:
    """A PUT with an aws-chunked body, seed-signed by botocore (simple keys only)."""

    def __init__(self, strata: StrataInstance, cred: Ec2Credential, bucket: str, key: str,
                 payload: str, headers: dict[str, str]) -> None:
        self.url = f"{strata.proxy_url}/{bucket}/{key}"
        req = AWSRequest(method="PUT", url=self.url, headers={
            "X-Amz-Content-SHA256": payload, "Content-Encoding": "aws-chunked", **headers})
        creds = botocore.credentials.Credentials(cred.access, cred.secret)
        # Plain SigV4Auth signs the x-amz-content-sha256 given (S3SigV4Auth replaces it).
        botocore.auth.SigV4Auth(creds, "s3", REGION).add_auth(req)
        self.headers = dict(req.headers.items())
        auth = self.headers["Authorization"]
        self.previous = auth.rsplit("Signature=", 1)[1]
        self.amz_date = self.headers["X-Amz-Date"]
        self.scope = f"{self.amz_date[:8]}/{REGION}/s3/aws4_request"
        key_ = ("AWS4" + cred.secret).encode()
        for part in self.scope.split("/"):
            key_ = hmac.new(key_, part.encode(), hashlib.sha256).digest()
        self.key = key_

    def _sign(self, *lines: str) -> str:
        sig = hmac.new(self.key, "\n".join(lines).encode(), hashlib.sha256).hexdigest()
        self.previous = sig
        return sig

    def chunk(self, data: bytes) -> bytes:
        sig = self._sign("AWS4-HMAC-SHA256-PAYLOAD", self.amz_date, self.scope, self.previous,
                         EMPTY, hashlib.sha256(data).hexdigest())
        return f"{len(data):x};chunk-signature={sig}\r\n".encode() + data + b"\r\n"

    def trailer(self, name: str, value: str) -> bytes:
        canonical = f"{name}:{value}\n"
        sig = self._sign("AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, self.previous,
                         hashlib.sha256(canonical.encode()).hexdigest())
        return f"{name}:{value}\r\nx-amz-trailer-signature:{sig}\r\n\r\n".encode()

    def send(self, body: bytes | Iterator[bytes], decoded: int) -> requests.Response:
        headers = {**self.headers, "x-amz-decoded-content-length": str(decoded)}
        if isinstance(body, bytes):
            headers["Content-Length"] = str(len(body))
        return requests.put(self.url, data=body, headers=headers, timeout=120)


def signed_body(put: ChunkedPut, data: bytes, size: int = 65536) -> bytes:
    parts = [put.chunk(data[i:i + size]) for i in range(0, len(data), size)]
    return b"".join(parts) + put.chunk(b"")  # "0;chunk-signature=...\r\n\r\n"


def code_of(r: requests.Response) -> str:
    return r.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def assert_absent(s3: BaseClient, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(exc)[0] == 404


def test_signed_chunks_store_the_decoded_body(strata_swift: StrataInstance, ec2: Ec2Credential,
                                              s3: BaseClient, bucket: str) -> None:
    data = os.urandom(150_000)
    put = ChunkedPut(strata_swift, ec2, bucket, "signed", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                     {"Content-Type": "text/plain"})
    r = put.send(signed_body(put, data), len(data))
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="signed")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert "ContentEncoding" not in got  # aws-chunked was only how it travelled


def test_signed_chunks_keep_other_content_encodings(strata_swift: StrataInstance,
                                                    ec2: Ec2Credential, s3: BaseClient,
                                                    bucket: str) -> None:
    data = b"gzipped, say"
    put = ChunkedPut(strata_swift, ec2, bucket, "gz", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                     {"Content-Encoding": "gzip,aws-chunked"})
    r = put.send(signed_body(put, data), len(data))
    assert r.status_code == 200, r.text
    assert s3.head_object(Bucket=bucket, Key="gz")["ContentEncoding"] == "gzip"


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_forged_chunk_signature_stores_nothing(strata_swift: StrataInstance,
                                                 ec2: Ec2Credential, s3: BaseClient,
                                                 bucket: str, which: str) -> None:
    data = os.urandom(200_000)
    put = ChunkedPut(strata_swift, ec2, bucket, f"forged-{which}",
                     "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", {})
    body = signed_body(put, data)
    # Every chunk header carries "chunk-signature=<64 hex>"; corrupt one of them.
    marks = [i for i in range(len(body)) if body.startswith(b"chunk-signature=", i)]
    at = marks[1] if which == "middle" else marks[-1]
    at += len(b"chunk-signature=")
    body = body[:at] + (b"0" if body[at:at + 1] != b"0" else b"1") + body[at + 1:]
    r = put.send(body, len(data))
    assert r.status_code == 403, r.text
    assert code_of(r) == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, f"forged-{which}")


def test_a_forged_last_signature_on_a_streamed_body_stores_nothing(
        strata_swift: StrataInstance, ec2: Ec2Credential, s3: BaseClient, bucket: str) -> None:
    """Too large to buffer: the check runs before the last piece reaches the nodes."""
    data = os.urandom(17 << 20)
    put = ChunkedPut(strata_swift, ec2, bucket, "big-forged",
                     "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", {})
    body = signed_body(put, data, size=1 << 20)
    tail = body.rindex(b"chunk-signature=") + len(b"chunk-signature=")
    body = body[:tail] + (b"0" if body[tail:tail + 1] != b"0" else b"1") + body[tail + 1:]
    r = put.send(body, len(data))
    assert r.status_code == 403, r.text
    assert code_of(r) == "SignatureDoesNotMatch"
    assert_absent(s3, bucket, "big-forged")
    good = ChunkedPut(strata_swift, ec2, bucket, "big-good",
                      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", {})
    r = good.send(signed_body(good, data, size=1 << 20), len(data))
    assert r.status_code == 200, r.text
    assert hashlib.md5(s3.get_object(Bucket=bucket, Key="big-good")["Body"].read()) \
        .hexdigest() == hashlib.md5(data).hexdigest()


def test_signed_trailer_checksum(strata_swift: StrataInstance, ec2: Ec2Credential,
                                 s3: BaseClient, bucket: str) -> None:
    data = os.urandom(100_000)
    put = ChunkedPut(strata_swift, ec2, bucket, "trailed",
                     "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                     {"x-amz-trailer": "x-amz-checksum-crc32c"})
    parts = [put.chunk(data[i:i + 65536]) for i in range(0, len(data), 65536)]
    body = b"".join(parts) + put.chunk(b"")[:-2] \
        + put.trailer("x-amz-checksum-crc32c", crc32c_b64(data))
    r = put.send(body, len(data))
    assert r.status_code == 200, r.text
    head = s3.head_object(Bucket=bucket, Key="trailed", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == crc32c_b64(data)

    # The same with a checksum that is not the body's: 400 BadDigest, nothing stored.
    bad = ChunkedPut(strata_swift, ec2, bucket, "trailed-bad",
                     "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                     {"x-amz-trailer": "x-amz-checksum-crc32c"})
    parts = [bad.chunk(data[i:i + 65536]) for i in range(0, len(data), 65536)]
    body = b"".join(parts) + bad.chunk(b"")[:-2] \
        + bad.trailer("x-amz-checksum-crc32c", crc32c_b64(data + b"x"))
    r = bad.send(body, len(data))
    assert r.status_code == 400, r.text
    assert code_of(r) == "BadDigest"
    assert_absent(s3, bucket, "trailed-bad")


def _unsigned_trailer_put(strata: StrataInstance, cred: Ec2Credential, bucket: str, key: str,
                          data: bytes) -> ChunkedPut:
    return ChunkedPut(strata, cred, bucket, key, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                      {"x-amz-trailer": "x-amz-checksum-crc32",
                       "x-amz-sdk-checksum-algorithm": "CRC32"})


def test_unsigned_trailer_from_botocore(strata_swift: StrataInstance, ec2: Ec2Credential,
                                        s3: BaseClient, bucket: str) -> None:
    data = os.urandom(300_000)
    put = _unsigned_trailer_put(strata_swift, ec2, bucket, "unsigned", data)
    body = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum,
                             checksum_name="x-amz-checksum-crc32").read()
    r = put.send(body, len(data))
    assert r.status_code == 200, r.text
    assert r.headers.get("x-amz-checksum-crc32") == crc32_b64(data)
    head = s3.head_object(Bucket=bucket, Key="unsigned", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32_b64(data)
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == data


def test_unsigned_trailer_that_does_not_match_stores_nothing(
        strata_swift: StrataInstance, ec2: Ec2Credential, s3: BaseClient, bucket: str) -> None:
    data = os.urandom(10_000)
    put = _unsigned_trailer_put(strata_swift, ec2, bucket, "unsigned-bad", data)
    body = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n" \
        + f"x-amz-checksum-crc32:{crc32_b64(b'other')}\r\n\r\n".encode()
    r = put.send(body, len(data))
    assert r.status_code == 400, r.text
    assert code_of(r) == "BadDigest"
    assert_absent(s3, bucket, "unsigned-bad")


def test_malformed_chunked_bodies(strata_swift: StrataInstance, ec2: Ec2Credential,
                                  s3: BaseClient, bucket: str) -> None:
    data = b"x" * 1000
    put = _unsigned_trailer_put(strata_swift, ec2, bucket, "short", data)
    # Declares more decoded bytes than the chunks carry.
    body = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum,
                             checksum_name="x-amz-checksum-crc32").read()
    r = put.send(body, len(data) + 5)
    assert r.status_code == 400 and code_of(r) == "IncompleteBody", r.text
    # A chunk size that is not hex.
    put = _unsigned_trailer_put(strata_swift, ec2, bucket, "short", data)
    r = put.send(b"zz\r\n" + data + b"\r\n0\r\n\r\n", len(data))
    assert r.status_code == 400 and code_of(r) == "IncompleteBody", r.text
    # No x-amz-decoded-content-length at all.
    put = _unsigned_trailer_put(strata_swift, ec2, bucket, "short", data)
    headers = dict(put.headers)
    r = requests.put(put.url, data=body, headers=headers, timeout=30)
    assert r.status_code == 411 and code_of(r) == "MissingContentLength", r.text
    assert_absent(s3, bucket, "short")


# boto3 computes CRC32C only with awscrt installed: that one is sent by hand below.
@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_boto3_checksums_are_checked_stored_and_returned(s3: BaseClient, bucket: str,
                                                         algorithm: str) -> None:
    data = os.urandom(5000)
    r = s3.put_object(Bucket=bucket, Key=f"sum-{algorithm}", Body=data,
                      ChecksumAlgorithm=algorithm)
    field = "Checksum" + algorithm
    assert r[field]
    head = s3.head_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
    assert head[field] == r[field]
    got = s3.get_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
    assert got[field] == r[field]  # botocore also checks the body against it
    assert got["Body"].read() == data


def test_a_declared_checksum_that_does_not_match_stores_nothing(
        strata_swift: StrataInstance, ec2: Ec2Credential, s3: BaseClient, bucket: str) -> None:
    data = b"the body"
    for header, value, code in [
            ("x-amz-checksum-crc32", crc32_b64(b"another body"), "BadDigest"),
            ("x-amz-checksum-sha256", "bm90IGJhc2U2NA", "InvalidRequest"),
            ("x-amz-checksum-md7", "AAAA", "InvalidRequest")]:
        url = f"{strata_swift.proxy_url}/{bucket}/declared"
        req = AWSRequest(method="PUT", url=url, data=data, headers={header: value})
        creds = botocore.credentials.Credentials(ec2.access, ec2.secret)
        botocore.auth.S3SigV4Auth(creds, "s3", REGION).add_auth(req)
        r = requests.put(url, data=data, headers=dict(req.headers.items()), timeout=30)
        assert r.status_code == 400, (header, r.text)
        assert code_of(r) == code, (header, r.text)
    assert_absent(s3, bucket, "declared")


def test_a_crc32c_header_is_checked_and_stored(strata_swift: StrataInstance, ec2: Ec2Credential,
                                               s3: BaseClient, bucket: str) -> None:
    data = os.urandom(4096)
    url = f"{strata_swift.proxy_url}/{bucket}/crc32c"
    req = AWSRequest(method="PUT", url=url, data=data,
                     headers={"x-amz-checksum-crc32c": crc32c_b64(data)})
    creds = botocore.credentials.Credentials(ec2.access, ec2.secret)
    botocore.auth.S3SigV4Auth(creds, "s3", REGION).add_auth(req)
    r = requests.put(url, data=data, headers=dict(req.headers.items()), timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-checksum-crc32c"] == crc32c_b64(data)
    head = s3.head_object(Bucket=bucket, Key="crc32c", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == crc32c_b64(data)
    assert "ChecksumCRC32C" not in s3.head_object(Bucket=bucket, Key="crc32c")


def test_virtual_hosted_style(strata_swift: StrataInstance, ec2: Ec2Credential,
                              s3: BaseClient, bucket: str) -> None:
    """``<bucket>.<proxy.s3_domain>`` (the fixture sets s3.localhost) names the bucket."""
    port = strata_swift.proxy_url.rsplit(":", 1)[1]
    creds = botocore.credentials.Credentials(ec2.access, ec2.secret)

    def send(method: str, path: str, data: bytes = b"") -> requests.Response:
        virtual = f"http://{bucket}.s3.localhost:{port}{path}"
        req = AWSRequest(method=method, url=virtual, data=data,
                         headers={"Host": f"{bucket}.s3.localhost:{port}"})
        botocore.auth.S3SigV4Auth(creds, "s3", REGION).add_auth(req)
        return requests.request(method, f"{strata_swift.proxy_url}{path}", data=data,
                                headers=dict(req.headers.items()), timeout=30)

    r = send("PUT", "/virtual/key.txt", b"by host name")
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="virtual/key.txt")["Body"].read() == b"by host name"
    r = send("GET", "/virtual/key.txt")
    assert r.status_code == 200 and r.content == b"by host name"
    r = send("GET", "/?list-type=2&prefix=virtual%2F")
    assert r.status_code == 200 and "<Key>virtual/key.txt</Key>" in r.text


def _s3tokens_calls(strata: StrataInstance) -> int:
    time.sleep(0.5)  # access lines are flushed every 0.2 s
    log = (strata.var / "log" / "identity.log").read_text()
    return log.count('"POST /v3/s3tokens"')


def test_a_scope_signing_key_is_asked_for_once(strata_swift: StrataInstance,
                                               ec2: Ec2Credential, bucket: str) -> None:
    """SigV4 requests of one access key and day are checked in the proxy after the
    first; a signature the key does not make is still refused."""
    fresh = client(strata_swift, ec2.access, ec2.secret, retries={"total_max_attempts": 1})
    fresh.head_bucket(Bucket=bucket)  # the key may already be cached: now it is
    before = _s3tokens_calls(strata_swift)
    for i in range(5):
        fresh.put_object(Bucket=bucket, Key=f"cached-{i}", Body=b"x")
    assert _s3tokens_calls(strata_swift) == before
    forged = client(strata_swift, ec2.access, "0" * 32, retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as exc:
        forged.put_object(Bucket=bucket, Key="forged", Body=b"x")
    assert error_of(exc) == (403, "SignatureDoesNotMatch")
    assert _s3tokens_calls(strata_swift) == before + 1  # identity had the last word
