"""aws-chunked decoding and checksum declarations (proxy/s3/body.py, checksums.py).

The signing example is AWS's published one for chunked uploads: 66,560 bytes of
``a`` in chunks of 64 KiB, dated 2013-05-24, with its published signatures.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from proxy.s3 import checksums
from proxy.s3.body import (
    CheckedBody,
    ChunkedDecoder,
    ChunkSigner,
    request_body,
    strip_aws_chunked,
)
from proxy.s3.errors import S3Error

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SCOPE = "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGS = ("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
              "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
              "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")
PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"


def signing_key() -> bytes:
    key = ("AWS4" + SECRET).encode()
    for part in SCOPE.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def example_body(last_sig: str = CHUNK_SIGS[2]) -> bytes:
    return (f"10000;chunk-signature={CHUNK_SIGS[0]}\r\n".encode() + b"a" * 65536 + b"\r\n"
            + f"400;chunk-signature={CHUNK_SIGS[1]}\r\n".encode() + b"a" * 1024 + b"\r\n"
            + f"0;chunk-signature={last_sig}\r\n\r\n".encode())


def reader(data: bytes) -> StreamReader:
    loop = asyncio.get_running_loop()
    r = StreamReader(BaseProtocol(loop), 1 << 16, loop=loop)
    r.feed_data(data)
    r.feed_eof()
    return r


def signer() -> ChunkSigner:
    return ChunkSigner(signing_key(), "20130524T000000Z", SCOPE, SEED)


async def test_the_published_example_decodes() -> None:
    body, length = await request_body(reader(example_body()), payload_hash=PAYLOAD,
                                      length=66824, checksum=None, decoded="66560",
                                      signer=signer())
    assert length == 66560
    assert await body.read_all(1 << 20) == b"a" * 66560


async def test_a_wrong_final_signature_is_caught_before_the_last_piece() -> None:
    bad = CHUNK_SIGS[2][:-1] + ("0" if CHUNK_SIGS[2][-1] != "0" else "1")
    # As a body too large to buffer is streamed: look at what gets through.
    decoder = ChunkedDecoder(reader(example_body(bad)), signer(), 66560, None, False)
    body = CheckedBody(decoder.pieces(), decoder.finish)
    seen = []
    with pytest.raises(S3Error) as exc:
        async for piece in body.chunks():
            seen.append(piece)
    assert exc.value.code == "SignatureDoesNotMatch"
    assert sum(map(len, seen)) < 66560  # the last piece was held back


async def test_an_unsigned_chunked_body_cannot_pose_as_signed() -> None:
    plain = b"10000\r\n" + b"a" * 65536 + b"\r\n0\r\n\r\n"
    with pytest.raises(S3Error) as exc:
        await request_body(reader(plain), payload_hash=PAYLOAD, length=len(plain),
                           checksum=None, decoded="65536", signer=signer())
    assert exc.value.code == "IncompleteBody"


async def test_trailer_checksums() -> None:
    data = b"hello world"
    crc = checksums.checksum_of("CRC32", data)
    for trailer, ok in ((crc, True), (checksums.checksum_of("CRC32", b"x"), False)):
        raw = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
               + f"x-amz-checksum-crc32:{trailer}\r\n\r\n".encode())
        declared = checksums.declared({"x-amz-trailer": "x-amz-checksum-crc32"})
        assert declared is not None and declared.value is None
        if ok:
            body, _ = await request_body(reader(raw), length=len(raw), checksum=declared,
                                         payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                                         decoded=str(len(data)))
            assert await body.read_all(100) == data and declared.value == crc
        else:
            with pytest.raises(S3Error) as exc:
                await request_body(reader(raw), length=len(raw), checksum=declared,
                                   payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                                   decoded=str(len(data)))
            assert exc.value.code == "BadDigest"


@pytest.mark.parametrize(("headers", "code"), [
    ({"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": "x"}, "InvalidRequest"),
    ({"x-amz-checksum-crc32": "not base64"}, "InvalidRequest"),
    ({"x-amz-checksum-crc32": "AAAAAAAA"}, "InvalidRequest"),  # 6 bytes, not 4
    ({"x-amz-checksum-whirlpool": "AAAA"}, "InvalidRequest"),
    ({"x-amz-trailer": "x-amz-meta-color"}, "InvalidRequest"),
    ({"x-amz-sdk-checksum-algorithm": "MD4"}, "InvalidRequest"),
])
def test_malformed_declarations(headers: dict[str, str], code: str) -> None:
    with pytest.raises(S3Error) as exc:
        checksums.declared(headers)
    assert exc.value.code == code


def test_known_checksums() -> None:
    assert checksums.checksum_of("CRC32C", b"hello") == "mnG7TA=="  # 0x9a71bb4c
    assert checksums.checksum_of("CRC32", b"hello") == "NhCmhg=="   # 0x3610a686
    assert checksums.declared({"x-amz-checksum-mode": "ENABLED"}) is None


def test_strip_aws_chunked() -> None:
    assert strip_aws_chunked("aws-chunked") == ""
    assert strip_aws_chunked("gzip,aws-chunked") == "gzip"
    assert strip_aws_chunked("aws-chunked, br") == "br"
