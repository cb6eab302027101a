"""Cross-Origin Resource Sharing, as Swift's proxy does it.

A container opts in with metadata: ``X-Container-Meta-Access-Control-Allow-Origin``
(origins separated by spaces, or ``*``), ``-Max-Age`` (seconds a browser may
cache a preflight answer) and ``-Expose-Headers`` (more headers a page may
read, separated by spaces). The proxy-wide ``cors_allow_origin`` option adds
origins allowed for every container.

Two features, because Swift does this in two places:

* :class:`Preflight`, the outermost feature: every ``OPTIONS`` request, answered
  without asking who the caller is. Without ``Origin``: ``200`` with ``Allow``.
  With it, on a container or object: ``200`` with ``Access-Control-Allow-Origin``
  (``*`` or the origin, with ``Vary: Origin``), ``-Allow-Methods``, ``-Max-Age``
  and ``-Allow-Headers`` (the requested ones), or ``401`` when the origin or the
  ``Access-Control-Request-Method`` is not allowed.
* :class:`Headers`, the innermost feature, for what Swift's controllers answer
  (so not for pages the other features make themselves): a container or object
  request with ``Origin`` gets ``Access-Control-Allow-Origin`` and
  ``Access-Control-Expose-Headers``: Swift's default list, the operator's
  ``cors_expose_headers``, every ``X-Container-Meta-*``/``X-Object-Meta-*`` of
  the answer and the container's own list. With ``strict_cors_mode`` (the
  default) only allowed origins get them.
"""

from __future__ import annotations

from typing import Any

from multidict import CIMultiDict

from common.http import ApiError
from proxy.errors import EXPLANATIONS
from proxy.features.tempurl import www_authenticate
from proxy.pipeline import Handler, SwiftRequest, SwiftResponse
from proxy.state import Info, ProxyState

#: What Swift's account, container and object controllers each accept.
ALLOWED_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT")
ALLOW = ", ".join(ALLOWED_METHODS)
#: Exposed to every CORS answer: the simple response headers and Swift's own.
DEFAULT_EXPOSE = ("cache-control", "content-language", "content-type", "expires",
                  "last-modified", "pragma", "etag", "x-timestamp", "x-trans-id",
                  "x-openstack-request-id")
HTML = "text/html; charset=UTF-8"
META = "X-Container-Meta-Access-Control-"


def csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


class CorsInfo:
    """A container's CORS metadata (all None when the container does not exist)."""

    def __init__(self, info: Info) -> None:
        def meta(name: str) -> str | None:
            if not info.exists:
                return None
            for k, v in info.headers.items():
                if k.lower() == (META + name).lower():
                    return v
            return None

        self.allow_origin = meta("Allow-Origin")
        self.max_age = meta("Max-Age")
        self.expose_headers = meta("Expose-Headers")

    @property
    def wildcard(self) -> bool:
        return bool(self.allow_origin) and (self.allow_origin or "").strip() == "*"


class Settings:
    def __init__(self, st: ProxyState) -> None:
        cfg = st.cfg.proxy
        self.st = st
        self.allow_origin = csv_list(cfg.cors_allow_origin)
        self.expose_headers = [h.lower() for h in csv_list(cfg.cors_expose_headers)]
        self.strict = cfg.strict_cors_mode

    def origin_allowed(self, cors: CorsInfo, origin: str) -> bool:
        allowed = {a.strip() for a in (cors.allow_origin or "").split(" ") if a.strip()}
        allowed.update(self.allow_origin)
        return origin in allowed or "*" in allowed

    async def cors_info(self, req: SwiftRequest) -> CorsInfo:
        assert req.path.container is not None
        return CorsInfo(await self.st.info(req.txn, req.path.account, req.path.container))


def add_vary(headers: CIMultiDict[str] | dict[str, str], value: str) -> None:
    if "Vary" in headers:
        headers["Vary"] = headers["Vary"] + ", " + value
    else:
        headers["Vary"] = value


class Preflight:
    """``OPTIONS``: answered here, before any other feature or any authorization."""

    name: str | None = None  # Swift lists CORS under "swift" (strict_cors_mode) only

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def info(self) -> dict[str, Any]:
        return {}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.method != "OPTIONS":
            return await next_handler(req)
        headers: dict[str, str] = {"Allow": ALLOW}
        origin = req.headers.get("Origin")
        if not origin or req.path.container is None:
            return SwiftResponse.of(200, {**headers, "Content-Type": HTML,
                                          "Content-Length": "0"})
        cors = await self.settings.cors_info(req)
        if not self.settings.origin_allowed(cors, origin) or \
                req.headers.get("Access-Control-Request-Method") not in ALLOWED_METHODS:
            body = (f"<html><h1>Unauthorized</h1><p>{EXPLANATIONS[401]}</p></html>").encode()
            return SwiftResponse.of(401, {
                **headers, "Content-Type": HTML, "Content-Length": str(len(body)),
                "Www-Authenticate": www_authenticate(req.path.account)}, body)
        if cors.wildcard:
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            headers["Access-Control-Allow-Origin"] = origin
            add_vary(headers, "Origin")
        if cors.max_age is not None:
            headers["Access-Control-Max-Age"] = cors.max_age
        headers["Access-Control-Allow-Methods"] = ALLOW
        wanted = csv_list(req.headers.get("Access-Control-Request-Headers", ""))
        if wanted:
            headers["Access-Control-Allow-Headers"] = ", ".join(dict.fromkeys(wanted))
            add_vary(headers, "Access-Control-Request-Headers")
        headers["Content-Length"] = "0"
        return SwiftResponse.of(200, headers)


class Headers:
    """CORS headers on the controllers' answers to requests that carry ``Origin``."""

    name: str | None = None

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def info(self) -> dict[str, Any]:
        return {}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        origin = req.headers.get("Origin")
        if not origin or req.path.container is None or req.method == "OPTIONS":
            return await next_handler(req)
        cors = await self.settings.cors_info(req)
        try:
            resp = await next_handler(req)
        except ApiError as err:
            self.decorate(err.headers, cors, origin)
            raise
        self.decorate(resp.headers, cors, origin)
        return resp

    def decorate(self, headers: CIMultiDict[str] | dict[str, str], cors: CorsInfo,
                 origin: str) -> None:
        if self.settings.strict and not self.settings.origin_allowed(cors, origin):
            return
        if "Access-Control-Expose-Headers" not in headers:
            expose = set(DEFAULT_EXPOSE)
            expose.update(self.settings.expose_headers)
            for name in headers:
                if name.lower().startswith(("x-container-meta", "x-object-meta")):
                    expose.add(name.lower())
            if cors.expose_headers:
                expose.update(h.strip().lower() for h in cors.expose_headers.split(" ")
                              if h.strip())
            headers["Access-Control-Expose-Headers"] = ", ".join(sorted(expose))
        if "Access-Control-Allow-Origin" not in headers:
            if cors.wildcard:
                headers["Access-Control-Allow-Origin"] = "*"
            else:
                headers["Access-Control-Allow-Origin"] = origin
                add_vary(headers, "Origin")


def make(st: ProxyState) -> Preflight:
    return Preflight(Settings(st))


def make_headers(st: ProxyState) -> Headers:
    return Headers(Settings(st))
