"""Who signed an EC2 Query request: the string to sign is computed here, identity
checks the signature (``/v3/ec2tokens``, which also issues a token of the
credential's user and project, with which the native APIs are called).

Signature Version 4 (``Authorization: AWS4-HMAC-SHA256 ...`` or a presigned
``X-Amz-*`` query; the scope's service is ``ec2``; the body's SHA-256 is the
payload hash) and Version 2 (``SignatureVersion=2`` with ``HmacSHA256`` or
``HmacSHA1``, the parameters sorted and signed with the method, host and path).
A verified answer is kept for a while (never past its token's expiry): for
SigV4 with the scope's signing key, so later requests of one access key, day
and region are checked here; for SigV2 per request.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp

from common import sigv4
from common.errors import Unavailable
from ec2.errors import AuthFailure, RequestExpired
from identity.client import (
    IdentityUnavailable,
    SignatureRefused,
    TokenInfo,
    check_signature,
)

MAX_SKEW = 15 * 60
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
SERVICE = "ec2"
SIGV2_METHODS = ("HmacSHA256", "HmacSHA1")
_DENIED = "AWS was not able to validate the provided access credentials"


@dataclass(frozen=True)
class Signed:
    """What a signed request claims; :class:`Verifier` checks it."""

    access: str
    string_to_sign: str
    signature: str
    method: str | None = None  # SigV2's SignatureMethod (None: SigV4)


def _skew(when: float, now: float) -> None:
    if abs(now - when) > MAX_SKEW:
        raise RequestExpired("Request has expired (its time is more than 15 minutes from "
                             "the server's).")


def _amz_date(value: str) -> float:
    try:
        return sigv4.parse_amz_date(value)
    except ValueError:
        raise AuthFailure("AWS authentication requires a valid X-Amz-Date") from None


def _scope(credential: str, amz_date: str, regions: tuple[str, ...]) -> tuple[str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise AuthFailure("Credential should be <access>/<date>/<region>/ec2/aws4_request")
    if parts[3] != SERVICE:
        raise AuthFailure(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if parts[1] != amz_date[:8]:
        raise AuthFailure("Credential should be scoped to the date of X-Amz-Date")
    if regions and parts[2] not in regions:
        raise AuthFailure(f"Credential should be scoped to a valid region, not "
                          f"'{parts[2][:64]}'.")
    return parts[0], "/".join(parts[1:])


def _iso_time(value: str, what: str) -> float:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AuthFailure(f"The {what} parameter is not a valid time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def canonical_v2(params: Iterable[tuple[str, str]]) -> str:
    """SigV2's parameter string: sorted by name, RFC 3986 encoded, without Signature."""
    pairs = sorted((k, v) for k, v in params if k != "Signature")
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def parse(method: str, raw_path: str, raw_query: str, headers: Iterable[tuple[str, str]],
          body: bytes, params: list[tuple[str, str]], *, now: float | None = None,
          regions: tuple[str, ...] = ()) -> Signed:
    """The request's signature claim (AuthFailure when it has none, or a malformed one;
    RequestExpired when stale)."""
    now = time.time() if now is None else now
    header_items = list(headers)
    hdrs = {k.lower(): v for k, v in header_items}
    q = dict(params)
    auth = hdrs.get("authorization", "")
    query = sigv4.split_query(raw_query)
    if auth.startswith(sigv4.ALGORITHM + " "):
        fields: dict[str, str] = {}
        for part in auth[len(sigv4.ALGORITHM) + 1:].split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
            raise AuthFailure("The authorization header needs Credential, SignedHeaders and "
                              "Signature")
        amz_date = hdrs.get("x-amz-date", "")
        _skew(_amz_date(amz_date), now)
        access, scope = _scope(fields["Credential"], amz_date, regions)
        payload = hdrs.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
        signed = fields["SignedHeaders"].lower().split(";")
        canonical = sigv4.canonical_request(method, raw_path, query, header_items, signed,
                                            payload)
        return Signed(access, sigv4.string_to_sign(amz_date, scope, canonical),
                      fields["Signature"])
    if q.get("X-Amz-Algorithm"):
        if q["X-Amz-Algorithm"] != sigv4.ALGORITHM:
            raise AuthFailure("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        needed = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
        if any(k not in q for k in needed):
            raise AuthFailure("A presigned request needs " + ", ".join(needed))
        amz_date = q["X-Amz-Date"]
        when = _amz_date(amz_date)
        expires = q.get("X-Amz-Expires", str(MAX_SKEW))
        if not expires.isdigit() or int(expires) > MAX_PRESIGN_EXPIRES:
            raise AuthFailure("X-Amz-Expires must be a number of seconds up to 604800")
        if now > when + int(expires) or when > now + MAX_SKEW:
            raise RequestExpired("Request has expired")
        access, scope = _scope(q["X-Amz-Credential"], amz_date, regions)
        payload = hashlib.sha256(body).hexdigest() if method == "POST" else \
            hashlib.sha256(b"").hexdigest()
        signed = q["X-Amz-SignedHeaders"].lower().split(";")
        canonical = sigv4.canonical_request(method, raw_path, query, header_items, signed,
                                            payload, skip_query="X-Amz-Signature")
        return Signed(access, sigv4.string_to_sign(amz_date, scope, canonical),
                      q["X-Amz-Signature"])
    if "Signature" in q and "AWSAccessKeyId" in q:
        if q.get("SignatureVersion") != "2":
            raise AuthFailure("Only SignatureVersion 2 and Signature Version 4 are accepted")
        sig_method = q.get("SignatureMethod", "")
        if sig_method not in SIGV2_METHODS:
            raise AuthFailure("SignatureMethod must be HmacSHA256 or HmacSHA1")
        if "Expires" in q:
            if now > _iso_time(q["Expires"], "Expires"):
                raise RequestExpired("Request has expired")
        elif "Timestamp" in q:
            _skew(_iso_time(q["Timestamp"], "Timestamp"), now)
        else:
            raise AuthFailure("A SigV2 request needs a Timestamp or Expires parameter")
        host = hdrs.get("host", "").lower()
        sts = f"{method}\n{host}\n{raw_path or '/'}\n{canonical_v2(params)}"
        return Signed(q["AWSAccessKeyId"], sts, q["Signature"], sig_method)
    raise AuthFailure("The request is not signed: " + _DENIED)


@dataclass(frozen=True)
class Verified:
    """Who signed: the token body identity answered, and the token it issued."""

    info: TokenInfo
    token: str
    signing_key: bytes | None = None


class Verifier:
    """Checks signatures with identity and keeps the answers ``cache_seconds`` (never
    past the token's expiry, less a minute for the calls the request makes)."""

    def __init__(self, session: aiohttp.ClientSession, identity_url: str,
                 service_token: Callable[[], Awaitable[str]], *, cache_seconds: float = 30,
                 max_entries: int = 10000) -> None:
        self._session = session
        self._identity_url = identity_url
        self._service_token = service_token
        self._cache_seconds = cache_seconds
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[float, Verified]] = OrderedDict()

    @staticmethod
    def _key(signed: Signed) -> tuple[str, bool]:
        """(cache key, whether it is a SigV4 scope's)."""
        lines = signed.string_to_sign.split("\n")
        if signed.method is None and lines[0] == sigv4.ALGORITHM and len(lines) >= 4:
            return f"{signed.access}\0{lines[2]}", True
        raw = "\0".join((signed.access, signed.string_to_sign, signed.signature,
                         signed.method or ""))
        return hashlib.sha256(raw.encode()).hexdigest(), False

    async def verify(self, signed: Signed) -> Verified:
        key, scoped = self._key(signed)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            verified = hit[1]
            if not scoped:
                return verified
            if verified.signing_key is not None:
                if sigv4.signed_with(verified.signing_key, signed.string_to_sign,
                                     signed.signature):
                    return verified
        try:
            check = await check_signature(
                self._session, self._identity_url, access=signed.access,
                signature=signed.signature, string_to_sign=signed.string_to_sign,
                service_token=await self._service_token(), method=signed.method,
                issue_token=True)
        except SignatureRefused:
            raise AuthFailure(_DENIED) from None
        except IdentityUnavailable as exc:
            raise Unavailable("The identity service is unavailable; try again later.") \
                from exc
        if check.token is None:
            raise Unavailable("The identity service issued no token for the credential.")
        verified = Verified(check.info, check.token, check.signing_key)
        ttl = min(self._cache_seconds, check.info.expires_at - time.time() - 60)
        if ttl > 0:
            self._cache[key] = (time.monotonic() + ttl, verified)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return verified
