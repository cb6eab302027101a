"""The proxy's request pipeline: Swift's middlewares as a chain of features.

Every client request becomes a :class:`SwiftRequest`. It passes through the
enabled features in a fixed order (the order of Swift's own pipeline: CORS,
bulk, TempURL/FormPost, StaticWeb, copy, large objects, versioning, symlinks,
quotas) and reaches the controllers (``objects.py``, ``containers.py``),
which answer with a :class:`SwiftResponse`. A feature may answer by itself,
change the request before passing it on, or change the answer on its way
back.

Features make *subrequests* by building a new :class:`SwiftRequest` (see
:meth:`SwiftRequest.sub`) and calling a handler: ``next`` for the rest of
the pipeline after them, or :attr:`Pipeline.top` for the whole of it. A
subrequest is in-process (no HTTP), carries the caller's identity, and is
authorized like any other request unless the feature that made it marks it
pre-authorized (``env["authorized"]``), as TempURL and FormPost do for the
one account their signature covers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiohttp import StreamReader, hdrs, web
from multidict import CIMultiDict, MultiDict

from common.http import ApiError, client_gone
from objectstore.protocol import SYSMETA_PREFIXES
from proxy.auth import Caller
from proxy.request import SwiftPath

CHUNK = 1 << 20
log = logging.getLogger(__name__)
# What a subrequest keeps of its client request's headers, as Swift's make_env:
# whatever names the caller to the ACLs (a referrer ACL on a large object's
# segments, CORS) besides the identity itself, which travels as ``caller``.
INHERITED_HEADERS = frozenset({
    "referer", "user-agent", "host", "origin", "access-control-request-method",
    "x-user-id", "x-project-id", "x-open-expired",
})


class Body(Protocol):
    """A request body that can be read once, whole or in chunks."""

    async def read_all(self, limit: int) -> bytes:
        """Everything (at most ``limit`` bytes; more raises :class:`BodyTooLarge`)."""

    def chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        """The body piece by piece."""


class BodyTooLarge(Exception):
    pass


class StreamBody:
    """The client's own body, straight from aiohttp."""

    def __init__(self, stream: StreamReader) -> None:
        self.stream = stream

    async def read_all(self, limit: int) -> bytes:
        out = bytearray()
        while True:
            chunk = await self.stream.read(CHUNK)
            if not chunk:
                return bytes(out)
            out += chunk
            if len(out) > limit:
                raise BodyTooLarge()

    async def read_exactly(self, n: int) -> bytes:
        return await self.stream.readexactly(n)

    async def chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        async for chunk in self.stream.iter_chunked(size):
            yield chunk


class BytesBody:
    def __init__(self, data: bytes = b"") -> None:
        self.data = data

    async def read_all(self, limit: int) -> bytes:
        if len(self.data) > limit:
            raise BodyTooLarge()
        return self.data

    async def chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), size):
            yield self.data[i:i + size]


class IterBody:
    """A body produced by other code: an object being copied, segments joined."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self.source = source

    async def read_all(self, limit: int) -> bytes:
        out = bytearray()
        async for chunk in self.source:
            out += chunk
            if len(out) > limit:
                raise BodyTooLarge()
        return bytes(out)

    async def chunks(self, size: int = CHUNK) -> AsyncIterator[bytes]:
        async for chunk in self.source:
            yield chunk


@dataclass
class SwiftRequest:
    method: str
    path: SwiftPath
    headers: CIMultiDict[str]
    query: MultiDict[str]
    body: Body = field(default_factory=BytesBody)
    content_length: int | None = None
    caller: Caller = field(default_factory=lambda: Caller(None))
    txn: str = ""
    remote: str = ""
    raw_query: str = ""
    # What features tell each other and the controllers: "authorized" (skip the
    # ACL check), "source" (which feature made a subrequest), ...
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def is_sub(self) -> bool:
        return "source" in self.env

    def sub(self, method: str, path: SwiftPath, *, headers: dict[str, str] | None = None,
            query: dict[str, str] | None = None, body: Body | bytes | None = None,
            content_length: int | None = None, source: str,
            **env: Any) -> SwiftRequest:
        """A subrequest on behalf of the same caller, made by feature ``source``."""
        if isinstance(body, bytes):
            content_length = len(body)
            body = BytesBody(body)
        inherited = CIMultiDict((k, v) for k, v in self.headers.items()
                                if k.lower() in INHERITED_HEADERS)
        inherited.update(headers or {})
        return replace(
            self, method=method, path=path, headers=inherited,
            query=MultiDict(query or {}), body=body or BytesBody(),
            content_length=content_length, raw_query="",
            env={"authorized": self.env.get("authorized", False),
                 "auth_scope": self.env.get("auth_scope"), **env, "source": source})

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, default)

    @property
    def pre_authorized(self) -> bool:
        """Marked authorized by a feature (TempURL, FormPost, ...), and within the
        account (or container) that feature's grant covers: ``env["auth_scope"]``
        is ``(account, container or None)`` (a frozenset: any of those containers),
        or None for no limit."""
        if not self.env.get("authorized"):
            return False
        scope = self.env.get("auth_scope")
        if scope is None:
            return True
        account, container = scope
        if isinstance(container, frozenset):
            return self.path.account == account and self.path.container in container
        return bool(self.path.account == account and
                    (container is None or self.path.container == container))


@dataclass
class SwiftResponse:
    status: int
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    body: bytes | AsyncIterator[bytes] = b""
    on_close: Callable[[], Awaitable[Any]] | None = None

    @classmethod
    def of(cls, status: int, headers: dict[str, str] | Iterable[tuple[str, str]] | None = None,
           body: bytes | AsyncIterator[bytes] = b"",
           on_close: Callable[[], Awaitable[Any]] | None = None) -> SwiftResponse:
        return cls(status, CIMultiDict(headers or {}), body, on_close)

    @property
    def ok(self) -> bool:
        return self.status // 100 == 2

    async def iter(self) -> AsyncIterator[bytes]:
        try:
            if isinstance(self.body, bytes):
                if self.body:
                    yield self.body
            else:
                async for chunk in self.body:
                    yield chunk
        finally:
            await self.close()

    async def read(self) -> bytes:
        if isinstance(self.body, bytes):
            await self.close()
            return self.body
        out = bytearray()
        async for chunk in self.iter():
            out += chunk
        return bytes(out)

    async def close(self) -> None:
        close, self.on_close = self.on_close, None
        if close is not None:
            await close()


Handler = Callable[[SwiftRequest], Awaitable[SwiftResponse]]


class Feature(Protocol):
    """One of Swift's middlewares. ``name`` is its key in ``/info`` (None: not listed)."""

    name: str | None

    def info(self) -> dict[str, Any]: ...

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse: ...


