"""Symbolic links between objects, as Swift's ``symlink`` middleware.

``PUT`` with ``X-Symlink-Target: <container>/<object>`` (optionally
``X-Symlink-Target-Account``) and an empty body makes a link; the target is
kept in the link's system metadata (``X-Object-Sysmeta-Symlink-Target*``),
so only this feature reads or writes it. ``X-Symlink-Target-Etag`` makes a
*static* link: the target must exist with that ETag when the link is made
(its size is kept too), and every read checks it again.

``GET``/``HEAD`` of a link answer for its target (``Content-Location`` names
it), through at most ``symloop_max`` links in a row (409 beyond);
``?symlink=get`` answers for the link itself, its target shown as
``X-Symlink-Target``. A ``POST`` to a link updates the link, then answers
307 with the target as ``Location``. ``DELETE`` removes the link only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote, unquote

from multidict import CIMultiDict

from common.http import ApiError
from proxy.errors import fail
from proxy.features.copy import (
    TEXT,
    Reply,
    check_account,
    object_path,
    reply,
    split_header_path,
)
from proxy.features.slo_manifest import OVERRIDE_ETAG, SYSMETA_SLO_ETAG, SYSMETA_SLO_SIZE
from proxy.pipeline import BodyTooLarge, Handler, SwiftRequest, SwiftResponse
from proxy.state import ProxyState

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
TARGET = "X-Symlink-Target"
TARGET_ACCOUNT = "X-Symlink-Target-Account"
TARGET_ETAG = "X-Symlink-Target-Etag"
TARGET_BYTES = "X-Symlink-Target-Bytes"
SYS_TARGET = "X-Object-Sysmeta-Symlink-Target"
SYS_ACCOUNT = "X-Object-Sysmeta-Symlink-Target-Account"
SYS_ETAG = "X-Object-Sysmeta-Symlink-Target-Etag"
SYS_BYTES = "X-Object-Sysmeta-Symlink-Target-Bytes"
USER_TO_SYS = ((TARGET, SYS_TARGET), (TARGET_ACCOUNT, SYS_ACCOUNT))
SYS_TO_USER = ((SYS_TARGET, TARGET), (SYS_ACCOUNT, TARGET_ACCOUNT), (SYS_ETAG, TARGET_ETAG),
               (SYS_BYTES, TARGET_BYTES))
TARGET_FORM = "X-Symlink-Target header must be of the form <container name>/<object name>"
POST_TO_LINK = ("The requested POST was applied to a symlink. POST directly to the target "
                "to apply requested metadata.")


class _TooManyLinks(Exception):
    pass


def listed_etag(headers: CIMultiDict[str]) -> str:
    """What a link lists as its ETag: its own (of no bytes, unless a feature before
    set one) with the target as parameters, which the listing shows as
    ``symlink_path`` (and ``symlink_etag``/``symlink_bytes`` for a static link)."""
    parts = [headers.get(OVERRIDE_ETAG) or EMPTY_MD5, f"symlink_target={headers[SYS_TARGET]}"]
    if SYS_ACCOUNT in headers:
        parts.append(f"symlink_target_account={headers[SYS_ACCOUNT]}")
    if SYS_ETAG in headers:
        parts += [f"symlink_target_etag={headers[SYS_ETAG]}",
                  f"symlink_target_bytes={headers[SYS_BYTES]}"]
    return "; ".join(parts)


def show_link(headers: CIMultiDict[str]) -> None:
    """A link's own headers as a client sees them (``?symlink=get``)."""
    for sys, user in SYS_TO_USER:
        if sys in headers:
            headers[user] = headers.popall(sys)[0]


class _Walk:
    """One read following links: how many were followed, and the last target."""

    def __init__(self, first: SwiftRequest, next_handler: Handler, symloop_max: int,
                 last_path: str | None = None) -> None:
        self.first = first
        self.next = next_handler
        self.max = symloop_max
        self.loops = 0
        self.last_path = last_path

    def located(self, **headers: str) -> dict[str, str]:
        return {**headers, "Content-Location": self.last_path} if self.last_path else headers

    async def run(self, req: SwiftRequest, target_etag: str | None,
                  follow_dynamic: bool) -> SwiftResponse:
        while True:
            try:
                resp = await self.next(req)
            except ApiError as err:
                if self.last_path:
                    err.headers.setdefault("Content-Location", self.last_path)
                raise
            link = resp.headers.get(SYS_TARGET)
            link_etag = resp.headers.get(SYS_ETAG)
            if link and (link_etag or follow_dynamic):
                await resp.close()
                found = link_etag or resp.headers.get("Etag", "")
                if target_etag and target_etag != found:
                    raise reply(409, "X-Symlink-Target-Etag headers do not match", TEXT,
                                **self.located())
                if self.loops >= self.max:
                    raise _TooManyLinks()
                account = resp.headers.get(SYS_ACCOUNT) or quote(req.path.account)
                container, obj = [*unquote(link).split("/", 1), ""][:2]
                self.last_path = f"/{req.path.version}/{account}/{link.lstrip('/')}"
                try:
                    path = object_path(req.path.version, unquote(account), container, obj)
                except ApiError:
                    raise fail(404, **self.located()) from None
                req = self.first.sub(self.first.method, path, headers=dict(self.first.headers),
                                     source="symlink")
                self.loops += 1
                target_etag = link_etag
                continue
            final = resp.headers.get("Etag", "").strip('"')
            if final and target_etag and target_etag != final:
                await resp.close()
                raise reply(409, f"Object Etag {final!r} does not match "
                                 f"X-Symlink-Target-Etag header {target_etag!r}", TEXT,
                            **self.located())
            if self.last_path:
                resp.headers["Content-Location"] = self.last_path
            return resp


