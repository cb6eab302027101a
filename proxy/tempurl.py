"""Swift's TempURL middleware as pure logic: validate a temporary URL, build
signatures, and produce the response headers Swift adds.

A temporary URL carries ``temp_url_sig`` and ``temp_url_expires`` (a unix
time, or ISO 8601 ``YYYY-MM-DDThh:mm:ssZ``), and optionally
``temp_url_prefix``, ``temp_url_ip_range``, ``filename`` and ``inline``. The
signature is an HMAC, keyed with one of the account's or container's
``Temp-URL-Key``/``Temp-URL-Key-2`` values, over::

    [ip=<range>\\n]<METHOD>\\n<expires>\\n<path>

where ``<expires>`` is always the unix integer and ``<path>`` is the object's
``/v1/<account>/<container>/<object>`` (unquoted), or
``prefix:/v1/<account>/<container>/<prefix>`` for a prefix-based URL. The
signature is hex (its length picks sha1, sha256 or sha512) or
``<digest>:<base64>`` (standard or URL-safe alphabet, padding optional). A
HEAD passes with a signature made for HEAD, GET, POST or PUT.

Swift answers every failure with ``401`` (body :data:`INVALID_BODY`, none for
HEAD); :class:`TempUrlError` also says why, for logs and tests.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hmac
import ipaddress
import posixpath
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from enum import StrEnum
from typing import Literal
from urllib.parse import parse_qs, quote

#: Digests Swift knows; sha1 is deprecated (/info says so) but still allowed by default.
SUPPORTED_DIGESTS = frozenset({"sha1", "sha256", "sha512"})
DEFAULT_ALLOWED_DIGESTS = frozenset({"sha1", "sha256", "sha512"})  # Swift 2.38's default
#: Methods a temporary URL may be used with (Swift's ``methods`` default).
DEFAULT_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})
#: A HEAD is allowed with a signature made for any of these.
HEAD_SIGNATURE_METHODS = ("HEAD", "GET", "POST", "PUT")
EXPIRES_ISO8601_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
HEX_DIGEST_LENGTHS = {40: "sha1", 64: "sha256", 128: "sha512"}

#: Swift's 401 body for an invalid temporary URL (HEAD responses have none).
INVALID_BODY = "401 Unauthorized: Temp URL invalid\n"

#: Headers a non-GET/HEAD temporary URL request may not carry (400 if present).
DISALLOWED_INCOMING_HEADERS = ("X-Object-Manifest", "X-Symlink-Target")
#: Swift's defaults for the headers it strips from requests and responses.
INCOMING_REMOVE_HEADERS = ("x-timestamp", "x-open-expired")
OUTGOING_REMOVE_HEADERS = ("x-object-meta-*",)
OUTGOING_ALLOW_HEADERS = ("x-object-meta-public-*",)

Scope = Literal["account", "container"]


class TempUrlReason(StrEnum):
    """Why a temporary URL was refused (Swift gives 401 for all of them)."""

    MISSING = "missing"                         # no temp_url_sig / temp_url_expires
    MALFORMED_EXPIRES = "malformed_expires"     # neither an integer nor ISO 8601
    EXPIRED = "expired"
    MALFORMED_SIGNATURE = "malformed_signature"  # bad hex/base64 or hex length
    UNSUPPORTED_DIGEST = "unsupported_digest"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_PATH = "invalid_path"               # not /v1/<a>/<c>/<object>
    NO_CLIENT_ADDRESS = "no_client_address"
    MALFORMED_IP_RANGE = "malformed_ip_range"
    IP_NOT_ALLOWED = "ip_not_allowed"
    NO_KEYS = "no_keys"
    PREFIX_MISMATCH = "prefix_mismatch"         # the object is not under temp_url_prefix
    BAD_SIGNATURE = "bad_signature"


@dataclass(frozen=True)
class TempUrlError:
    reason: TempUrlReason
    message: str
    status: int = 401

    def body(self, method: str) -> str:
        """Swift's response body for this refusal."""
        return "" if method == "HEAD" else INVALID_BODY


@dataclass(frozen=True)
class TempUrlParams:
    """The temporary-URL query parameters, as given (first value of each)."""

    sig: str | None = None
    expires: str | None = None
    prefix: str | None = None
    ip_range: str | None = None
    filename: str | None = None
    inline: bool = False


