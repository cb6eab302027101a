"""Many operations in one request, as Swift's ``bulk`` middleware.

``POST`` (or ``DELETE``) with ``?bulk-delete`` and a ``text/plain`` body of
%-encoded ``/container/object`` or ``/container`` lines deletes them all
(objects first, then containers), each as a DELETE subrequest authorized as
the caller. ``PUT`` with ``?extract-archive=tar|tar.gz|tar.bz2`` to an
account, container or pseudo-folder stores every regular file of the
archive as an object (creating containers as needed), reading the archive
as it arrives: Python's :mod:`tarfile` parses the stream in a worker thread
and each member's bytes are fed to its PUT subrequest as they are read.

As in Swift, the answer is always ``200 OK`` and the outcome is in the body
(``Response Status``, counts, ``Errors``) in the format the ``Accept``
header asks for (plain text, JSON or XML). While the work goes on, a space
is sent every ``bulk_yield_frequency`` seconds so that the client does not
time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import tarfile
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote_to_bytes

from common.http import ApiError
from proxy.features import segments
from proxy.features.copy import HTML, Reply, object_path, reply
from proxy.features.segments import bulk_body, status_line
from proxy.pipeline import CHUNK, Handler, IterBody, SwiftRequest, SwiftResponse, call
from proxy.request import MAX_CONTAINER_NAME, MAX_OBJECT_NAME, SwiftPath, parse_path
from proxy.state import ProxyState

MAX_PATH_LENGTH = MAX_OBJECT_NAME + MAX_CONTAINER_NAME + 2
ArchiveMode = Literal["r|", "r|gz", "r|bz2"]
ARCHIVES: dict[str, ArchiveMode] = {"tar": "r|", "tar.gz": "r|gz", "tar.bz2": "r|bz2"}
class BulkError(Exception):
    """Ends a bulk operation: ``Response Status`` ``status``, ``Response Body`` ``body``."""

    def __init__(self, status: int, body: str = "") -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def best_match(accept: str | None) -> str | None:
    """The answer format for an ``Accept`` header; None for one that cannot be parsed
    (swob ignores it, and then no format matches)."""
    try:
        return segments.best_match(accept)
    except ValueError:
        return None


def pax_header(key: str) -> str | None:
    """The object header a tar member's extended attribute becomes, if any."""
    for prefix in ("SCHILY.xattr.user.", "LIBARCHIVE.xattr.user."):
        if key == prefix + "mime_type":
            return "Content-Type"
        if key.startswith(prefix + "meta."):
            return "X-Object-Meta-" + key[len(prefix + "meta."):]
    return None


def _valid_utf8(text: str) -> bool:
    return "\x00" not in text and "\ufffd" not in text


async def _streamed(work: Callable[[], Coroutine[Any, Any, bytes]], every: float,
                    first: bytes) -> AsyncIterator[bytes]:
    """The answer body: heartbeats while ``work`` runs, then what it returns."""
    task = asyncio.ensure_future(work())
    beat, separator = first, b""
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                break
            yield beat
            beat, separator = b" ", b"\r\n\r\n"
        yield separator + task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


def _first_beat(fmt: str | None) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' if fmt and fmt.endswith("/xml") \
        else b" "


def _bulk_response(fmt: str | None, body: AsyncIterator[bytes]) -> SwiftResponse:
    return SwiftResponse.of(200, {"Content-Type": fmt or HTML}, body)


def _length_known(req: SwiftRequest) -> bool:
    return req.content_length is not None or \
        req.headers.get("Transfer-Encoding", "").lower() == "chunked"


# -- bulk delete -----------------------------------------------------------------------


@dataclass
class _Deletion:
    deleted: int = 0
    not_found: int = 0
    failed: list[list[str]] = field(default_factory=list)
    failure_status: int = 400


