"""Quoted ETags on request, as Swift's ``etag_quoter`` middleware.

RFC 7232 wants an ETag in double quotes; Swift sends bare MD5s unless asked.
An account (``X-Account-Rfc-Compliant-Etags: true``) or a container
(``X-Container-Rfc-Compliant-Etags: true``, which wins over its account's,
``false`` too) asks, kept as ``X-<Kind>-Sysmeta-Rfc-Compliant-Etags``; the
``etag_quoter_enable_by_default`` option decides where neither says. Object
answers then carry ``"<etag>"`` (an ETag already quoted, or weak, is left as
it is). Only client requests are touched: features below read the bare ETags.
"""

from __future__ import annotations

from typing import Any

from proxy.pipeline import Handler, SwiftRequest, SwiftResponse
from proxy.request import is_true
from proxy.state import ProxyState


def quoted(value: str) -> str:
    if value.startswith(('"', 'W/"')) and value.endswith('"'):
        return value
    return f'"{value}"'


class EtagQuoter:
    name: str | None = "etag_quoter"

    def __init__(self, st: ProxyState, enable_by_default: bool) -> None:
        self.st = st
        self.enable_by_default = enable_by_default

    def info(self) -> dict[str, Any]:
        return {"enable_by_default": self.enable_by_default}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.is_sub or req.env.get("s3"):  # the S3 front quotes its own ETags
            return await next_handler(req)
        if req.path.kind != "object":
            return await self.setting(req, next_handler)
        if not await self.wanted(req):
            return await next_handler(req)
        resp = await next_handler(req)
        if "Etag" in resp.headers:
            resp.headers["Etag"] = quoted(resp.headers["Etag"])
        return resp

    @staticmethod
    async def setting(req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        """An account or container request: the client's header as sysmeta, and back."""
        kind = "Container" if req.path.container else "Account"
        client = f"X-{kind}-Rfc-Compliant-Etags"
        sysmeta = f"X-{kind}-Sysmeta-Rfc-Compliant-Etags"
        if client in req.headers:
            value = req.headers.popall(client)[0]
            req.headers[sysmeta] = str(is_true(value)) if value else ""
        if req.headers.get(f"X-Remove-{kind}-Rfc-Compliant-Etags"):
            req.headers[sysmeta] = ""
        resp = await next_handler(req)
        if sysmeta in resp.headers:
            resp.headers[client] = resp.headers.popall(sysmeta)[0]
        return resp

    async def wanted(self, req: SwiftRequest) -> bool:
        """The container's say, else its account's, else the default."""
        path = req.path
        for container in (path.container, None):
            info = await self.st.info(req.txn, path.account, container)
            if not info.exists:
                return False
            kind = "Container" if container else "Account"
            flag = info.get(f"X-{kind}-Sysmeta-Rfc-Compliant-Etags")
            if flag:
                return is_true(flag)
        return self.enable_by_default


def make(st: ProxyState) -> EtagQuoter | None:
    p = st.cfg.proxy
    return EtagQuoter(st, p.etag_quoter_enable_by_default) if p.etag_quoter else None
