"""Swift's tempurl middleware: temporary URLs signed with an account's or
container's ``Temp-URL-Key``.

The rules (what a signature covers, which digests and methods, the headers
added and removed) live in the pure module ``proxy/tempurl.py``; this feature
applies them to requests. A request carrying ``temp_url_sig`` or
``temp_url_expires`` is either refused with Swift's ``401`` (body
``401 Unauthorized: Temp URL invalid``, none for HEAD) or passed on
pre-authorized (``env["authorized"]``), whoever the caller is, with only the
temporary-URL parameters left in its query, as Swift does. A 2xx GET/HEAD
answer gets ``Content-Disposition`` (from ``filename``/``inline``, the
object's own, or its name) and ``Expires``; object metadata other than
``X-Object-Meta-Public-*`` never leaves through a temporary URL.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from multidict import CIMultiDict, MultiDict

from proxy import tempurl as rules
from proxy.pipeline import Handler, SwiftRequest, SwiftResponse

if TYPE_CHECKING:
    from proxy.state import ProxyState

log = logging.getLogger(__name__)

ACCOUNT_KEYS = ("X-Account-Meta-Temp-URL-Key", "X-Account-Meta-Temp-URL-Key-2")
CONTAINER_KEYS = ("X-Container-Meta-Temp-URL-Key", "X-Container-Meta-Temp-URL-Key-2")

#: Set in a request's env by StaticWeb when it made the answer (a listing, a
#: redirect): a temporary URL may name a container only for those, served inline.
STATICWEB_PAGE = "staticweb_page"
#: swob's default content type, which Swift's own error bodies here carry.
SWOB_CONTENT_TYPE = "text/html; charset=UTF-8"


def www_authenticate(account: str | None) -> str:
    """The challenge swob puts on every 401: the account is the realm."""
    return f'Swift realm="{account or "unknown"}"'


def unauthorized(method: str, body: str, account: str | None) -> SwiftResponse:
    """A 401 as swob's ``HTTPUnauthorized(body=...)`` (no body for HEAD)."""
    return SwiftResponse.of(401, {
        "Content-Type": SWOB_CONTENT_TYPE, "Www-Authenticate": www_authenticate(account),
    }, b"" if method == "HEAD" else body.encode())


async def temp_url_keys(st: ProxyState, txn: str, account: str,
                        container: str | None) -> tuple[list[str], list[str]]:
    """The account's and the container's Temp-URL keys (empty values ignored)."""
    acct = await st.info(txn, account)
    account_keys = [v for v in (acct.get(h) for h in ACCOUNT_KEYS) if v]
    container_keys: list[str] = []
    if container:
        cont = await st.info(txn, account, container)
        container_keys = [v for v in (cont.get(h) for h in CONTAINER_KEYS) if v]
    return account_keys, container_keys


def digests_from_conf(value: str) -> frozenset[str]:
    return rules.allowed_digests_from_conf(value.split())


def digests_info(allowed: frozenset[str]) -> dict[str, list[str]]:
    """``allowed_digests`` (and ``deprecated_digests`` when sha1 is allowed), as /info."""
    info = {"allowed_digests": sorted(allowed)}
    if "sha1" in allowed:
        info["deprecated_digests"] = ["sha1"]
    return info


class TempURL:
    name: str | None = "tempurl"

    def __init__(self, st: ProxyState, methods: list[str], digests: frozenset[str]) -> None:
        self.st = st
        self.methods = methods
        self.digests = digests

    def info(self) -> dict[str, Any]:
        return {
            "methods": list(self.methods),
            "incoming_remove_headers": list(rules.INCOMING_REMOVE_HEADERS),
            "incoming_allow_headers": [],
            "outgoing_remove_headers": list(rules.OUTGOING_REMOVE_HEADERS),
            "outgoing_allow_headers": list(rules.OUTGOING_ALLOW_HEADERS),
            **digests_info(self.digests),
        }

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        query: str | MultiDict[str] = req.raw_query or req.query
        if not rules.is_temp_url_request(req.method, query):
            return await next_handler(req)
        path = req.path
        params = rules.parse_params(query)
        account_keys: list[str] = []
        container_keys: list[str] = []
        # a container itself only for StaticWeb: GET/HEAD with temp_url_prefix=""
        container_root = path.obj is None and req.method in ("GET", "HEAD") and \
            params.prefix == ""
        if path.container and (path.obj or container_root):
            account_keys, container_keys = await temp_url_keys(
                self.st, req.txn, path.account, path.container)
        full = "/" + "/".join(p for p in (path.version, path.account, path.container, path.obj)
                              if p is not None)
        result = rules.validate(
            req.method, full, query, account_keys, req.remote or None, time.time(),
            self.digests, container_keys=container_keys, methods=self.methods,
            allow_container_root=True)
        if isinstance(result, rules.TempUrlError):
            log.debug("temporary URL refused (%s): %s", result.reason, result.message)
            return unauthorized(req.method, rules.INVALID_BODY, path.account)
        grant = result
        refusal = rules.disallowed_header(req.method, req.headers.keys())
        if refusal is not None:
            return SwiftResponse.of(400, {"Content-Type": SWOB_CONTENT_TYPE}, refusal.encode())
        # the client's own text of the expiry (StaticWeb's links repeat it as it came)
        kept = {"temp_url_sig": params.sig or "", "temp_url_expires": params.expires or ""}
        if params.prefix is not None:
            kept["temp_url_prefix"] = params.prefix
        if params.filename:
            kept["filename"] = params.filename
        req.headers = CIMultiDict((k, v) for k, v in req.headers.items()
                                  if rules.incoming_header_allowed(k))
        req.query = MultiDict(kept)
        req.raw_query = urlencode(kept)
        req.env["authorized"] = True
        # Subrequests (large-object segments, ...) stay where the key reaches.
        req.env["auth_scope"] = (grant.account,
                                 None if grant.scope == "account" else grant.container)
        req.env["tempurl"] = grant
        resp = await next_handler(req)
        headers = CIMultiDict((k, v) for k, v in resp.headers.items()
                              if rules.outgoing_header_allowed(k))
        if req.method in ("GET", "HEAD") and resp.ok:
            generated = req.env.get(STATICWEB_PAGE, False)
            if grant.container_root and not generated:
                # a container's own listing is StaticWeb's to give, nobody else's
                await resp.close()
                return unauthorized(req.method, rules.INVALID_BODY, path.account)
            existing = headers.get("Content-Disposition")
            headers.popall("Content-Disposition", None)
            headers["Content-Disposition"] = grant.content_disposition(
                existing, inline=generated)
            headers["Expires"] = grant.expires_header()
        resp.headers = headers
        return resp


def make(st: ProxyState) -> TempURL | None:
    cfg = st.cfg.proxy
    if not cfg.tempurl:
        return None
    methods = cfg.tempurl_methods.split()
    return TempURL(st, methods, digests_from_conf(cfg.tempurl_allowed_digests))