class BulkDelete:
    name: str | None = "bulk_delete"

    def __init__(self, st: ProxyState) -> None:
        p = st.cfg.proxy
        self.max_deletes = p.bulk_max_deletes_per_request
        self.max_failed = p.bulk_max_failed_deletes
        self.every = float(p.bulk_yield_frequency)
        self.concurrency = min(1000, max(1, p.bulk_delete_concurrency))

    def info(self) -> dict[str, Any]:
        return {"max_deletes_per_request": self.max_deletes,
                "max_failed_deletes": self.max_failed}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if "bulk-delete" not in req.query or req.method not in ("POST", "DELETE"):
            return await next_handler(req)
        fmt = best_match(req.headers.get("Accept"))

        async def work() -> bytes:
            return await self.run(req, next_handler, fmt)

        return _bulk_response(fmt, _streamed(work, self.every, _first_beat(fmt)))

    async def names(self, req: SwiftRequest) -> list[tuple[str, str | None]]:
        """The body's lines: each %-encoded as Swift reports it, and %-decoded
        (None for a line that is not UTF-8)."""
        if not _length_known(req):
            raise BulkError(411)
        out: list[tuple[str, str | None]] = []
        line = b""

        def take(raw: bytes) -> None:
            raw = raw.strip()
            if not raw:
                return
            name = unquote_to_bytes(raw)
            try:
                out.append((quote(name), name.decode("utf-8")))
            except UnicodeDecodeError:
                out.append((quote(name), None))

        async for chunk in req.body.chunks(MAX_PATH_LENGTH):
            line += chunk
            while b"\n" in line:
                raw, line = line.split(b"\n", 1)
                take(raw)
                self._check_count(out)
            if len(line) > MAX_PATH_LENGTH * 2:
                raise BulkError(400, "Invalid File Name")
        take(line)
        self._check_count(out)
        return out

    def _check_count(self, names: list[tuple[str, str | None]]) -> None:
        if len(names) > self.max_deletes:
            raise BulkError(413, f"Maximum Bulk Deletes: {self.max_deletes} per request")

    async def run(self, req: SwiftRequest, next_handler: Handler, fmt: str | None) -> bytes:
        result = _Deletion()
        data: dict[str, Any] = {"Response Status": status_line(200), "Response Body": "",
                                "Number Deleted": 0, "Number Not Found": 0}
        try:
            if not fmt:
                raise BulkError(406)
            incoming = req.headers.get("Content-Type")
            if incoming and not incoming.startswith("text/plain"):
                raise BulkError(406)
            names = await self.names(req)
            objects = [n for n in names if n[1] is None or "/" in n[1].strip("/")]
            containers = [n for n in names if n[1] is not None and "/" not in n[1].strip("/")]
            for group in (objects, containers):
                await self.delete_all(req, next_handler, group, result)
                if len(result.failed) >= self.max_failed:
                    raise BulkError(400, "Max delete failures exceeded")
            if result.failed:
                data["Response Status"] = status_line(result.failure_status)
            elif not (result.deleted or result.not_found):
                data["Response Status"] = status_line(400)
                data["Response Body"] = "Invalid bulk delete."
        except BulkError as err:
            data["Response Status"] = status_line(err.status)
            data["Response Body"] = err.body
        data["Number Deleted"] = result.deleted
        data["Number Not Found"] = result.not_found
        return bulk_body(fmt, data, result.failed, "delete")

    async def delete_all(self, req: SwiftRequest, next_handler: Handler,
                         names: list[tuple[str, str | None]], result: _Deletion) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(quoted: str, name: str | None) -> None:
            if name is None:
                result.failed.append([quoted, status_line(412)])
                return
            path = self.path_of(req.path, name)
            if path is None:
                result.failed.append([quoted, status_line(412)])
                return
            if isinstance(path, int):
                result.failed.append([quoted, status_line(path)])
                return
            async with gate:
                resp = await call(next_handler, req.sub("DELETE", path, source="bulk"))
                await resp.close()
            if resp.ok:
                result.deleted += 1
            elif resp.status == 404:
                result.not_found += 1
            else:
                if resp.status // 100 == 5:
                    result.failure_status = 502
                result.failed.append([quoted, status_line(resp.status)])

        await asyncio.gather(*(one(q, n) for q, n in names))

    @staticmethod
    def path_of(base: SwiftPath, name: str) -> SwiftPath | int | None:
        """The object or container a line names (None: not valid UTF-8; an int:
        the status Swift's proxy would answer for a bad name)."""
        if not _valid_utf8(name):
            return None
        rest = name.lstrip("/")
        container, slash, obj = rest.partition("/")
        parts = [base.version, base.account, container] + ([obj] if slash and obj else [])
        try:
            if len(parts) == 4:
                return object_path(*parts)
            return parse_path("/" + "/".join(quote(p, safe="") for p in parts))
        except ApiError as err:
            return err.status


# -- extract archive --------------------------------------------------------------------


