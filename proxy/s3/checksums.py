"""S3's additional checksums (CRC32, CRC32C, SHA1, SHA256): declared, checked, stored.

A client declares one either as a header (``x-amz-checksum-crc32: <base64>``) or
as a trailer after an aws-chunked body (``x-amz-trailer: x-amz-checksum-crc32``).
Either way the body is hashed as it streams and compared before its last byte
is passed on, so a mismatch stores nothing. The checked value is kept in the
object's system metadata (:data:`SYSMETA`, ``"<ALG>:<base64>"``) and returned
with ``x-amz-checksum-mode: ENABLED``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import crc32c as _crc32c

from proxy.s3.errors import S3Error

SYSMETA = "X-Object-Sysmeta-S3-Checksum"
HEADER_PREFIX = "x-amz-checksum-"
ALGORITHMS = ("CRC32", "CRC32C", "SHA1", "SHA256")
_DIGEST_SIZE = {"CRC32": 4, "CRC32C": 4, "SHA1": 20, "SHA256": 32}


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, castagnoli: bool) -> None:
        self.castagnoli = castagnoli
        self.value = 0

    def update(self, data: bytes, /) -> None:
        if self.castagnoli:
            self.value = _crc32c.crc32c(data, self.value)
        else:
            self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def new_hasher(algorithm: str) -> Hasher:
    if algorithm == "CRC32":
        return _Crc(False)
    if algorithm == "CRC32C":
        return _Crc(True)
    if algorithm == "SHA1":
        return hashlib.sha1()
    if algorithm == "SHA256":
        return hashlib.sha256()
    raise S3Error("InvalidRequest", f"Value for x-amz-checksum-algorithm header is invalid: "
                  f"{algorithm}")


def header_name(algorithm: str) -> str:
    return HEADER_PREFIX + algorithm.lower()


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def checksum_of(algorithm: str, data: bytes) -> str:
    h = new_hasher(algorithm)
    h.update(data)
    return encode(h.digest())


def _valid_value(algorithm: str, value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == _DIGEST_SIZE[algorithm]
    except binascii.Error:
        return False


@dataclass
class Declared:
    """The checksum a request declares: ``value`` is None until its trailer arrives."""

    algorithm: str
    value: str | None
    hasher: Hasher

    def check(self, value: str | None = None) -> str:
        """The computed value; BadDigest if it differs from the declared one."""
        if value is not None:
            if not _valid_value(self.algorithm, value):
                raise S3Error("InvalidRequest", f"Value for {header_name(self.algorithm)} "
                              "trailing header is invalid.")
            self.value = value
        got = encode(self.hasher.digest())
        if self.value is None:
            raise S3Error("InvalidRequest", f"The {header_name(self.algorithm)} trailer "
                          "was declared but not sent.")
        if got != self.value:
            raise S3Error("BadDigest", f"The {self.algorithm} you specified did not match "
                          "the calculated checksum.")
        return got


def declared(headers: Mapping[str, str]) -> Declared | None:
    """The checksum declared by headers or announced as a trailer, if any.

    InvalidRequest for an unknown algorithm, a malformed value, or more than one."""
    found = [(k.lower()[len(HEADER_PREFIX):].upper(), v) for k, v in headers.items()
             if k.lower().startswith(HEADER_PREFIX) and k.lower() != "x-amz-checksum-mode"
             and k.lower() != "x-amz-checksum-type"
             and k.lower() != "x-amz-checksum-algorithm"]  # CreateMultipartUpload's
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if trailer:
        if not trailer.startswith(HEADER_PREFIX):
            raise S3Error("InvalidRequest", f"The value specified in the x-amz-trailer "
                          f"header is not supported: {trailer}")
        found.append((trailer[len(HEADER_PREFIX):].upper(), ""))
    if not found:
        algorithm = headers.get("x-amz-sdk-checksum-algorithm", "")
        if algorithm and algorithm.upper() not in ALGORITHMS:
            raise S3Error("InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header "
                          f"is invalid: {algorithm}")
        return None
    if len(found) > 1:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple "
                      "checksum Types are not allowed.")
    algorithm, value = found[0]
    if algorithm not in ALGORITHMS:
        raise S3Error("InvalidRequest", f"The algorithm type you specified in "
                      f"{header_name(algorithm)} header is invalid.")
    if value and not _valid_value(algorithm, value):
        raise S3Error("InvalidRequest", f"Value for {header_name(algorithm)} header is "
                      "invalid.")
    return Declared(algorithm, value or None, new_hasher(algorithm))


def stored(algorithm: str, value: str) -> dict[str, str]:
    """The system metadata header that keeps a checked checksum with the object."""
    return {SYSMETA: f"{algorithm}:{value}"}


def response_headers(swift_headers: Mapping[str, str]) -> dict[str, str]:
    """``x-amz-checksum-<alg>`` for an object stored with a checksum (else nothing)."""
    raw = swift_headers.get(SYSMETA, "")
    algorithm, sep, value = raw.partition(":")
    if not sep or algorithm not in ALGORITHMS:
        return {}
    return {header_name(algorithm): value}
