"""The object server: PUT/GET/HEAD/POST/DELETE of objects on this node's devices.

Routes ``/objects/<device>/<part>/<account>/<container>/<object>``
(docs/storage-protocol.md). Bytes go through an :class:`ObjectBackend`
(the disk one in production); the proxy handles clients, auth and quorum.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import IO, Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from common import timestamp as tsmod
from common.errors import (
    BadRequest,
    ClientDisconnected,
    InsufficientStorage,
    LengthRequired,
    PreconditionFailed,
    Unavailable,
    Unprocessable,
)
from common.ranges import (
    Unsatisfiable,
    check_conditions,
    closing,
    multipart_length,
    multipart_parts,
    new_boundary,
    parse_range,
)
from common.sendfile import sendfile
from objectstore import expirer
from objectstore.async_pending import write_async_pending
from objectstore.diskfile import (
    MetadataTooLarge,
    ObjectBackend,
    ObjectState,
    QuarantineError,
    Writer,
)
from objectstore.errors import Missing, object_missing, superseded
from objectstore.locks import WriteGuard, post_lock
from objectstore.node import NODE, DeviceError, NodeContext
from objectstore.protocol import (
    BACKEND_DATA_TIMESTAMP,
    BACKEND_TIMESTAMP,
    BYPASS_GOVERNANCE,
    LOCK_BYPASS,
    OBJECT_ROUTE,
    OPEN_EXPIRED,
    OVERRIDE_BACKEND,
    OVERRIDE_SYSMETA,
    POLICY_INDEX,
    REPLACED_VALUE,
    REPORT_REPLACED,
    SMALL_BODY,
    datadir,
    is_stored,
    replaced_value,
)
from objectstore.updates import ContainerUpdates, Target, targets_from_headers
from rings.hashing import hash_path

log = logging.getLogger(__name__)

BACKEND: web.AppKey[ObjectBackend] = web.AppKey("object_backend", ObjectBackend)
# every storage policy's store, by index (BACKEND is policy 0's)
BACKENDS: web.AppKey[dict[int, ObjectBackend]] = web.AppKey("object_backends", dict)
UPDATES: web.AppKey[ContainerUpdates] = web.AppKey("container_updates", ContainerUpdates)

# Objects up to this size are read whole and checked against their ETag before
# a byte is sent (a corrupt replica is quarantined and the proxy reads another);
# larger ones are sent with sendfile and left to the auditor, as in Swift.
VERIFY_ON_READ = 1 << 20
# Small reads the event loop makes itself when the page cache holds them (Req.load).
INLINE_READ = 64 << 10
CHUNK = 1 << 20
CLIENT_GONE = "client disconnected before the end"


class Req:
    """A parsed object request."""

    def __init__(self, request: web.Request) -> None:
        mi = request.match_info
        self.node: NodeContext = request.app[NODE]
        self.policy = policy_of(request)
        self.backend = backend_for(request.app, self.policy)
        self.device = mi["device"]
        self.part = mi["part"]
        self.account, self.container, self.obj = mi["account"], mi["container"], mi["obj"]
        if not self.part.isdigit():
            raise BadRequest("partition must be a number")
        try:
            self.device_path = self.node.device_path(self.device)
        except DeviceError as exc:
            raise InsufficientStorage(str(exc)) from None
        self.name = f"/{self.account}/{self.container}/{self.obj}"
        self.hash = hash_path(self.account, self.container, self.obj,
                              hash_prefix=self.node.hash_prefix,
                              hash_suffix=self.node.hash_suffix)

    def timestamp(self, request: web.Request) -> str:
        try:
            return tsmod.normalize(request.headers.get("X-Timestamp", ""))
        except tsmod.BadTimestamp:
            raise BadRequest("missing or bad X-Timestamp") from None

    async def state(self) -> ObjectState:
        st, _ = await self.load(with_small_body=False)
        return st

    async def load(self, with_small_body: bool) -> tuple[ObjectState, bytes | None]:
        """The object's state and, for a small object when asked, its verified bytes
        (None when they do not match their ETag).

        The state (a directory listing and an xattr read) is read on the event loop,
        as Swift's object server reads it in its hub, and so are the bytes of objects
        up to ``INLINE_READ`` that the page cache holds; others are read on a
        thread. Handing each small read to a thread cost more than the read: under
        load the GIL changed hands at every syscall the thread made."""
        try:
            st = self.backend.state(self.device, self.part, self.hash)
            if not (with_small_body and st.exists and st.length <= VERIFY_ON_READ):
                return st, None
            data = self.backend.read_cached(st) if st.length <= INLINE_READ else None
            if data is not None:
                return st, data if _verified(st, data) else None
            return st, await self.node.run(_read_verified, self.backend, st)
        except QuarantineError as exc:
            log.error("quarantining %s: %s", self.name, exc)
            await self.node.run(self.backend.quarantine, self.device, self.part, self.hash)
            self.node.partition_changed(self.device, self.part, datadir(self.policy))
            return ObjectState(), None


def policy_of(request: web.Request) -> int:
    """The storage policy a request names (0 when none); 400 when it is no number."""
    value = request.headers.get(POLICY_INDEX, "0")
    if not value.isdigit():
        raise BadRequest(f"bad {POLICY_INDEX}: {value!r}")
    return int(value)


def backend_for(app: web.Application, policy: int) -> ObjectBackend:
    """Policy ``policy``'s store; 503 for a policy this node does not know (a newer
    configuration than its own)."""
    backend = app[BACKENDS].get(policy)
    if backend is None:
        raise Unavailable(f"No policy with index {policy}")
    return backend


def stored_headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.items():
        k = key.lower()
        if is_stored(k):
            out[key.title() if not k.startswith("x-object-") else _meta_case(key)] = value
    return out


def _meta_case(key: str) -> str:
    """X-Object-Meta-Color keeps the client's spelling after the prefix, title-cased."""
    return "-".join(p[:1].upper() + p[1:].lower() for p in key.split("-"))