def error_response(err: ApiError) -> SwiftResponse:
    """An error as a subrequest sees it (the client-facing page is made at the top)."""
    return SwiftResponse.of(err.status, err.headers, err.message.encode())


class Pipeline:
    """``features`` in order, then ``core``. :attr:`top` runs all of them;
    :meth:`call_s3` those from ``s3_from`` on (see :func:`proxy.features.s3_entry`)."""

    def __init__(self, features: list[Feature], core: Handler, s3_from: int = 0) -> None:
        self.features = features
        chains = [core]  # chains[i]: features[i:] then core, built innermost first
        for feature in reversed(features):
            chains.append(_link(feature, chains[-1]))
        chains.reverse()
        self._top = chains[0]
        self._s3 = chains[min(max(s3_from, 0), len(features))]

    async def top(self, req: SwiftRequest) -> SwiftResponse:
        return await self._top(req)

    async def call(self, req: SwiftRequest) -> SwiftResponse:
        """Run a subrequest through the whole pipeline; errors come back as responses."""
        return await call(self._top, req)

    async def call_s3(self, req: SwiftRequest) -> SwiftResponse:
        """Run a subrequest of the S3 front through the features that Swift's pipeline
        puts after its s3api; errors come back as responses."""
        return await call(self._s3, req)


def _link(feature: Feature, nxt: Handler) -> Handler:
    async def run(req: SwiftRequest) -> SwiftResponse:
        return await feature(req, nxt)
    return run


async def call(handler: Handler, req: SwiftRequest) -> SwiftResponse:
    """A subrequest through ``handler``; errors come back as responses."""
    try:
        return await handler(req)
    except ApiError as err:
        return error_response(err)


def without_sysmeta(headers: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    """Swift's gatekeeper: system metadata is set and read by features only,
    never by clients, in either direction."""
    return CIMultiDict((k, v) for k, v in headers if not k.lower().startswith(SYSMETA_PREFIXES))


def from_aiohttp(request: web.Request, path: SwiftPath, caller: Caller,
                 txn: str, raw_path: str | None = None) -> SwiftRequest:
    """The client's request as a :class:`SwiftRequest` (``raw_path``: what its path
    stands for, when that is not its own, as with domain_remap)."""
    raw = request.raw_path if raw_path is None else raw_path
    return SwiftRequest(
        method=request.method, path=path, headers=without_sysmeta(request.headers.items()),
        query=MultiDict(request.query), body=StreamBody(request.content),
        content_length=request.content_length, caller=caller, txn=txn,
        remote=request.remote or "", raw_query=request.rel_url.raw_query_string,
        # the path as sent (StaticWeb tells "/c" from "/c/" by it)
        env={"raw_path": raw.split("?", 1)[0]})


class NoContent(web.Response):
    """A 204 that says ``Content-Length: 0``, as Swift's do (aiohttp leaves it out)."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self._headers[hdrs.CONTENT_LENGTH] = "0"


async def send(request: web.Request, resp: SwiftResponse) -> web.StreamResponse:
    """Write ``resp`` to the client: bytes in one piece, iterators streamed."""
    resp.headers = without_sysmeta(resp.headers.items())  # a copy of its own
    if resp.status == 204:
        resp.headers.pop("Content-Length", None)
        await resp.close()
        return NoContent(status=204, headers=resp.headers)
    if isinstance(resp.body, bytes) and request.method != "HEAD":
        resp.headers.pop("Content-Length", None)
        await resp.close()
        return web.Response(status=resp.status, headers=resp.headers, body=resp.body)
    out = web.StreamResponse(status=resp.status, headers=resp.headers)
    try:
        if "Content-Length" not in resp.headers and request.method != "HEAD" \
                and resp.status not in (204, 304):
            out.enable_chunked_encoding()
        await out.prepare(request)
        if request.method != "HEAD":
            try:
                async for chunk in resp.iter():
                    await out.write(chunk)
            except Exception as exc:
                # The status line is out: the only honest end is to drop the
                # connection (as Swift does), never to append an error page to
                # a body cut short (e.g. a large object's segment gone missing).
                if client_gone(exc) is not None:
                    raise
                log.error("%s %s: body cut short: %s", request.method, request.path, exc)
                if request.transport is not None:
                    request.transport.abort()
                return out
        await out.write_eof()
    finally:
        with contextlib.suppress(Exception):
            await resp.close()
    return out
