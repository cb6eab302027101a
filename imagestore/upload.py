"""Image bytes on their way into a store: counted, hashed and inspected as they stream.

:func:`store_image` wraps any async source of chunks (a request body, a
staged file) in a generator that

* re-cuts the data into pieces of about ``PIECE`` bytes (a client's tiny
  chunks cost one thread hop per piece, not per chunk);
* refuses the upload (:class:`~imagestore.errors.TooLarge`) as soon as it
  passes its limit (the image size cap or the project's remaining quota);
* computes MD5 (``checksum``) and SHA-512 (``os_hash_value``) and feeds the
  format inspector (:mod:`diskimage.inspector`) in a worker thread
  (hashlib releases the GIL), so the event loop keeps moving bytes;

and hands it to ``store.add``. Only once the whole image is in the store is
the inspector asked for its verdict, and then qemu-img's
(:func:`diskimage.safety.cross_check` on a local copy of the same bytes: the
file being imported, or a spool file written beside the hashes); a refused
image is deleted from the store and becomes
:class:`~imagestore.errors.Invalid` (400) with the reason. Memory stays at a
few pieces whatever the image size.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from diskimage.inspector import ImageInspector, ImageRejected
from diskimage.safety import cross_check, needs_qemu_check
from imagestore.errors import Invalid, TooLarge, Unavailable
from imagestore.stores.base import ImageStore, StoreError, StoreFull

log = logging.getLogger(__name__)

PIECE = 1 << 20
HASH_ALGO = "sha512"


class ClientGone(Exception):
    """The client stopped sending before the end of the image."""


class StoreFailed(Exception):
    """The store failed mid-upload (the image is marked ``killed``)."""

    def __init__(self, cause: StoreError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class Result:
    location: str
    size: int
    checksum: str
    os_hash_value: str
    virtual_size: int | None


class _Digest:
    """MD5, SHA-512 and the inspector, fed the same pieces in order (one thread at a time)."""

    def __init__(self, disk_format: str, container_format: str | None) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha = hashlib.new(HASH_ALGO)
        self.inspector = ImageInspector(disk_format, container_format)
        self.spool: int | None = None  # fd of the local copy qemu-img checks, if one is kept
        self.spooled = 0  # bytes of the stream so far (the spool skips all-zero pieces)

    def update_md5(self, piece: bytes) -> None:
        self.md5.update(piece)

    def update_sha(self, piece: bytes) -> None:
        self.sha.update(piece)
        self.inspector.feed(piece)
        if self.spool is not None:
            if piece.count(0) != len(piece):  # zeros stay a hole (the size is set at the end)
                view, at = memoryview(piece), self.spooled
                while view:
                    n = os.pwrite(self.spool, view, at)
                    view, at = view[n:], at + n
            self.spooled += len(piece)

    def end_spool(self) -> None:
        if self.spool is not None:
            os.ftruncate(self.spool, self.spooled)


def _open_spool(directory: Path | None, image_id: str) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(prefix=f".{image_id}.", suffix=".check",
                                dir=str(directory) if directory else None)
    return fd, Path(name)


def _close_spool(fd: int, path: Path) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def _pieces(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    buf = bytearray()
    async for chunk in source:
        if not buf and len(chunk) >= PIECE:
            yield chunk  # already big enough: no copy
            continue
        buf += chunk
        if len(buf) >= PIECE:
            # Handed over whole and never changed after, so no second copy: the
            # consumers (hashes, the stores) only read it, as they would bytes.
            yield cast(bytes, buf)
            buf = bytearray()
    if buf:
        yield cast(bytes, buf)


async def store_image(store: ImageStore, image_id: str, source: AsyncIterator[bytes], *,
                      disk_format: str, container_format: str | None, limit: int,
                      limit_message: str, local_copy: Path | None = None,
                      spool_dir: Path | None = None) -> Result:
    """Stream ``source`` into ``store`` as ``image_id``; see the module docstring.

    ``local_copy`` is a local file holding the same bytes as ``source`` (an
    import's staged file): qemu-img checks it. Without one, qemu-img reads
    the store's own file when the store keeps local files; otherwise the
    bytes of a format qemu reads a header of are also spooled (sparse:
    all-zero pieces are not written) to a temporary file in ``spool_dir``.
    Raises TooLarge, Invalid (inspection), ClientGone, StoreFailed/Unavailable;
    nothing is left in the store when it raises.
    """
    try:
        digest = _Digest(disk_format, container_format)
    except ImageRejected as exc:
        raise Invalid(exc.message) from None
    spool: Path | None = None
    check = needs_qemu_check(disk_format, container_format)
    if local_copy is None and check and not store.local_files:
        digest.spool, spool = await asyncio.to_thread(_open_spool, spool_dir, image_id)
    try:
        return await _store(store, image_id, source, digest, container_format, limit,
                            limit_message, local_copy or spool, check)
    finally:
        if spool is not None and digest.spool is not None:
            await asyncio.to_thread(_close_spool, digest.spool, spool)


async def _store(store: ImageStore, image_id: str, source: AsyncIterator[bytes],
                 digest: _Digest, container_format: str | None, limit: int,
                 limit_message: str, local: Path | None, check: bool) -> Result:
    loop = asyncio.get_running_loop()
    size = 0

    async def counted() -> AsyncIterator[bytes]:
        # A piece is hashed (MD5 and SHA-512 in two threads) while the store sends
        # it; the next piece waits for those hashes, so at most one is in flight.
        nonlocal size
        hashing: asyncio.Future[tuple[None, None]] | None = None
        async for piece in _pieces(source):
            size += len(piece)
            if size > limit:
                raise TooLarge(limit_message)
            if hashing is not None:
                await hashing
            hashing = asyncio.gather(
                loop.run_in_executor(None, digest.update_md5, piece),
                loop.run_in_executor(None, digest.update_sha, piece))
            yield piece
        if hashing is not None:
            await hashing

    try:
        stored = await store.add(image_id, counted())
    except StoreFull as exc:
        raise TooLarge(f"The image store is full: {exc}") from None
    except StoreError as exc:
        raise StoreFailed(exc) from None
    except (ConnectionError, EOFError) as exc:
        raise ClientGone(str(exc)) from None
    except Exception as exc:
        if _client_error(exc):
            raise ClientGone(str(exc)) from None
        raise
    try:
        inspection = digest.inspector.verify()
        local = local or (store.local_path(stored.location) if check else None)
        if local is not None:  # qemu-img reads the same bytes: the store's file or a copy
            await asyncio.to_thread(digest.end_spool)
            await cross_check(local, inspection, container_format=container_format)
    except ImageRejected as exc:
        await _delete_quietly(store, stored.location)
        raise Invalid(exc.message) from None
    except BaseException:
        await _delete_quietly(store, stored.location)
        raise
    return Result(stored.location, stored.size, digest.md5.hexdigest(),
                  digest.sha.hexdigest(), inspection.virtual_size)


def _client_error(exc: Exception) -> bool:
    """A broken request body (aiohttp's payload errors), not a failure of ours."""
    import aiohttp

    return isinstance(exc, aiohttp.ClientPayloadError | aiohttp.http_exceptions.HttpProcessingError)


async def _delete_quietly(store: ImageStore, location: str) -> None:
    try:
        await asyncio.shield(store.delete(location))
    except StoreError as exc:
        log.warning("could not delete %s from the %s store: %s", location, store.id, exc)


async def delete_data(store: ImageStore, location: str) -> None:
    """Delete an image's data; a store failure is logged (the row is gone regardless)."""
    await _delete_quietly(store, location)


__all__ = ["ClientGone", "Result", "StoreFailed", "Unavailable", "delete_data",
           "store_image"]