def expired(st: ObjectState, now: float | None = None) -> bool:
    delete_at = st.metadata.get("X-Delete-At")
    if not delete_at:
        return False
    try:
        return int(delete_at) <= (time.time() if now is None else now)
    except ValueError:
        return False


def object_headers(st: ObjectState) -> CIMultiDict[str]:
    meta = st.metadata
    h: CIMultiDict[str] = CIMultiDict()
    h["Content-Type"] = meta.get("Content-Type", "application/octet-stream")
    h["ETag"] = meta.get("ETag", "")
    assert st.data_timestamp is not None
    stamp = st.meta_timestamp or st.data_timestamp
    h["Last-Modified"] = tsmod.http_date(stamp)
    h["X-Timestamp"] = st.data_timestamp
    h[BACKEND_TIMESTAMP] = stamp
    h[BACKEND_DATA_TIMESTAMP] = st.data_timestamp
    h["Accept-Ranges"] = "bytes"
    for key, value in meta.items():
        if is_stored(key.lower()):
            h[key] = value
    return h


async def _update_containers(request: web.Request, req: Req, row: dict[str, Any]) -> None:
    """Tell the container replicas; what fails is kept for the updater."""
    targets = targets_from_headers(request.headers, req.account, req.container)
    if not targets:
        return
    updates = request.app[UPDATES]
    results = await asyncio.gather(*(updates.send(t, row) for t in targets))
    for target, ok in zip(targets, results, strict=True):
        if not ok:
            await req.node.run(write_async_pending, req.device_path,
                               pending_record(target, row))


def container_row(request: web.Request, metadata: dict[str, Any], row: dict[str, Any]
                  ) -> dict[str, Any]:
    """``row`` with Swift's container-update overrides applied: the object's
    ``X-Object-Sysmeta-Container-Update-Override-{Etag,Size,Content-Type}`` (kept
    with it), then the request's ``X-Backend-Container-Update-Override-*`` (this
    write only). A large-object manifest uses them to list as what it stands for."""
    out = dict(row)
    stored = {k.lower(): v for k, v in metadata.items() if k.lower().startswith(OVERRIDE_SYSMETA)}
    for prefix, source in ((OVERRIDE_SYSMETA, stored), (OVERRIDE_BACKEND, request.headers)):
        for name, key in (("etag", "etag"), ("size", "size"), ("content-type", "content_type")):
            value = source.get(prefix + name)
            if value is None:
                continue
            if key == "size":
                if value.isdigit():
                    out["size"] = int(value)
            else:
                out[key] = value
    return out


def pending_record(target: Target, row: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "container-rows", "host": target.host, "device": target.device,
            "partition": target.partition, "account": target.account,
            "container": target.container, "rows": [row]}


async def _read_small(request: web.Request, expected: int) -> bytes:
    body = await request.content.read(expected) if expected else b""
    while len(body) < expected:
        more = await request.content.read(expected - len(body))
        if not more:
            break
        body += more
    return body


