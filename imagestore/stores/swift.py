"""Image data in Strata's object store, through its Swift API (the default store).

The bytes of image ``<id>`` live in one container (default ``images``) of the
image service's account:

* segments ``<id>/00001``, ``<id>/00002``, ... of ``segment_size`` bytes (the
  last one shorter), each a streamed ``Transfer-Encoding: chunked`` PUT (a
  segment's length is not known until the upload ends, and nothing is
  buffered: the chunks are passed on as they arrive), its MD5 computed while
  streaming and compared with the ETag the proxy answers;
* then ``<id>``: a Static Large Object manifest (``PUT ?multipart-manifest=put``
  listing each segment's path, etag and size). An empty image is one plain
  empty object ``<id>``.

The location is ``swift://<container>/<id>``; ``get`` is one GET of ``<id>``
with a ``Range`` header (the proxy's SLO support assembles the segments);
``delete`` is ``DELETE ?multipart-manifest=delete`` (segments, then manifest)
followed by a prefix listing of ``<id>/`` that removes any stray segment (of
an upload interrupted by a crash, say). A failed or cancelled ``add`` deletes
every segment it started and the manifest, shielded from cancellation.

The calls are :class:`proxy.client.SwiftClient`'s. Authentication is a
``token()`` coroutine (the image service passes its internal service user's,
``TokenValidator.service_token``); the account is the one the store was given,
or a coroutine answering it (the service user's own: the ``service`` role may
use any account). Errors: connection failures, timeouts and 5xx are
:class:`StoreError`; 507 and 413 :class:`StoreFull`; 404 :class:`NotFound`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from common.httpclient import RemoteError
from imagestore.stores.base import (
    IMAGE_ID_RE,
    AlreadyExists,
    ByteStream,
    InvalidLocation,
    NotFound,
    Stored,
    StoreError,
    StoreFull,
    check_image_id,
    check_range,
)
from proxy.client import SwiftClient

CONTAINER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
READ_CHUNK = 1 << 20


class _Source:
    """The caller's chunks, cut into segments without copying more than a slice.

    It remembers an exception the caller's iterator raised: that iterator is
    read from aiohttp's body writer, which reports failures as its own errors,
    and ``add`` must re-raise the caller's.
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._it = chunks.__aiter__()
        self._chunk = b""
        self._pos = 0
        self.error: BaseException | None = None

    async def at_end(self) -> bool:
        while self._pos >= len(self._chunk):
            try:
                self._chunk = await self._it.__anext__()
            except StopAsyncIteration:
                self._chunk, self._pos = b"", 0
                return True
            except BaseException as exc:
                self.error = exc
                raise
            self._pos = 0
        return False

    async def take(self, limit: int, sizes: list[int]) -> AsyncIterator[bytes]:
        """Up to ``limit`` bytes, counted in ``sizes[0]``."""
        while sizes[0] < limit and not await self.at_end():
            want = limit - sizes[0]
            if self._pos == 0 and len(self._chunk) <= want:
                piece = self._chunk
            else:
                piece = self._chunk[self._pos:self._pos + want]
            self._pos += len(piece)
            sizes[0] += len(piece)
            yield piece


def store_error(exc: RemoteError, what: str) -> StoreError:
    """The store's error for what the object store answered (or failed to)."""
    status = exc.answered
    if status is None:  # unreachable, timed out, or no token to be had
        return StoreError(exc.message)
    if status == 404:
        return NotFound("image data not found in the object store")
    if status in (413, 507):
        return StoreFull(f"the object store is full ({status})")
    if status in (401, 403):
        return StoreError(f"the object store refused the image service's credentials "
                          f"({status})")
    if status >= 500:
        return StoreError(f"the object store failed ({status})")
    return StoreError(f"the object store answered {status} to {what}")


@contextlib.contextmanager
def _store_errors(what: str) -> Iterator[None]:
    try:
        yield
    except RemoteError as exc:
        raise store_error(exc, what) from exc