@dataclass(frozen=True)
class TempUrlGrant:
    """A valid temporary URL: what it admits and how to answer it."""

    method: str
    account: str
    container: str
    object_name: str        # "" only for a container-root grant
    expires: int            # unix time
    digest: str             # "sha1" | "sha256" | "sha512"
    scope: Scope            # which key matched: access stays in this account/container
    prefix: str | None      # set for a prefix-based URL
    ip_range: str | None
    filename: str | None
    inline: bool
    container_root: bool = False

    @property
    def prefix_based(self) -> bool:
        return self.prefix is not None

    def content_disposition(self, existing: str | None = None, *,
                            inline: bool = False) -> str:
        """``Content-Disposition`` for a 2xx GET/HEAD (see :func:`content_disposition`);
        ``inline`` for a page StaticWeb made."""
        return content_disposition(self.filename, self.inline or inline, self.object_name,
                                   existing)

    def expires_header(self) -> str:
        """``Expires`` for a 2xx GET/HEAD."""
        return expires_header(self.expires)

    def allows(self, account: str, container: str | None = None) -> bool:
        """May a (sub)request on this account/container proceed under the grant?

        Account-key grants stay in the account, container-key grants in the
        container, as Swift's ``authorize_same_account``/``_container``.
        """
        if account != self.account:
            return False
        return self.scope == "account" or container == self.container


def allowed_digests_from_conf(names: Iterable[str]) -> frozenset[str]:
    """Swift's ``allowed_digests`` setting: names lower-cased, unsupported ones
    dropped, the default when none are given; ValueError when none remain."""
    wanted = {name.lower() for name in names}
    if not wanted:
        return DEFAULT_ALLOWED_DIGESTS
    allowed = frozenset(wanted & SUPPORTED_DIGESTS)
    if not allowed:
        raise ValueError("No valid digest algorithms are configured")
    return allowed


def _first_values(query: str | Mapping[str, str]) -> Mapping[str, str]:
    if isinstance(query, str):
        return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
    return query


def parse_params(query: str | Mapping[str, str]) -> TempUrlParams:
    """Pick the temporary-URL parameters out of a raw query string (decoded as
    Swift does, ``+`` as space) or an already-decoded mapping."""
    q = _first_values(query)
    return TempUrlParams(sig=q.get("temp_url_sig"), expires=q.get("temp_url_expires"),
                         prefix=q.get("temp_url_prefix"), ip_range=q.get("temp_url_ip_range"),
                         filename=q.get("filename"), inline="inline" in q)


def is_temp_url_request(method: str, query: str | Mapping[str, str]) -> bool:
    """Should the TempURL logic handle this request at all? (Swift passes a
    request straight on when it has neither parameter, and OPTIONS always.)"""
    if method == "OPTIONS":
        return False
    params = parse_params(query)
    return params.sig is not None or params.expires is not None


def parse_expires(value: str) -> int | None:
    """A unix integer, or an ISO 8601 ``%Y-%m-%dT%H:%M:%SZ`` UTC time; None if neither."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return calendar.timegm(time.strptime(value, EXPIRES_ISO8601_FORMAT))
    except ValueError:
        return None


def _strict_b64decode(value: str) -> bytes:
    """Standard-alphabet base64; any character outside it (but '=' padding at
    either end) is an error rather than silently skipped."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    if any(c not in alphabet for c in value.strip("=")):
        raise ValueError("invalid base64 character")
    try:
        return base64.b64decode(value)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


def parse_signature(sig: str) -> tuple[str, str]:
    """``(digest name, lower-case hex digest)`` from a ``temp_url_sig``; ValueError if malformed.

    A hex signature is returned as given (so upper-case hex never matches, as
    in Swift); a ``<digest>:<base64>`` one is decoded and re-encoded as hex.
    The digest name is not checked here.
    """
    if ":" in sig:
        algo, encoded = sig.split(":", 1)
        if ("-" in encoded or "_" in encoded) and not ("+" in encoded or "/" in encoded):
            encoded = encoded.replace("-", "+").replace("_", "/")
        return algo, _strict_b64decode(encoded + "==").hex()
    binascii.unhexlify(sig)  # must be hex
    algo_name = HEX_DIGEST_LENGTHS.get(len(sig))
    if algo_name is None:
        raise ValueError("bad digest length")
    return algo_name, sig


def hmac_body(method: str, expires: int, path: str, ip_range: str | None = None) -> bytes:
    """The message a temporary URL signs."""
    parts = [method, str(expires), path]
    if ip_range:
        parts.insert(0, f"ip={ip_range}")
    return "\n".join(parts).encode("utf-8")


