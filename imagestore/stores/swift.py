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

Authentication is a ``token()`` coroutine (the image service passes its
internal service user's, e.g. ``TokenValidator.service_token``); the account
is the one the store was given (the service user's ``service`` role may use
any account). Errors: connection failures, timeouts and 5xx are
:class:`StoreError`; 507 and 413 :class:`StoreFull`; 404 :class:`NotFound`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import aiohttp

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

CONTAINER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
READ_CHUNK = 1 << 20
DELETE_CONCURRENCY = 8
LISTING_LIMIT = 1000


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


def _unquote_etag(value: str | None) -> str:
    return (value or "").strip().strip('"').lower()


class SwiftStore:
    id = "swift"
    description = "Object store (Swift API, static large objects)"
    local_files = False

    def __init__(
        self, proxy_url: str, token: Callable[[], Awaitable[str]], account: str, *,
        container: str = "images", segment_size: int = 64 << 20, max_segments: int = 1000,
        conn_timeout: float = 10, read_timeout: float = 120,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not CONTAINER_RE.fullmatch(container):
            raise ValueError(f"invalid container name {container!r}")
        if segment_size < 1:
            raise ValueError("segment_size must be positive")
        self.account_url = f"{proxy_url.rstrip('/')}/v1/{quote(account, safe='')}"
        self.container = container
        self.segment_size = segment_size
        self.max_segments = max_segments  # the proxy's slo_max_manifest_segments
        self._token = token
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=conn_timeout,
                                              sock_read=read_timeout)
        self._container_ready = False

    # -- plumbing ---------------------------------------------------------------------------

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

    def _url(self, container: str, obj: str | None = None) -> str:
        url = f"{self.account_url}/{quote(container, safe='')}"
        return url if obj is None else f"{url}/{quote(obj, safe='/')}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        try:
            token = await self._token()
        except Exception as exc:
            raise StoreError("cannot authenticate to the object store") from exc
        return {"X-Auth-Token": token, **(extra or {})}

    async def _request(self, method: str, url: str, *, ok: tuple[int, ...],
                       headers: dict[str, str] | None = None, **kw: Any) -> aiohttp.ClientResponse:
        """The response (open: the caller releases it) when its status is in ``ok``."""
        hdrs = await self._headers(headers)
        try:
            resp = await self._client().request(method, url, headers=hdrs,
                                                timeout=self._timeout, **kw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(f"the object store is unreachable ({type(exc).__name__})") \
                from exc
        if resp.status not in ok:
            resp.release()
            self._fail(resp.status, method)
        return resp

    @staticmethod
    def _fail(status: int, what: str) -> NoReturn:
        if status == 404:
            raise NotFound("image data not found in the object store")
        if status in (413, 507):
            raise StoreFull(f"the object store is full ({status})")
        if status in (401, 403):
            raise StoreError(f"the object store refused the image service's credentials "
                             f"({status})")
        if status >= 500:
            raise StoreError(f"the object store failed ({status})")
        raise StoreError(f"the object store answered {status} to a {what}")

    async def _simple(self, method: str, url: str, ok: tuple[int, ...], **kw: Any) -> int:
        resp = await self._request(method, url, ok=ok, **kw)
        resp.release()
        return resp.status

    async def _ensure_container(self) -> None:
        if not self._container_ready:
            await self._simple("PUT", self._url(self.container), (201, 202, 204))
            self._container_ready = True

    # -- add --------------------------------------------------------------------------------

    async def add(self, image_id: str, chunks: AsyncIterator[bytes]) -> Stored:
        check_image_id(image_id)
        await self._ensure_container()
        if await self._simple("HEAD", self._url(self.container, image_id), (200, 404)) == 200:
            raise AlreadyExists(f"image {image_id} already has data")
        source = _Source(chunks)
        started: list[str] = []
        try:
            try:
                size = await self._upload(image_id, source, started)
            except StoreError as exc:
                if source.error is not None:
                    raise source.error from None
                if isinstance(exc, NotFound):  # the container went away under us
                    self._container_ready = False
                    raise StoreError("the image container disappeared during the upload") \
                        from None
                raise
            except aiohttp.ClientError as exc:
                if source.error is not None:
                    raise source.error from None
                raise StoreError(f"the object store failed during the upload "
                                 f"({type(exc).__name__})") from exc
        except BaseException:
            cleanup = asyncio.ensure_future(self._remove([*started, image_id], self.container))
            with contextlib.suppress(BaseException):
                await asyncio.shield(cleanup)
            raise
        return Stored(self.location(image_id), size)

    async def _upload(self, image_id: str, source: _Source, started: list[str]) -> int:
        octets = {"Content-Type": "application/octet-stream"}
        if await source.at_end():
            await self._simple("PUT", self._url(self.container, image_id), (201,),
                               headers=octets, data=b"")
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
            resp = await self._request(
                "PUT", self._url(self.container, name), ok=(201,), headers=octets,
                data=source.take(self.segment_size, sizes))
            etag = _unquote_etag(resp.headers.get("ETag"))
            resp.release()
            if source.error is not None:
                raise source.error
            if len(etag) != 32:
                raise StoreError("the object store answered a segment PUT without its ETag")
            manifest.append({"path": f"/{self.container}/{name}", "etag": etag,
                             "size_bytes": sizes[0]})
            total += sizes[0]
        await self._simple("PUT", self._url(self.container, image_id), (201,),
                           params={"multipart-manifest": "put"},
                           headers={"Content-Type": "application/json"},
                           data=json.dumps(manifest).encode())
        return total

    # -- get --------------------------------------------------------------------------------

    async def get(self, location: str, offset: int = 0,
                  length: int | None = None) -> ByteStream:
        check_range(offset, length)
        url = self._url(*self.parse(location))
        if length == 0:
            await self._simple("HEAD", url, (200,))
            return ByteStream(_nothing())
        headers: dict[str, str] = {}
        if offset or length is not None:
            last = "" if length is None else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{last}"
        resp = await self._request("GET", url, ok=(200, 206, 416), headers=headers)
        if resp.status == 416:  # the range starts at or past the end
            resp.release()
            return ByteStream(_nothing())
        # a 200 to a ranged GET: the server ignored Range, cut here
        skip = offset if resp.status == 200 else 0
        left = None if resp.status == 206 else length

        async def chunks() -> AsyncIterator[bytes]:
            nonlocal skip, left
            try:
                async for data in resp.content.iter_chunked(READ_CHUNK):
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
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise StoreError(f"reading from the object store failed "
                                 f"({type(exc).__name__})") from exc

        async def release() -> None:
            if resp.content.at_eof():
                resp.release()
            else:
                resp.close()

        return ByteStream(chunks(), release)

    # -- delete -----------------------------------------------------------------------------

    async def delete(self, location: str) -> None:
        container, obj = self.parse(location)
        url = self._url(container, obj)
        resp = await self._request("HEAD", url, ok=(200, 404))
        is_slo = resp.headers.get("X-Static-Large-Object", "").lower() == "true"
        resp.release()
        manifest_left = False
        if is_slo:
            resp = await self._request("DELETE", url, ok=(200,),
                                       params={"multipart-manifest": "delete"},
                                       headers={"Accept": "application/json"})
            try:
                outcome = await resp.json(content_type=None)
            except (ValueError, aiohttp.ClientError) as exc:
                raise StoreError("the object store answered a delete with nonsense") from exc
            finally:
                resp.release()
            status = str(outcome.get("Response Status", "")) if isinstance(outcome, dict) else ""
            if status[:1] == "5":
                raise StoreError(f"the object store failed to delete image data ({status})")
            manifest_left = status[:1] != "2"
        elif resp.status == 200:
            await self._simple("DELETE", url, (204, 404))
        # segments of the manifest not deleted above, or of an interrupted upload
        stray = [name async for name in self._listing(container, obj + "/")]
        await self._remove(stray, container)
        if manifest_left:  # a manifest whose multipart delete failed part-way
            await self._simple("DELETE", url, (204, 404))

    async def _listing(self, container: str, prefix: str) -> AsyncIterator[str]:
        marker = ""
        while True:
            resp = await self._request("GET", self._url(container), ok=(200, 204, 404), params={
                "format": "json", "prefix": prefix, "marker": marker,
                "limit": str(LISTING_LIMIT)})
            try:
                page = await resp.json() if resp.status == 200 else []
            except (ValueError, aiohttp.ClientError) as exc:
                raise StoreError("the object store sent a bad listing") from exc
            finally:
                resp.release()
            for item in page:
                yield str(item["name"])
            if len(page) < LISTING_LIMIT:
                return
            marker = str(page[-1]["name"])

    async def _remove(self, names: list[str], container: str) -> None:
        """Plain DELETE of each object (a missing one is fine), a few at a time."""
        limit = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def one(name: str) -> None:
            async with limit:
                await self._simple("DELETE", self._url(container, name), (204, 404))

        await asyncio.gather(*(one(n) for n in names))

    def local_path(self, location: str) -> Path | None:
        return None

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None


async def _nothing() -> AsyncIterator[bytes]:
    empty: tuple[bytes, ...] = ()
    for chunk in empty:  # an async generator that yields nothing
        yield chunk