class SwiftStore:
    id = "swift"
    description = "Object store (Swift API, static large objects)"
    local_files = False

    def __init__(
        self, proxy_url: str, token: Callable[[], Awaitable[str]],
        account: str | Callable[[], Awaitable[str]], *, container: str = "images",
        segment_size: int = 64 << 20, max_segments: int = 1000, conn_timeout: float = 10,
        read_timeout: float = 120, session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not CONTAINER_RE.fullmatch(container):
            raise ValueError(f"invalid container name {container!r}")
        if segment_size < 1:
            raise ValueError("segment_size must be positive")
        self.container = container
        self.segment_size = segment_size
        self.max_segments = max_segments  # the proxy's slo_max_manifest_segments
        self._swift = SwiftClient(proxy_url, token, account, session=session,
                                  conn_timeout=conn_timeout, read_timeout=read_timeout)

    def location(self, image_id: str, container: str | None = None) -> str:
        return f"swift://{container or self.container}/{check_image_id(image_id)}"

    def parse(self, location: str) -> tuple[str, str]:
        """``(container, object)`` of a location; InvalidLocation unless it is one of ours."""
        try:
            parts = urlsplit(location)
        except ValueError:
            raise InvalidLocation("not a location of the swift store") from None
        obj = parts.path.removeprefix("/")
        if parts.scheme != "swift" or not CONTAINER_RE.fullmatch(parts.netloc) \
                or not IMAGE_ID_RE.fullmatch(obj) or parts.query or parts.fragment:
            raise InvalidLocation("not a location of the swift store")
        return parts.netloc, obj

    # -- add --------------------------------------------------------------------------------

    async def add(self, image_id: str, chunks: AsyncIterator[bytes]) -> Stored:
        check_image_id(image_id)
        with _store_errors("an upload"):
            await self._swift.ensure_container(self.container)
            if await self._swift.head_object(self.container, image_id) is not None:
                raise AlreadyExists(f"image {image_id} already has data")
        source = _Source(chunks)
        started: list[str] = []
        try:
            try:
                size = await self._upload(image_id, source, started)
            except RemoteError as exc:
                if source.error is not None:
                    raise source.error from None
                if exc.answered == 404:  # the container went away under us
                    self._swift.forget_container(self.container)
                    raise StoreError("the image container disappeared during the upload") \
                        from None
                raise store_error(exc, "an upload") from exc
            except aiohttp.ClientError as exc:
                if source.error is not None:
                    raise source.error from None
                raise StoreError(f"the object store failed during the upload "
                                 f"({type(exc).__name__})") from exc
        except BaseException:
            cleanup = asyncio.ensure_future(
                self._swift.delete_objects(self.container, [*started, image_id]))
            with contextlib.suppress(BaseException):
                await asyncio.shield(cleanup)
            raise
        return Stored(self.location(image_id), size)

    async def _upload(self, image_id: str, source: _Source, started: list[str]) -> int:
        if await source.at_end():
            await self._swift.put_object(self.container, image_id, b"")
            return 0
        manifest: list[dict[str, Any]] = []
        total = 0
        while not await source.at_end():
            if len(manifest) >= self.max_segments:
                raise StoreError(f"image larger than {self.max_segments} segments of "
                                 f"{self.segment_size} bytes")
            name = f"{image_id}/{len(manifest) + 1:05d}"
            started.append(name)
            sizes = [0]
            # The proxy and every object server check the segment's MD5 themselves
            # (the ETag answered is theirs); the manifest PUT then checks each
            # segment's ETag and size, and the image service hashes the whole image.
            # Hashing each segment here as well cost a sixth of the upload's CPU.
            etag = await self._swift.put_object(self.container, name,
                                                source.take(self.segment_size, sizes))
            if source.error is not None:
                raise source.error
            if len(etag) != 32:
                raise StoreError("the object store answered a segment PUT without its ETag")
            manifest.append({"path": f"/{self.container}/{name}", "etag": etag,
                             "size_bytes": sizes[0]})
            total += sizes[0]
        await self._swift.put_manifest(self.container, image_id, manifest)
        return total

    # -- get --------------------------------------------------------------------------------

    async def get(self, location: str, offset: int = 0,
                  length: int | None = None) -> ByteStream:
        check_range(offset, length)
        container, obj = self.parse(location)
        with _store_errors("a read"):
            if length == 0:
                if await self._swift.head_object(container, obj) is None:
                    raise NotFound("image data not found in the object store")
                return ByteStream(_nothing())
            headers: dict[str, str] = {}
            if offset or length is not None:
                last = "" if length is None else str(offset + length - 1)
                headers["Range"] = f"bytes={offset}-{last}"
            try:
                download = await self._swift.get_object(container, obj, headers=headers)
            except RemoteError as exc:
                if exc.answered == 416:  # the range starts at or past the end
                    return ByteStream(_nothing())
                raise
        # a 200 to a ranged GET: the server ignored Range, cut here
        skip = offset if download.status == 200 else 0
        left = None if download.status == 206 else length

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal skip, left
            with _store_errors("a read"):
                async for data in download.chunks(READ_CHUNK):
                    if skip:
                        cut = min(skip, len(data))
                        data, skip = data[cut:], skip - cut
                    if left is not None:
                        data = data[:left]
                        left -= len(data)
                    if data:
                        yield data
                    if left == 0:
                        return

        return ByteStream(chunks(), download.close)

    # -- delete -----------------------------------------------------------------------------

    async def delete(self, location: str) -> None:
        container, obj = self.parse(location)
        with _store_errors("a delete"):
            head = await self._swift.head_object(container, obj)
            manifest_left = False
            if head is not None and head.get("X-Static-Large-Object", "").lower() == "true":
                outcome = await self._swift.delete_manifest(container, obj)
                status = str(outcome.get("Response Status", ""))
                if status[:1] == "5":
                    raise StoreError(f"the object store failed to delete image data "
                                     f"({status})")
                manifest_left = status[:1] != "2"
            elif head is not None:
                await self._swift.delete_object(container, obj)
            # segments of the manifest not deleted above, or of an interrupted upload
            stray = [str(item["name"]) async for item in
                     self._swift.list_objects(container, prefix=obj + "/")]
            await self._swift.delete_objects(container, stray)
            if manifest_left:  # a manifest whose multipart delete failed part-way
                await self._swift.delete_object(container, obj)

    def local_path(self, location: str) -> Path | None:
        return None

    async def close(self) -> None:
        await self._swift.close()


async def _nothing() -> AsyncIterator[bytes]:
    empty: tuple[bytes, ...] = ()
    for chunk in empty:  # an async generator that yields nothing
        yield chunk