async def _stream_body(request: web.Request, writer: Writer, node: NodeContext) -> int:
    """Stream the request body into ``writer`` in 1 MiB writes; returns the byte count.

    One write is in flight while the next megabyte arrives, so the disk and the
    socket work at the same time; writes still happen one after another, in order.
    """
    total = 0
    pending: list[bytes] = []
    size = 0
    in_flight: asyncio.Future[None] | None = None
    try:
        async for chunk in request.content.iter_any():
            pending.append(chunk)
            size += len(chunk)
            if size >= CHUNK:
                total += size
                data = b"".join(pending)
                pending, size = [], 0
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.ensure_future(node.run(writer.write, data))
        if in_flight is not None:
            await in_flight
            in_flight = None
        if pending:
            total += size
            await node.run(writer.write, b"".join(pending))
    finally:
        if in_flight is not None and not in_flight.done():
            await asyncio.wait([in_flight])  # never abort a writer a thread still uses
    return total


async def _write_whole(req: Req, ts: str, body: bytes, metadata: dict[str, Any],
                       only_new: bool, guard: WriteGuard) -> ObjectState:
    """Check for a newer version and what ``only_new`` (``If-None-Match: *``) and
    ``guard`` ask, then create, write, fsync and place a small object: the quick
    steps on the event loop, the fsyncs on a thread (ObjectBackend.put_small).
    Returns the state it replaced; raises the 409 when a newer version exists."""
    st, _ = await req.load(with_small_body=False)
    if only_new:
        refuse_existing(st)
    newest = st.newest
    if newest and newest >= ts:
        raise superseded(newest)
    guard.check(st, st.exists and not expired(st))
    await req.backend.put_small(req.device, req.part, req.hash, ts, body, metadata,
                                req.node.sync)
    return st


def only_new(request: web.Request) -> bool:
    """``If-None-Match: *``: the PUT may only create the object (the proxy refuses
    any other value)."""
    value = request.headers.get("If-None-Match")
    return value is not None and "*" in (t.strip() for t in value.split(","))


def refuse_existing(st: ObjectState) -> None:
    """412 for ``If-None-Match: *`` when the object is here (and not expired)."""
    if st.exists and not expired(st):
        raise PreconditionFailed("")


async def _tombstone(req: Req, ts: str, if_delete_at: str | None,
                     guard: WriteGuard) -> bool:
    """Write a tombstone unless something newer is there (409) or ``guard`` refuses (a
    lock: 403); whether a live object was there. With ``if_delete_at`` (the expirer's,
    or a client's), as Swift's object server: 400 when it is no time, 404 when nothing
    was ever here, 412 unless it is the object's X-Delete-At, and an expired object
    counts as there."""
    st, _ = await req.load(with_small_body=False)
    wanted = None
    if if_delete_at is not None:
        try:
            wanted = tsmod.normalize(if_delete_at)
        except tsmod.BadTimestamp:
            raise BadRequest("Bad X-If-Delete-At header value") from None
        if not st.newest:
            raise Missing()
    if st.newest and st.newest >= ts:
        raise superseded(st.newest)
    if wanted is not None:
        have = st.metadata.get("X-Delete-At") if st.exists else None
        try:
            matches = tsmod.normalize(have or 0) == wanted
        except tsmod.BadTimestamp:
            matches = False
        if not matches:
            raise PreconditionFailed("X-If-Delete-At and X-Delete-At do not match")
    guard.check(st, st.exists and not expired(st))
    existed = st.exists and (wanted is not None or not expired(st))
    await req.backend.delete_small(req.device, req.part, req.hash, ts,
                                   {"name": req.name, "X-Timestamp": ts}, req.node.sync)
    return existed


async def put_object(request: web.Request) -> web.Response:
    try:
        return await _put_object(request)
    except MetadataTooLarge as exc:
        raise BadRequest(str(exc)) from None


