"""AWS Signature Version 4: canonical request and string to sign, as the S3 front
(``proxy/s3``) and the EC2 front (``ec2``) compute them.

Pure functions (no I/O), checked against AWS's published examples. The
signature itself is computed by identity, which holds the secret; the fronts
only compute the string to sign.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote

from multidict import CIMultiDict, CIMultiDictProxy

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def uri_encode(text: str, *, encode_slash: bool = True) -> str:
    """AWS's UriEncode: every byte but ``A-Za-z0-9-_.~`` as ``%XY`` (upper hex)."""
    return quote(text, safe="~" if encode_slash else "/~")


def split_query(raw_query: str) -> list[tuple[str, str]]:
    """The query's pairs decoded, in order (``+`` is a literal plus, as in AWS)."""
    out: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        out.append((unquote(name), unquote(value)))
    return out


# A path of unreserved characters and slashes only: its own canonical form.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_.~/-]*", re.ASCII)


def canonical_uri(raw_path: str) -> str:
    """The path decoded once and UriEncoded again, slashes kept (S3 never normalizes)."""
    path = raw_path.split("?", 1)[0]
    if _PLAIN_PATH.fullmatch(path):
        return path  # nothing to decode or encode (the common case: checked per request)
    return uri_encode(unquote(path) or "/", encode_slash=False)


def canonical_query(pairs: Iterable[tuple[str, str]], *, skip: str = "") -> str:
    encoded = sorted((uri_encode(k), uri_encode(v)) for k, v in pairs if k != skip)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_headers(headers: Iterable[tuple[str, str]] | CIMultiDictProxy[str],
                      signed: list[str]) -> str:
    """``name:value\\n`` for each signed header: values trimmed, inner spaces
    collapsed, repeated headers joined by commas. ``headers``: the request's (a
    case-insensitive multidict: only the signed names are looked up) or its pairs."""
    lookup: CIMultiDict[str] | CIMultiDictProxy[str] = \
        headers if isinstance(headers, (CIMultiDictProxy, CIMultiDict)) else CIMultiDict(headers)
    out = []
    for name in signed:  # (a plain loop: this runs on every signed request)
        values = lookup.getall(name, ())
        if len(values) == 1:
            value = values[0]
            out.append(f"{name}:{value if _TRIMMED(value) else ' '.join(value.split())}\n")
        else:
            out.append(f"{name}:{','.join(' '.join(v.split()) for v in values)}\n")
    return "".join(out)


# A header value already in its canonical form (no leading, trailing or repeated
# whitespace): the common case, checked without splitting the value.
_TRIMMED = re.compile(r"(?:[^\s]+(?: [^\s]+)*)?").fullmatch


def canonical_request(method: str, raw_path: str, query: Iterable[tuple[str, str]],
                      headers: Iterable[tuple[str, str]] | CIMultiDictProxy[str],
                      signed: list[str],
                      payload_hash: str, *, skip_query: str = "") -> str:
    return "\n".join([
        method, canonical_uri(raw_path), canonical_query(query, skip=skip_query),
        canonical_headers(headers, signed), ";".join(signed), payload_hash])


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope,
                      hashlib.sha256(canonical.encode()).hexdigest()])


def signature(secret: str, scope: str, sts: str) -> str:
    """The signature (what identity computes; here for tests and tools)."""
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def signed_with(signing_key: bytes, sts: str, signature_hex: str) -> bool:
    """Whether ``signature_hex`` signs ``sts`` with a scope's signing key (the key
    identity returns with a verified answer, so a front checks later requests of the
    same access key, day and region itself)."""
    return hmac.compare_digest(hmac_hex(signing_key, sts).encode(),
                               signature_hex.encode("utf-8", "replace"))


def hmac_hex(key: bytes, text: str) -> str:
    """HMAC-SHA256 of ``text`` with ``key``, in hex, as ``hmac`` computes it, with the
    key's pads kept (:func:`_pads`): the same few signing keys sign every request."""
    inner, outer = _pads(key)
    inner = inner.copy()
    inner.update(text.encode())
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


@functools.lru_cache(maxsize=256)
def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256's inner and outer hashes with ``key`` already absorbed (RFC 2104):
    a signature then costs two copies and two small updates. (``hmac.digest`` sets
    its key up again on each call: a third of a cached signature check's cost.)"""
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in block)),
            hashlib.sha256(bytes(b ^ 0x5C for b in block)))


_AMZ_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z", re.ASCII)


@functools.lru_cache(maxsize=64)
def parse_amz_date(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 basic time (``20261124T221500Z``), as
    ``X-Amz-Date`` carries it; ValueError when it is not one. (Parsed by hand:
    ``time.strptime`` was a visible share of every S3 request; remembered, as requests
    signed in the same second share it.)"""
    m = _AMZ_TIME.fullmatch(value)
    if m is None:
        raise ValueError(value)
    year, month, day, hour, minute, second = (int(g) for g in m.groups())
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour <= 23 and minute <= 59 and second <= 61):
        raise ValueError(value)
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