def make_signature(key: str | bytes, method: str, expires: int, path: str, *,
                   digest: str = "sha256", ip_range: str | None = None,
                   prefix: str | None = None,
                   encoding: Literal["hex", "base64", "base64url"] = "hex") -> str:
    """A ``temp_url_sig`` value.

    ``path`` is ``/v1/<account>/<container>/<object>``; with ``prefix`` it is
    the container path ``/v1/<account>/<container>`` and the signature is
    prefix-based (a ``path`` already starting ``prefix:`` is used as is).
    ``encoding`` "hex" gives bare hex; "base64"/"base64url" give
    ``<digest>:<base64>`` (standard padded / URL-safe unpadded).
    """
    if prefix is not None:
        path = f"prefix:{path.rstrip('/')}/{prefix}"
    raw_key = key.encode("utf-8") if isinstance(key, str) else key
    mac = hmac.new(raw_key, hmac_body(method, expires, path, ip_range), digest).digest()
    if encoding == "hex":
        return mac.hex()
    if encoding == "base64":
        return f"{digest}:{base64.b64encode(mac).decode('ascii')}"
    return f"{digest}:{base64.urlsafe_b64encode(mac).decode('ascii').rstrip('=')}"


def _split_object_path(path: str, allow_container_root: bool) -> tuple[str, str, str] | None:
    """``(account, container, object)`` of ``/v1/<a>/<c>/<o>`` (Swift's split_path
    rules: no empty account/container; the object not empty nor only slashes),
    or with ``allow_container_root`` also ``/v1/<a>/<c>`` with object ``""``."""
    segs = path.split("/", 4)
    if segs[0] or len(segs) < 4 or "" in segs[1:4] or segs[1] != "v1":
        return None
    obj = segs[4] if len(segs) == 5 else None
    if allow_container_root:
        return segs[2], segs[3], obj or ""
    if obj is None or not obj.strip("/"):
        return None
    return segs[2], segs[3], obj


def _error(reason: TempUrlReason, message: str) -> TempUrlError:
    return TempUrlError(reason, message)


def validate(method: str, path: str, query: str | Mapping[str, str], keys: Sequence[str],
             client_ip: str | None, now: float,
             allowed_digests: Collection[str] = DEFAULT_ALLOWED_DIGESTS, *,
             container_keys: Sequence[str] = (),
             methods: Collection[str] = DEFAULT_METHODS,
             allow_container_root: bool = False) -> TempUrlGrant | TempUrlError:
    """Check a temporary URL the way Swift's middleware does, in its order.

    ``path`` is the request path, percent-decoded. ``keys`` are the account's
    Temp-URL keys, ``container_keys`` the container's (the grant's ``scope``
    says which matched). Call only when :func:`is_temp_url_request`; without
    parameters the answer is a MISSING error. ``allow_container_root`` turns on
    Swift's carve-out for staticweb: a GET/HEAD with ``temp_url_prefix=`` (empty)
    may name the container itself; the caller must then refuse (401) unless it
    serves a staticweb page.
    """
    params = parse_params(query)
    if not params.sig or not params.expires:
        return _error(TempUrlReason.MISSING, "temp_url_sig and temp_url_expires are required")
    expires = parse_expires(params.expires)
    if expires is None:
        return _error(TempUrlReason.MALFORMED_EXPIRES,
                      f"temp_url_expires is not a time: {params.expires!r}")
    if expires < now or expires == 0:
        return _error(TempUrlReason.EXPIRED, f"temporary URL expired at {expires}")
    try:
        digest, sig_hex = parse_signature(params.sig)
    except ValueError:
        return _error(TempUrlReason.MALFORMED_SIGNATURE, "temp_url_sig is malformed")
    if digest not in allowed_digests or digest not in SUPPORTED_DIGESTS:
        return _error(TempUrlReason.UNSUPPORTED_DIGEST, f"digest {digest!r} is not allowed")
    if method not in methods:
        return _error(TempUrlReason.METHOD_NOT_ALLOWED, f"method {method} is not allowed")
    root_ok = allow_container_root and method in ("GET", "HEAD") and params.prefix == ""
    parts = _split_object_path(path, root_ok)
    if parts is None:
        return _error(TempUrlReason.INVALID_PATH, "temporary URLs name an object")
    account, container, obj = parts
    if params.ip_range:
        if client_ip is None:
            return _error(TempUrlReason.NO_CLIENT_ADDRESS, "client address unknown")
        try:
            network = ipaddress.ip_network(params.ip_range)
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return _error(TempUrlReason.MALFORMED_IP_RANGE,
                          f"bad temp_url_ip_range or client address: {params.ip_range!r}")
        if address not in network:
            return _error(TempUrlReason.IP_NOT_ALLOWED,
                          f"{client_ip} is not in {params.ip_range}")
    scoped_keys: list[tuple[str, Scope]] = [(k, "account") for k in keys]
    scoped_keys += [(k, "container") for k in container_keys]
    if not scoped_keys:
        return _error(TempUrlReason.NO_KEYS, "no Temp-URL key is set")
    if params.prefix is None:
        signed_path = f"/v1/{account}/{container}/{obj}"
    else:
        if not obj.startswith(params.prefix):
            return _error(TempUrlReason.PREFIX_MISMATCH,
                          f"object is not under prefix {params.prefix!r}")
        signed_path = f"prefix:/v1/{account}/{container}/{params.prefix}"
    candidates = HEAD_SIGNATURE_METHODS if method == "HEAD" else (method,)
    scope = _match(sig_hex, digest, candidates, expires, signed_path, params.ip_range,
                   scoped_keys)
    if scope is None:
        return _error(TempUrlReason.BAD_SIGNATURE, "signature does not match")
    return TempUrlGrant(
        method=method, account=account, container=container, object_name=obj,
        expires=expires, digest=digest, scope=scope, prefix=params.prefix,
        ip_range=params.ip_range or None, filename=params.filename or None,
        inline=params.inline, container_root=(root_ok and not obj.strip("/")))


