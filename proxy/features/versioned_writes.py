"""Object versioning by a versions container, as Swift's legacy ``versioned_writes``.

A container with ``X-Versions-Location: <versions container>`` (stack mode)
keeps every overwritten version of its objects: before a PUT replaces an
object, the current one is copied to
``<versions>/<length of name, 3 hex digits><name>/<its timestamp>``; a DELETE
removes the current object and restores the newest kept version in its
place. With ``X-History-Location`` (history mode) a DELETE copies the current
object to the versions container too, adds a delete marker there, and
removes the object. Only one of the two may be set. The location is kept in
container system metadata (``X-Container-Sysmeta-Versions-Location`` and
``-Mode``) and shown back as the header the client set.

The copies and listings this feature makes are pre-authorized: the caller
needs write access to the versioned container only, as in Swift.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDict

from common import timestamp as tsmod
from common.http import ApiError
from objectstore.protocol import LOCK_MOVED
from proxy.errors import fail
from proxy.features.copy import TEXT, Reply, content_length, object_path, reply
from proxy.objects import container_or_deny
from proxy.pipeline import Handler, IterBody, SwiftRequest, SwiftResponse, call
from proxy.request import SwiftPath
from proxy.state import ProxyState

VERSIONS = "X-Versions-Location"
HISTORY = "X-History-Location"
REMOVE = ("X-Remove-Versions-Location", "X-Remove-History-Location")
SYS_LOCATION = "X-Container-Sysmeta-Versions-Location"
SYS_MODE = "X-Container-Sysmeta-Versions-Mode"
DELETE_MARKER = "application/x-deleted;swift_versions_deleted=1"


def versions_prefix(obj: str) -> str:
    """Where an object's versions are listed: its UTF-8 length in 3 hex digits, its name."""
    return f"{len(obj.encode()):03x}{obj}/"


def version_name(obj: str, timestamp: str) -> str:
    return versions_prefix(obj) + tsmod.normalize(timestamp)


def _timestamp_of(resp: SwiftResponse) -> str:
    ts = resp.headers.get("X-Timestamp")
    if ts:
        return ts
    return str(int(parsedate_to_datetime(resp.headers["Last-Modified"]).timestamp()))


def moved(req: SwiftRequest, kept: str | None) -> SwiftRequest:
    """``req``, telling the object servers that the object it replaces (written at
    ``kept``) now lives on in the versions container: so even a locked one may go
    (objectstore.protocol.LOCK_MOVED)."""
    if kept is None:
        return req
    headers = CIMultiDict(req.headers)
    headers[LOCK_MOVED] = tsmod.normalize(kept)
    return replace(req, headers=headers)