async def _put_object(request: web.Request) -> web.Response:
    req = Req(request)
    ts = req.timestamp(request)
    length = request.content_length
    if length is None and request.headers.get("Transfer-Encoding", "").lower() != "chunked":
        raise LengthRequired("Length Required")
    want = request.headers.get("ETag", "").strip('"').lower()
    metadata: dict[str, Any] = {
        "name": req.name,
        "X-Timestamp": ts,
        "Content-Type": request.headers.get("Content-Type", "application/octet-stream"),
        **stored_headers(request.headers),
    }
    if length is not None and length <= SMALL_BODY:
        body = await _read_small(request, length)
        if len(body) != length:
            raise ClientDisconnected(CLIENT_GONE)
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        if want and want != etag:
            raise Unprocessable("ETag does not match the body")
        metadata.update({"Content-Length": str(length), "ETag": etag})
        st = await _write_whole(req, ts, body, metadata, only_new(request),
                                WriteGuard.of(request.headers))
        received = length
    else:
        st = await req.state()
        if only_new(request):
            refuse_existing(st)
        if st.newest and st.newest >= ts:
            raise superseded(st.newest)
        WriteGuard.of(request.headers).check(st, st.exists and not expired(st))
        writer = await req.node.run(req.backend.writer, req.device)
        committed = False
        try:
            received = await _stream_body(request, writer, req.node)
            if length is not None and received != length:
                raise ClientDisconnected(CLIENT_GONE)
            etag = writer.etag
            if want and want != etag:
                raise Unprocessable("ETag does not match the body")
            metadata.update({"Content-Length": str(received), "ETag": etag})
            await req.node.run(req.backend.commit, writer, req.device, req.part, req.hash,
                               ts, metadata)
            committed = True
        finally:
            if not committed:
                await req.node.run(writer.abort)
    req.node.partition_changed(req.device, req.part, datadir(req.policy))
    await expirer.note_expiring(req.node, req.device_path, req.account, req.container,
                                req.obj, req.hash, metadata, req.policy)
    await _update_containers(request, req, container_row(request, metadata, {
        "name": req.obj, "created_at": ts, "size": received,
        "content_type": metadata["Content-Type"], "etag": etag, "deleted": 0}))
    headers = {"ETag": etag}
    replaced = replaced_value(request.headers.get(REPORT_REPLACED),
                              st.metadata if st.exists else {})
    if replaced is not None:
        headers[REPLACED_VALUE] = replaced
    return web.Response(status=201, headers=headers)


def open_expired(request: web.Request) -> bool:
    """The proxy let this request reach an expired object (X-Open-Expired)."""
    return request.headers.get(OPEN_EXPIRED, "").lower() in ("true", "1", "yes", "on")


async def get_object(request: web.Request) -> web.StreamResponse:
    req = Req(request)
    st, small = await req.load(with_small_body=request.method == "GET")
    if not st.exists or (expired(st) and not open_expired(request)):
        raise object_missing(st.tombstone_timestamp)
    headers = object_headers(st)
    length = st.length
    status = check_conditions(request.headers, st.etag,
                              float(int(float(st.meta_timestamp or st.data_timestamp or 0))),
                              request.method)
    # Conditional and range answers (304, 412, 416) carry the object's headers as
    # its 200 would: they are answers about the object, relayed by the proxy.
    if status is not None:
        return web.Response(status=status, headers=headers)
    try:
        ranges = parse_range(request.headers.get("Range"), length)
    except Unsatisfiable:
        headers["Content-Range"] = f"bytes */{length}"
        return web.Response(status=416, headers=headers)
    resp = web.StreamResponse(status=200, headers=headers)
    if request.method == "HEAD":
        resp.content_length = length
        await resp.prepare(request)
        await resp.write_eof()
        return resp
    if length <= VERIFY_ON_READ:
        data = small
        if data is None:
            log.error("quarantining %s: its bytes do not match its ETag", req.name)
            await req.node.run(req.backend.quarantine, req.device, req.part, req.hash)
            req.node.partition_changed(req.device, req.part, datadir(req.policy))
            raise Missing()  # the proxy reads another replica
        return _from_memory(data, ranges, headers)
    # Opened on the event loop, a quick call like the state's own reads (above);
    # sent, and closed, on one worker thread.
    f = req.backend.open(st)
    if ranges is not None and len(ranges) > 1:
        try:
            await _send_multipart(request, resp, req, f, ranges, length,
                                  headers["Content-Type"])
        finally:
            await req.node.run(f.close)
        return resp
    start, end = (0, length - 1) if ranges is None else ranges[0]
    if ranges is not None:
        resp.set_status(206)
        resp.headers["Content-Range"] = f"bytes {start}-{end}/{length}"
    resp.content_length = end - start + 1
    await _send(request, resp, req, f, start, end - start + 1)
    return resp


def _read_verified(backend: ObjectBackend, st: ObjectState) -> bytes | None:
    """The whole object if its bytes match its length and ETag, else None."""
    with backend.open(st) as f:
        data = f.read(st.length + 1)
    return data if _verified(st, data) else None


def _verified(st: ObjectState, data: bytes) -> bool:
    return len(data) == st.length and \
        hashlib.md5(data, usedforsecurity=False).hexdigest() == st.etag