class Symlink:
    name: str | None = "symlink"

    def __init__(self, st: ProxyState, symloop_max: int) -> None:
        self.st = st
        self.symloop_max = symloop_max

    def info(self) -> dict[str, Any]:
        return {"symloop_max": self.symloop_max, "static_links": True}

    def too_many(self) -> Reply:
        return reply(409, "Too many levels of symbolic links, maximum allowed is "
                          f"{self.symloop_max}", TEXT)

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.path.kind != "object":
            return await next_handler(req)
        try:
            if req.method in ("GET", "HEAD"):
                if req.param("symlink") == "get":
                    resp = await next_handler(req)
                    show_link(resp.headers)
                    return resp
                try:
                    return await _Walk(req, next_handler, self.symloop_max).run(req, None, True)
                except _TooManyLinks:
                    raise self.too_many() from None
            if req.method == "PUT" and TARGET in req.headers:
                return await self.put(req, next_handler)
            if req.method == "POST":
                return await self.post(req, next_handler)
        except Reply as r:
            return r.response
        return await next_handler(req)

    async def put(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.content_length is None:
            try:
                has_body = bool(await req.body.read_all(0))
            except BodyTooLarge:
                has_body = True
        else:
            has_body = req.content_length != 0
        if has_body:
            raise reply(400, "Symlink requests require a zero byte body", TEXT)
        headers = CIMultiDict(req.headers)
        if unquote(headers[TARGET]).startswith("/"):
            raise reply(412, TARGET_FORM, TEXT)
        container, obj = split_header_path(headers[TARGET], TARGET_FORM)
        headers[TARGET] = quote(f"{container}/{obj}")
        account = None
        if TARGET_ACCOUNT in headers:
            account = check_account(headers[TARGET_ACCOUNT])
            headers[TARGET_ACCOUNT] = quote(account)
        path = req.path
        if (account or path.account, container, obj) == (path.account, path.container,
                                                         path.obj):
            raise reply(400, "Symlink cannot target itself", TEXT)
        etag = headers.get(TARGET_ETAG, "").strip('"') or None
        if etag and any(c in etag for c in ';"\\'):
            raise reply(400, f"Bad {TARGET_ETAG} format", TEXT)
        if not (etag or headers.get("Content-Type")):
            headers["Content-Type"] = "application/symlink"
        if etag:
            target = object_path(path.version, account or path.account, container, obj)
            await self.check_static(req, next_handler, headers, target, etag)
        for user, sys in USER_TO_SYS:
            if user in headers:
                headers[sys] = headers.popall(user)[0]
        headers[OVERRIDE_ETAG] = listed_etag(headers)
        return await next_handler(replace(req, headers=headers))

    async def check_static(self, req: SwiftRequest, next_handler: Handler,
                           headers: CIMultiDict[str], target: Any, etag: str) -> None:
        """A static link's target must exist with that ETag; its size is kept."""
        head = req.sub("HEAD", target, source="symlink")
        walk = _Walk(head, next_handler, self.symloop_max, last_path="/".join(
            ("", target.version, quote(target.account), quote(target.container),
             quote(target.obj))))
        try:
            resp = await walk.run(head, etag, False)
        except _TooManyLinks:
            raise self.too_many() from None
        except ApiError as err:
            if err.status == 404:
                raise reply(409, f"{TARGET} does not exist", TEXT, **walk.located()) from None
            raise
        await resp.close()
        if not resp.ok:
            raise fail(resp.status)
        size = resp.headers.get(SYSMETA_SLO_SIZE) or resp.headers.get("Content-Length")
        headers[SYS_BYTES] = size or "0"
        headers[SYS_ETAG] = etag
        if SYSMETA_SLO_ETAG in resp.headers and OVERRIDE_ETAG not in headers:
            # a static link to a large object lists the large object's ETag too
            headers[OVERRIDE_ETAG] = f"{EMPTY_MD5}; slo_etag={resp.headers[SYSMETA_SLO_ETAG]}"
        if not headers.get("Content-Type"):
            headers["Content-Type"] = resp.headers.get("Content-Type",
                                                       "application/octet-stream")

    async def post(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        """The POST applies to the link itself; a link then answers 307 to its target."""
        if TARGET in req.headers:
            raise reply(400, "A PUT request is required to set a symlink target", TEXT)
        resp = await next_handler(req)
        if not resp.ok:
            return resp
        try:
            head = await next_handler(req.sub("HEAD", req.path, source="symlink",
                                              authorized=True, auth_scope=None))
        except ApiError:
            return resp
        await head.close()
        link = head.headers.get(SYS_TARGET)
        if not link:
            return resp
        await resp.close()
        account = head.headers.get(SYS_ACCOUNT) or quote(req.path.account)
        extra = {"Location": f"/{req.path.version}/{account}/{link}"}
        if SYS_ETAG in head.headers:
            extra[TARGET_ETAG] = head.headers[SYS_ETAG]
        raise reply(307, POST_TO_LINK, **extra)


def make(st: ProxyState) -> Symlink | None:
    p = st.cfg.proxy
    if not p.symlink:
        return None
    return Symlink(st, p.symloop_max if p.symloop_max >= 1 else 2)