class VersionedWrites:
    name: str | None = "versioned_writes"

    def __init__(self, st: ProxyState) -> None:
        self.st = st

    def info(self) -> dict[str, Any]:
        return {"allowed_flags": [VERSIONS.lower(), HISTORY.lower()]}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        try:
            if req.path.kind == "container":
                return await self.container(req, next_handler)
            if req.path.kind == "object" and req.method in ("PUT", "DELETE"):
                return await self.object(req, next_handler)
        except Reply as r:
            return r.response
        return await next_handler(req)

    # -- containers: the location, kept as sysmeta ---------------------------------

    async def container(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        headers = CIMultiDict(req.headers)
        if VERSIONS in headers and HISTORY in headers:
            if not headers[HISTORY]:
                headers.popall(HISTORY)
            elif headers[VERSIONS]:
                raise reply(400, f"Only one of {VERSIONS.lower()} or {HISTORY.lower()} may "
                                 "be specified", TEXT)
            else:
                headers.popall(VERSIONS)
        if VERSIONS in headers or HISTORY in headers:
            mode = "stack" if VERSIONS in headers else "history"
            value = headers[VERSIONS if mode == "stack" else HISTORY]
            if not value:
                headers[REMOVE[0]] = "x"
            else:
                if "/" in value:
                    raise reply(412, "Container name cannot contain slashes")
                headers[SYS_LOCATION] = value
                headers[SYS_MODE] = mode
                # only the sysmeta says where versions go
                headers[VERSIONS] = ""
                headers[HISTORY] = ""
                for h in REMOVE:
                    headers.popall(h, None)
        if any(headers.get(h) for h in REMOVE):
            headers.update({VERSIONS: "", HISTORY: "", SYS_LOCATION: "", SYS_MODE: ""})
            for h in REMOVE:
                headers.popall(h, None)
        resp = await next_handler(replace(req, headers=headers))
        location = resp.headers.get(SYS_LOCATION)
        if location:
            mode = resp.headers.get(SYS_MODE, "")
            resp.headers[HISTORY if mode == "history" else VERSIONS] = location
        return resp

    # -- objects -------------------------------------------------------------------

    async def object(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        path = req.path
        assert path.container is not None
        info = await self.st.info(req.txn, path.account, path.container)
        location = info.get(SYS_LOCATION)
        mode = info.get(SYS_MODE) or "stack"
        if not location:  # set before versioning was a feature: stack mode
            location, mode = info.get(VERSIONS), "stack"
        if not info.exists or not location:
            return await next_handler(req)
        versions = unquote(location).split("/")[0]
        if req.method == "PUT":
            kept = await self.keep_current(req, next_handler, versions)
            return await next_handler(moved(req, kept))
        if mode == "history":
            kept = await self.keep_current(req, next_handler, versions)
            await self.put_marker(req, next_handler, versions)
            return await next_handler(moved(req, kept))
        return await self.pop_previous(req, next_handler, versions)

    async def authorize(self, req: SwiftRequest) -> None:
        """The caller must be allowed this write before anything is copied."""
        await container_or_deny(self.st, req)

    def sub(self, req: SwiftRequest, method: str, path: SwiftPath, **kw: Any) -> SwiftRequest:
        # pre-authorized as Swift's make_pre_authed_request: anywhere in the account
        return req.sub(method, path, source="versioned_writes", authorized=True,
                       auth_scope=None, **kw)

    def version_path(self, req: SwiftRequest, versions: str, name: str) -> SwiftPath:
        try:
            return object_path(req.path.version, req.path.account, versions, name)
        except ApiError:
            raise fail(412) from None

    @staticmethod
    async def check(resp: SwiftResponse) -> None:
        """A failed step stops the request: 412 for a client error, else 503."""
        if resp.ok:
            return
        await resp.close()
        raise fail(412 if resp.status // 100 == 4 else 503)

    async def read_raw(self, req: SwiftRequest, next_handler: Handler,
                       path: SwiftPath) -> SwiftResponse:
        """The object as stored (a link itself, a manifest itself)."""
        resp = await call(next_handler, self.sub(req, "GET", path, query={"symlink": "get"}))
        if resp.ok:
            length = content_length(resp)
            if length is None or length > self.st.cfg.proxy.max_file_size:
                await resp.close()
                return SwiftResponse.of(413)
        return resp

    async def write_copy(self, req: SwiftRequest, next_handler: Handler, path: SwiftPath,
                         src: SwiftResponse) -> SwiftResponse:
        headers = {k: v for k, v in src.headers.items() if k.lower() != "x-timestamp"}
        try:
            return await call(next_handler, self.sub(
                req, "PUT", path, headers=headers, body=IterBody(src.iter()),
                content_length=content_length(src)))
        finally:
            await src.close()

    async def keep_current(self, req: SwiftRequest, next_handler: Handler,
                           versions: str) -> str | None:
        """Copy the current object, if any, into the versions container; the timestamp
        of the copy kept."""
        await self.authorize(req)
        src = await self.read_raw(req, next_handler, req.path)
        if src.status == 404:
            await src.close()
            return None
        await self.check(src)
        assert req.path.obj is not None
        kept = _timestamp_of(src)
        target = self.version_path(req, versions, version_name(req.path.obj, kept))
        await self.check(await self.write_copy(req, next_handler, target, src))
        return kept

    async def put_marker(self, req: SwiftRequest, next_handler: Handler,
                         versions: str) -> None:
        assert req.path.obj is not None
        target = self.version_path(req, versions, version_name(req.path.obj, tsmod.now()))
        resp = await call(next_handler, self.sub(
            req, "PUT", target, headers={"Content-Type": DELETE_MARKER}, body=b""))
        await self.check(resp)
        await resp.close()

    async def listing(self, req: SwiftRequest, next_handler: Handler,
                      versions: str, prefix: str) -> AsyncGenerator[dict[str, Any], None]:
        """The versions of an object, newest first."""
        path = SwiftPath(req.path.version, req.path.account, versions)
        marker = ""
        while True:
            resp = await call(next_handler, self.sub(req, "GET", path, query={
                "prefix": prefix, "marker": marker, "reverse": "on", "format": "json"}))
            body = await resp.read()
            if resp.status == 404:
                return
            if not resp.ok:
                raise fail(412 if resp.status // 100 == 4 else 500)
            page = json.loads(body or b"[]")
            if not page:
                return
            for item in page:
                yield item
            marker = page[-1]["name"]

    async def restore(self, req: SwiftRequest, next_handler: Handler, versions: str,
                      name: str) -> SwiftPath | None:
        """Copy version ``name`` back over the object; None if it is gone."""
        source = self.version_path(req, versions, name)
        src = await self.read_raw(req, next_handler, source)
        if src.status == 404:
            await src.close()
            return None
        await self.check(src)
        await self.check(await self.write_copy(req, next_handler, req.path, src))
        return source

    async def pop_previous(self, req: SwiftRequest, next_handler: Handler,
                           versions: str) -> SwiftResponse:
        """Stack mode DELETE: the newest kept version takes the object's place."""
        assert req.path.obj is not None
        items = self.listing(req, next_handler, versions, versions_prefix(req.path.obj))
        delete = req
        try:
            delete = await self._pick(req, next_handler, versions, items)
        finally:
            await items.aclose()
        if delete is not req:
            delete.headers.popall("X-If-Delete-At", None)
        return await next_handler(delete)

    async def _pick(self, req: SwiftRequest, next_handler: Handler, versions: str,
                    items: AsyncGenerator[dict[str, Any], None]) -> SwiftRequest:
        """What the DELETE removes once the previous version (if any) is back."""
        delete = req
        authorized = False
        async for previous in items:
            if not authorized:
                await self.authorize(req)
                authorized = True
            if previous.get("content_type") == DELETE_MARKER:
                head = await call(next_handler, self.sub(req, "HEAD", req.path))
                await head.close()
                if head.status != 404:
                    await self.check(head)
                    break  # the object is back since the marker: delete it only
                async for older in items:
                    if older.get("content_type") == DELETE_MARKER:
                        break
                    restored = await self.restore(req, next_handler, versions, older["name"])
                    if restored is None:
                        continue
                    gone = await call(next_handler, self.sub(req, "DELETE", restored))
                    await gone.close()
                    if gone.status != 404:
                        await self.check(gone)
                    break
                delete = self.sub(req, "DELETE",
                                  self.version_path(req, versions, previous["name"]))
            else:
                restored = await self.restore(req, next_handler, versions, previous["name"])
                if restored is None:
                    continue
                delete = self.sub(req, "DELETE", restored)
            break
        return delete


def make(st: ProxyState) -> VersionedWrites | None:
    return VersionedWrites(st) if st.cfg.proxy.allow_versioned_writes else None