class _Channel:
    """A tar member's bytes, handed from the tar thread to its PUT on the loop."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)
        self.closed = False

    async def put(self, data: bytes) -> bool:
        if self.closed:
            return False
        await self.queue.put(data)
        return True

    def close(self) -> None:
        """No more bytes are wanted: unblock the thread if it waits to put."""
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.closed:
            data = await self.queue.get()
            if not data:
                return
            yield data


class _BodyReader(io.RawIOBase):
    """The request body as a blocking file for :mod:`tarfile`, read from a thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, body: AsyncIterator[bytes],
                 stop: threading.Event) -> None:
        super().__init__()
        self.loop = loop
        self.body = body
        self.stop = stop
        self.buf = b""
        self.pos = 0
        self.eof = False

    def readable(self) -> bool:
        return True

    async def _next(self) -> bytes:
        try:
            return await self.body.__anext__()
        except StopAsyncIteration:
            return b""

    def readinto(self, buffer: Any) -> int:
        while self.pos >= len(self.buf) and not self.eof:
            if self.stop.is_set():
                raise _Stopped()
            chunk = asyncio.run_coroutine_threadsafe(self._next(), self.loop).result()
            self.buf, self.pos, self.eof = chunk, 0, not chunk
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self.buf) - self.pos)
        view[:n] = self.buf[self.pos:self.pos + n]
        self.pos += n
        return n


class _Stopped(Exception):
    pass


@dataclass
class _Extraction:
    created: int = 0
    failed: list[list[str]] = field(default_factory=list)
    failure_status: int = 400
    containers_seen: set[str] = field(default_factory=set)
    containers_created: int = 0