def _match(sig_hex: str, digest: str, methods: Iterable[str], expires: int, path: str,
           ip_range: str | None, scoped_keys: Sequence[tuple[str, Scope]]) -> Scope | None:
    """The scope of the first key whose HMAC equals the signature (constant-time compare)."""
    given = sig_hex.encode("ascii")  # parse_signature only yields ASCII hex
    for method in methods:
        message = hmac_body(method, expires, path, ip_range)
        for key, scope in scoped_keys:
            expected = hmac.new(key.encode("utf-8"), message, digest).hexdigest()
            if hmac.compare_digest(expected.encode("ascii"), given):
                return scope
    return None


def _quote_utf8(value: str, safe: str) -> str:
    raw = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return quote(raw, safe=safe)


def _disposition(kind: str, filename: str) -> str:
    return (f'{kind}; filename="{_quote_utf8(filename, " /")}"; '
            f"filename*=UTF-8''{_quote_utf8(filename, '/')}")


def content_disposition(filename: str | None, inline: bool, object_name: str,
                        existing: str | None = None) -> str:
    """The ``Content-Disposition`` Swift puts on a 2xx GET/HEAD through a temporary URL.

    ``inline`` gives ``inline`` (with the filename when there is one); else a
    ``filename`` gives an attachment of that name; else the object's own
    ``existing`` disposition stands; else an attachment named after the last
    path segment of the object.
    """
    if inline:
        value = _disposition("inline", filename) if filename else "inline"
    elif filename:
        value = _disposition("attachment", filename)
    elif existing:
        value = existing
    else:
        value = _disposition("attachment", posixpath.basename(object_name.rstrip("/")))
    return value.replace("\n", "%0A")


#: The latest time an HTTP date can show (9999-12-31T23:59:59Z).
_LAST_HTTP_DATE = 253402300799


def expires_header(expires: int) -> str:
    """``Expires`` for a 2xx GET/HEAD: the URL's expiry as an HTTP date (capped
    at the year 9999, where Swift would fail outright)."""
    return formatdate(min(expires, _LAST_HTTP_DATE), usegmt=True)


def disallowed_header(method: str, header_names: Iterable[str]) -> str | None:
    """Swift's 400 body when a write through a temporary URL carries a header
    that could point at other data (``X-Object-Manifest``, ``X-Symlink-Target``)."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return None
    present = {name.lower() for name in header_names}
    for header in DISALLOWED_INCOMING_HEADERS:
        if header.lower() in present:
            return f"The header {header!r} is not allowed in this tempurl"
    return None


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(name.startswith(p[:-1]) if p.endswith("*") else name == p for p in patterns)


def incoming_header_allowed(name: str) -> bool:
    """False for request headers Swift strips from temporary-URL requests."""
    return not _matches(name.lower(), INCOMING_REMOVE_HEADERS)


def outgoing_header_allowed(name: str) -> bool:
    """False for response headers Swift strips from temporary-URL responses
    (object metadata, except ``X-Object-Meta-Public-*``)."""
    lower = name.lower()
    if _matches(lower, OUTGOING_ALLOW_HEADERS):
        return True
    return not _matches(lower, OUTGOING_REMOVE_HEADERS)
