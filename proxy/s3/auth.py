"""Who signed an S3 request: the string to sign is computed here, the signature
is checked by identity (``POST /v3/s3tokens``, which holds the secrets).

Positive answers are cached for :data:`CACHE_SECONDS` (never past the token's
expiry): for SigV4, the scope's signing key, so that later requests of the
same access key and day are checked locally; for SigV2, the exact request.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz
from typing import NamedTuple

import aiohttp
from multidict import CIMultiDictProxy

from common import sigv4
from identity.client import IdentityUnavailable, SignatureRefused, check_signature
from proxy.auth import Caller
from proxy.s3 import sigv2
from proxy.s3.errors import S3Error
from proxy.state import ProxyState

MAX_SKEW = 15 * 60
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
CACHE_SECONDS = 30.0
CACHE_MAX = 10000
_cache: OrderedDict[str, tuple[float, Verified]] = OrderedDict()


class Signed(NamedTuple):
    """What a signed request claims: verified by :func:`verify`. (A named tuple: made
    on every signed request, at a third of a frozen dataclass's cost.)"""

    access: str
    string_to_sign: str
    signature: str
    payload_hash: str = sigv4.UNSIGNED  # x-amz-content-sha256 the signature covers
    # The SigV4 scope whose key signs ``string_to_sign`` as it is, when it names none
    # itself (a browser upload's base64 POST policy: ``postobject``).
    scope: str | None = None

    @property
    def sigv4(self) -> bool:
        return self.scope is not None or self.string_to_sign.startswith(
            sigv4.ALGORITHM + "\n")


def _amz_time(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 basic time (``20261124T221500Z``)."""
    try:
        return sigv4.parse_amz_date(value)
    except ValueError:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or "
                      "x-amz-date header") from None


def _http_time(value: str) -> float:
    parsed = parsedate_tz(value)
    if parsed is None:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or "
                      "x-amz-date header")
    return float(mktime_tz(parsed))


def _check_skew(when: float, now: float) -> None:
    if abs(now - when) > MAX_SKEW:
        raise S3Error("RequestTimeTooSkewed",
                      RequestTime=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when)),
                      ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                      MaxAllowedSkewMilliseconds=str(MAX_SKEW * 1000))


def credential_scope(credential: str, amz_date: str,
           regions: tuple[str, ...] = ()) -> tuple[str, str]:
    """(access key, credential scope) from ``<access>/<date>/<region>/s3/aws4_request``.

    With ``regions``, the scope's region must be one of them (the first is ours)."""
    return _credential_scope(credential, amz_date[:8], regions)


@functools.lru_cache(maxsize=1024)
def _credential_scope(credential: str, amz_date: str,
                      regions: tuple[str, ...]) -> tuple[str, str]:
    """:func:`credential_scope` of a day (the same few, every request; a refusal
    raises and is not remembered)."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or parts[3] != "s3" or not parts[0]:
        raise S3Error("AuthorizationHeaderMalformed",
                      "The authorization header is malformed; the Credential is "
                      "mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/"
                      "aws4_request\".")
    if parts[1] != amz_date[:8]:
        raise S3Error("AuthorizationHeaderMalformed",
                      f"The authorization header is malformed; Invalid credential date. "
                      f"Date is not the same as X-Amz-Date: \"{parts[1]}\".")
    if regions and parts[2] not in regions:
        raise S3Error("AuthorizationHeaderMalformed",
                      f"The authorization header is malformed; the region '{parts[2]}' is "
                      f"wrong; expecting '{regions[0]}'", Region=regions[0])
    return parts[0], "/".join(parts[1:])


_V4_PREFIX = sigv4.ALGORITHM + " "
_V4_FIELDS = frozenset({"Credential", "SignedHeaders", "Signature"})
# The Authorization header as SDKs write it: its three fields in order, nothing else.
_V4_PLAIN = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,= ]+), ?SignedHeaders=([^,= ]+), ?"
                       r"Signature=([0-9a-f]+)", re.ASCII)


def _v4_fields(auth: str) -> dict[str, str]:
    """A SigV4 Authorization header's ``name=value`` fields (the common form matched at
    once; any other split field by field, its problems left to the caller)."""
    m = _V4_PLAIN.fullmatch(auth)
    if m is not None:
        return {"Credential": m[1], "SignedHeaders": m[2], "Signature": m[3]}
    fields: dict[str, str] = {}
    for item in auth[len(_V4_PREFIX):].split(","):
        k, _, v = item.strip().partition("=")
        fields[k] = v
    return fields


def parse(method: str, raw_path: str, raw_query: str, headers: CIMultiDictProxy[str],
          now: float | None = None, sigv2_path: str | None = None,
          regions: tuple[str, ...] = ()) -> Signed | None:
    """The request's signature claim; None for an anonymous request.

    ``sigv2_path`` is the path SigV2 signs when it differs from the request's
    (``/<bucket>/<key>`` for a virtual-hosted-style request); ``regions`` are the
    regions a SigV4 scope may name.
    Raises :class:`S3Error` for malformed or stale authentication."""
    now = time.time() if now is None else now
    v2_path = (sigv2_path or raw_path).split("?", 1)[0]
    query = sigv4.split_query(raw_query)
    q = dict(query)
    auth = headers.get("Authorization", "")
    if auth.startswith(_V4_PREFIX):
        fields = _v4_fields(auth)
        if not _V4_FIELDS <= fields.keys():
            raise S3Error("AuthorizationHeaderMalformed", "The authorization header is "
                          "malformed; the authorization header requires three components: "
                          "Credential, SignedHeaders, and Signature.")
        amz_date = headers.get("X-Amz-Date", "")
        when = _amz_time(amz_date)
        _check_skew(when, now)
        access, scope = credential_scope(fields["Credential"], amz_date, regions)
        payload = headers.get("X-Amz-Content-SHA256")
        if not payload:
            raise S3Error("InvalidRequest", "Missing required header for this request: "
                          "x-amz-content-sha256")
        signed = fields["SignedHeaders"].lower().split(";")
        canonical = sigv4.canonical_request(method, raw_path, query, headers, signed,
                                            payload)
        return Signed(access, sigv4.string_to_sign(amz_date, scope, canonical),
                      fields["Signature"], payload)
    if q.get("X-Amz-Algorithm"):
        if q["X-Amz-Algorithm"] != sigv4.ALGORITHM:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        missing = [k for k in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                               "X-Amz-SignedHeaders", "X-Amz-Signature") if k not in q]
        if missing:
            raise S3Error("AuthorizationQueryParametersError",
                          f"Query-string authentication version 4 requires the "
                          f"{', '.join(missing)} parameters")
        amz_date = q["X-Amz-Date"]
        when = _amz_time(amz_date)
        expires = q["X-Amz-Expires"]
        if not expires.isdigit() or int(expires) > MAX_PRESIGN_EXPIRES:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Expires must be a number of seconds between 0 and 604800")
        if now > when + int(expires):
            raise S3Error("AccessDenied", "Request has expired",
                          Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                time.gmtime(when + int(expires))),
                          ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
        if when > now + MAX_SKEW:
            raise S3Error("AccessDenied", "Request is not valid yet")
        access, scope = credential_scope(q["X-Amz-Credential"], amz_date, regions)
        payload = q.get("X-Amz-Content-Sha256", sigv4.UNSIGNED)
        signed = q["X-Amz-SignedHeaders"].lower().split(";")
        canonical = sigv4.canonical_request(method, raw_path, query, headers, signed,
                                            payload, skip_query="X-Amz-Signature")
        return Signed(access, sigv4.string_to_sign(amz_date, scope, canonical),
                      q["X-Amz-Signature"], payload)
    if auth.startswith("AWS "):
        access, sep, signature = auth[4:].strip().rpartition(":")
        if not sep or not access:
            raise S3Error("InvalidArgument", "AWS authorization header is invalid. "
                          "Expected AwsAccessKeyId:signature")
        stamp = headers.get("X-Amz-Date") or headers.get("Date") or ""
        when = _amz_time(stamp) if stamp[:8].isdigit() and "T" in stamp \
            else _http_time(stamp)
        _check_skew(when, now)
        sts = sigv2.string_to_sign(method, list(headers.items()), v2_path, query)
        return Signed(access, sts, signature)
    if "AWSAccessKeyId" in q and "Signature" in q:
        expires = q.get("Expires", "")
        if not expires.isdigit():
            raise S3Error("AccessDenied", "Query-string authentication requires the "
                          "Signature, Expires and AWSAccessKeyId parameters")
        if now > int(expires):
            raise S3Error("AccessDenied", "Request has expired")
        sts = sigv2.string_to_sign(method, list(headers.items()), v2_path, query,
                                   expires=expires)
        return Signed(q["AWSAccessKeyId"], sts, q["Signature"])
    if auth:
        raise S3Error("AccessDenied", "Unsupported Authorization Type")
    return None


def _cache_key(signed: Signed) -> str:
    return hashlib.sha256("\0".join(
        (signed.access, signed.string_to_sign, signed.signature)).encode()).hexdigest()


@dataclass(frozen=True)
class Verified:
    caller: Caller
    signing_key: bytes | None = None  # the scope's SigV4 key, when identity gave it


def _scope_key(signed: Signed) -> str | None:
    """(access key, SigV4 scope) for a SigV4 request; None for SigV2."""
    if signed.scope is not None:
        return signed.access + "\0" + signed.scope
    lines = signed.string_to_sign.split("\n")
    if lines[0] != sigv4.ALGORITHM or len(lines) < 4:
        return None
    return signed.access + "\0" + lines[2]


def _remember(key: str, verified: Verified, expires_at: float) -> None:
    ttl = min(CACHE_SECONDS, expires_at - time.time())
    if ttl > 0:
        _cache[key] = (time.monotonic() + ttl, verified)
        while len(_cache) > CACHE_MAX:
            _cache.popitem(last=False)


def cached(signed: Signed, scope: str | None = None) -> Verified | None:
    """The caller of a SigV4 request whose scope's signing key is cached and signs it
    (``scope``: its :func:`_scope_key`, when known); None when identity must be asked."""
    scope = scope if scope is not None else _scope_key(signed)
    hit = _cache.get(scope) if scope is not None else None
    if hit is None or hit[0] <= time.monotonic():
        return None
    verified = hit[1]
    if verified.signing_key is None or not sigv4.signed_with(
            verified.signing_key, signed.string_to_sign, signed.signature):
        return None
    return verified


async def verify(session: aiohttp.ClientSession, identity_url: str,
                 signed: Signed, service_token: str | None = None) -> Verified:
    """The caller whose EC2 credential made ``signed``, as identity says.

    With ``service_token`` (the proxy's own), identity also hands over the SigV4
    signing key of a SigV4 request's scope (one access key, one day, one region).
    It is kept :data:`CACHE_SECONDS`, so further requests of that scope are
    checked here without asking identity, and aws-chunked chunk signatures can
    be checked. A signature the cached key does not produce is asked about again
    (the credential may have changed). SigV2 answers are cached per request."""
    scope = _scope_key(signed) if service_token else None
    key = scope if scope is not None else _cache_key(signed)
    if scope is not None:
        verified = cached(signed, scope)
        if verified is not None:
            return verified
    else:
        hit = _cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    try:
        check = await check_signature(
            session, identity_url, access=signed.access, signature=signed.signature,
            string_to_sign=signed.string_to_sign, service_token=service_token,
            scope=signed.scope)
    except SignatureRefused as exc:
        if exc.unknown_key:
            raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=signed.access) from None
        raise S3Error("SignatureDoesNotMatch", AWSAccessKeyId=signed.access,
                      StringToSign=signed.string_to_sign,
                      SignatureProvided=signed.signature) from None
    except IdentityUnavailable:
        raise S3Error("ServiceUnavailable", "The identity service is unavailable.") from None
    if scope is not None and check.signing_key is None:
        raise S3Error("ServiceUnavailable", "The identity service gave no signing key.")
    verified = Verified(Caller(check.info), check.signing_key)
    _remember(key, verified, check.info.expires_at)
    return verified


async def verify_for(st: ProxyState, signed: Signed) -> Verified:
    """:func:`verify` as the proxy ``st`` asks: a SigV4 signature with the proxy's
    service token, so that its scope's signing key comes back."""
    service = None
    if signed.sigv4:
        try:
            service = await st.validator.service_token()
        except IdentityUnavailable:
            raise S3Error("ServiceUnavailable", "The identity service is unavailable.") \
                from None
    return await verify(st.backend.session, st.identity_url, signed, service)