class BulkUpload:
    name: str | None = "bulk_upload"

    def __init__(self, st: ProxyState) -> None:
        p = st.cfg.proxy
        self.max_file_size = p.max_file_size
        self.max_containers = p.bulk_max_containers_per_extraction
        self.max_failed = p.bulk_max_failed_extractions
        self.every = float(p.bulk_yield_frequency)

    def info(self) -> dict[str, Any]:
        return {"max_containers_per_extraction": self.max_containers,
                "max_failed_extractions": self.max_failed}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        kind = req.query.get("extract-archive")
        if kind is None or req.method != "PUT":
            return await next_handler(req)
        mode = ARCHIVES.get(kind.lower().strip("."))
        if mode is None:
            try:
                raise reply(400, "Unsupported archive format")
            except Reply as r:
                return r.response
        fmt = best_match(req.headers.get("Accept"))

        async def work() -> bytes:
            return await self.run(req, next_handler, fmt, mode)

        return _bulk_response(fmt, _streamed(work, self.every, _first_beat(fmt)))

    async def run(self, req: SwiftRequest, next_handler: Handler, fmt: str | None,
                  mode: ArchiveMode) -> bytes:
        result = _Extraction()
        data: dict[str, Any] = {"Response Status": status_line(201), "Response Body": "",
                                "Number Files Created": 0}
        stop = threading.Event()
        try:
            if not fmt:
                raise BulkError(406)
            if not _length_known(req):
                raise BulkError(411)
            loop = asyncio.get_running_loop()
            reader = _BodyReader(loop, req.body.chunks(CHUNK).__aiter__(), stop)
            await asyncio.to_thread(self.walk, loop, reader, mode, req, next_handler,
                                    result, stop)
            if result.failed:
                data["Response Status"] = status_line(result.failure_status)
            elif not result.created:
                data["Response Status"] = status_line(400)
                data["Response Body"] = "Invalid Tar File: No Valid Files"
        except BulkError as err:
            data["Response Status"] = status_line(err.status)
            data["Response Body"] = err.body
        except (tarfile.TarError, zlib.error, EOFError) as exc:
            data["Response Status"] = status_line(400)
            data["Response Body"] = f"Invalid Tar File: {exc}"
        finally:
            stop.set()
        data["Number Files Created"] = result.created
        return bulk_body(fmt, data, result.failed, "extract")

    def walk(self, loop: asyncio.AbstractEventLoop, reader: _BodyReader, mode: ArchiveMode,
             req: SwiftRequest, next_handler: Handler, result: _Extraction,
             stop: threading.Event) -> None:
        """In a worker thread: parse the stream, store each regular file in turn."""
        with tarfile.open(mode=mode, fileobj=reader) as tar:
            while True:
                member = tar.next()
                if member is None or len(result.failed) >= self.max_failed:
                    return
                if not member.isfile():
                    continue
                channel = _Channel()
                stored = asyncio.run_coroutine_threadsafe(
                    self.store(req, next_handler, member, channel, result), loop)
                try:
                    self.feed(loop, tar, member, channel, stop)
                except BaseException:
                    # the PUT sees a short body and gives up; then the error is told
                    asyncio.run_coroutine_threadsafe(channel.put(b""), loop).result()
                    with contextlib.suppress(BaseException):
                        stored.result()
                    raise
                stored.result()

    @staticmethod
    def feed(loop: asyncio.AbstractEventLoop, tar: tarfile.TarFile, member: tarfile.TarInfo,
             channel: _Channel, stop: threading.Event) -> None:
        """A member's bytes to its PUT, until they end or the PUT wants no more."""
        data = tar.extractfile(member)
        assert data is not None
        while True:
            if stop.is_set():
                raise _Stopped()
            piece = data.read(CHUNK)
            if not asyncio.run_coroutine_threadsafe(channel.put(piece), loop).result():
                return
            if not piece:
                return

    async def store(self, req: SwiftRequest, next_handler: Handler, member: tarfile.TarInfo,
                    channel: _Channel, result: _Extraction) -> None:
        try:
            await self._store(req, next_handler, member, channel, result)
        finally:
            channel.close()

    async def _store(self, req: SwiftRequest, next_handler: Handler,
                     member: tarfile.TarInfo, channel: _Channel, result: _Extraction) -> None:
        path = req.path
        name = member.name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if name.startswith("./"):
            name = name[2:]
        name = name.lstrip("/")
        base = "/".join(p for p in (path.container, path.obj) if p is not None).rstrip("/")
        if base:
            name = f"{base}/{name}"
        if "/" not in name:
            return  # a file at the top of an account-wide archive: ignored
        quoted = quote(name[:MAX_PATH_LENGTH])
        container, _, obj = name.partition("/")
        if not _valid_utf8(name) or not obj:
            result.failed.append([quoted, status_line(412)])
            return
        if member.size > self.max_file_size:
            result.failed.append([quoted, status_line(413)])
            return
        try:
            target = object_path(path.version, path.account, container, obj)
        except ApiError as err:
            result.failed.append([quoted, status_line(err.status)])
            return
        container_failure = None
        if container not in result.containers_seen:
            cpath = SwiftPath(path.version, path.account, container)
            status = await self.ensure_container(req, next_handler, cpath)
            if status == 201:
                result.containers_created += 1
                if result.containers_created > self.max_containers:
                    raise BulkError(400, f"More than {self.max_containers} containers to "
                                         "create from tar.")
            elif status // 100 != 2:
                container_failure = [quote(f"/{path.version}/{path.account}/{container}"),
                                     status_line(status)]
                if status == 401:
                    raise BulkError(401)
        headers = {k: v for k, v in req.headers.items()
                   if k.lower() in ("x-delete-at", "x-delete-after")
                   or k.lower().startswith("x-object-meta-")}
        for key, value in member.pax_headers.items():
            header = pax_header(key)
            if header:
                headers[header] = value
        resp = await call(next_handler, req.sub(
            "PUT", target, headers=headers, body=IterBody(channel.chunks()),
            content_length=member.size, source="bulk"))
        await resp.close()
        result.containers_seen.add(container)
        if resp.ok:
            result.created += 1
            return
        if container_failure:
            result.failed.append(container_failure)
        if resp.status == 401:
            result.failed.append([quoted, status_line(401)])
            raise BulkError(401)
        if resp.status // 100 == 5:
            result.failure_status = 502
        result.failed.append([quoted, status_line(resp.status)])

    @staticmethod
    async def ensure_container(req: SwiftRequest, next_handler: Handler,
                               path: SwiftPath) -> int:
        """200 if it exists, 201 once made, else the status that stopped it."""
        head = await call(next_handler, req.sub("HEAD", path, source="bulk"))
        await head.close()
        if head.ok:
            return 200
        if head.status != 404:
            return head.status
        made = await call(next_handler, req.sub("PUT", path, source="bulk"))
        await made.close()
        return 201 if made.ok else made.status


def make_delete(st: ProxyState) -> BulkDelete | None:
    return BulkDelete(st) if st.cfg.proxy.bulk else None


def make_upload(st: ProxyState) -> BulkUpload | None:
    return BulkUpload(st) if st.cfg.proxy.bulk else None