def _from_memory(data: bytes, ranges: list[tuple[int, int]] | None,
                 headers: CIMultiDict[str]) -> web.Response:
    length = len(data)
    if ranges is None:
        return web.Response(status=200, body=data, headers=headers)
    if len(ranges) == 1:
        start, end = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{end}/{length}"
        return web.Response(status=206, body=data[start:end + 1], headers=headers)
    boundary = new_boundary()
    parts = [head + data[start:end + 1] + b"\r\n" for head, start, end in
             multipart_parts(ranges, length, headers["Content-Type"], boundary)]
    headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
    return web.Response(status=206, body=b"".join(parts) + closing(boundary), headers=headers)


async def _send(request: web.Request, resp: web.StreamResponse, req: Req, f: IO[bytes],
                offset: int, count: int) -> None:
    """Send ``count`` bytes from ``offset`` (sendfile for real files) and close ``f``."""
    try:
        await resp.prepare(request)
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("client went away")
    except BaseException:
        await req.node.run(f.close)
        raise
    if count:
        await sendfile(transport, f, offset, count, run=req.node.run)
    else:  # asyncio's loop.sendfile takes no empty count; nothing to send anyway
        await req.node.run(f.close)
    await resp.write_eof()


async def _send_multipart(request: web.Request, resp: web.StreamResponse, req: Req,
                          f: IO[bytes], ranges: list[tuple[int, int]], length: int,
                          content_type: str) -> None:
    boundary = new_boundary()
    resp.set_status(206)
    resp.content_type = "multipart/byteranges"
    resp.headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
    resp.content_length = multipart_length(ranges, length, content_type, boundary)
    await resp.prepare(request)

    def read(start: int, n: int) -> bytes:
        f.seek(start)
        return f.read(n)

    for head, start, end in multipart_parts(ranges, length, content_type, boundary):
        await resp.write(head)
        pos = start
        while pos <= end:
            n = min(CHUNK, end - pos + 1)
            await resp.write(await req.node.run(read, pos, n))
            pos += n
        await resp.write(b"\r\n")
    await resp.write(closing(boundary))
    await resp.write_eof()


async def post_object(request: web.Request) -> web.Response:
    req = Req(request)
    ts = req.timestamp(request)
    st = await req.state()
    if not st.exists or (expired(st) and not open_expired(request)):
        raise object_missing(st.tombstone_timestamp)
    if st.newest and st.newest >= ts:
        raise superseded(st.newest)
    meta: dict[str, Any] = {"X-Timestamp": ts, **stored_headers(request.headers)}
    stored_type = str(st.metadata.get("Content-Type", "application/octet-stream"))
    content_type = stored_type
    if "Content-Type" in request.headers:
        content_type = keep_swift_bytes(request.headers["Content-Type"], stored_type)
    # the newest POST's file holds the type: one that does not change it keeps it
    meta["Content-Type"] = content_type
    post_lock(st, meta, request.headers.get(LOCK_BYPASS) == BYPASS_GOVERNANCE)
    try:
        await req.node.run(req.backend.write_meta, req.device, req.part, req.hash, ts, meta)
    except MetadataTooLarge as exc:
        raise BadRequest(str(exc)) from None
    req.node.partition_changed(req.device, req.part, datadir(req.policy))
    await expirer.note_expiring(req.node, req.device_path, req.account, req.container,
                                req.obj, req.hash, meta, req.policy)
    # As Swift's object server: the listing follows a POST (its Content-Type, and
    # the time of the change as last_modified) with the data's size and ETag.
    await _update_containers(request, req, container_row(request, st.metadata, {
        "name": req.obj, "created_at": ts, "size": st.length, "content_type": content_type,
        "etag": st.etag, "deleted": 0}))
    return web.Response(status=202)


def keep_swift_bytes(new_type: str, stored_type: str) -> str:
    """A new Content-Type for a large object's manifest keeps the ``;swift_bytes=``
    its listing size comes from."""
    _, sep, size = stored_type.rpartition(";swift_bytes=")
    if sep and ";swift_bytes=" not in new_type:
        return f"{new_type};swift_bytes={size}"
    return new_type


async def delete_object(request: web.Request) -> web.Response:
    req = Req(request)
    ts = req.timestamp(request)
    existed = await _tombstone(req, ts, request.headers.get("X-If-Delete-At"),
                               WriteGuard.of(request.headers))
    req.node.partition_changed(req.device, req.part, datadir(req.policy))
    await _update_containers(request, req, {
        "name": req.obj, "created_at": ts, "size": 0, "content_type": "",
        "etag": "", "deleted": 1})
    if not existed:
        raise Missing()  # the tombstone is written all the same
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_put(OBJECT_ROUTE, put_object)
    app.router.add_get(OBJECT_ROUTE, get_object)  # HEAD too
    app.router.add_post(OBJECT_ROUTE, post_object)
    app.router.add_delete(OBJECT_ROUTE, delete_object)
