"""The contract every image data store keeps.

A store holds the bytes of images; the image service keeps everything else
(status, checksums, sizes) in its database and remembers only the opaque
``location`` a store returns from :meth:`ImageStore.add`.

The contract (one shared suite, ``tests/functional/imagestore/test_stores.py``,
checks it against every implementation):

* ``add(image_id, chunks)`` consumes the async iterator in constant memory,
  whatever its chunk sizes, and returns where the bytes are and how many there
  were. On any failure or cancellation, the iterator raising included,
  whatever was written is deleted before the exception is re-raised
  unchanged (the iterator's own exception, not a wrapper). An ``image_id``
  that already holds data is refused with :class:`AlreadyExists`, nothing
  overwritten. Image ids are 1-255 characters ``[A-Za-z0-9_.-]`` starting
  with a letter or digit (UUIDs fit).
* ``await get(location, offset, length)`` checks the location at once
  (:class:`NotFound` before any byte is promised) and returns a
  :class:`ByteStream` of bytes ``[offset, offset + length)``, cut at the end
  of the data (an offset at or past the end gives no bytes). Close it
  (``aclose()`` or ``async with``) when not reading it to the end.
* ``delete(location)`` is idempotent: a location already gone is fine.
* ``close()`` releases connections; the store is not used afterwards.
* ``local_path(location)`` names the local file holding the data when the
  store keeps files on this host (``local_files``), so qemu-img can read
  the stored bytes in place; None otherwise.
* Every error is a :class:`StoreError` whose message is safe to show a user;
  a location the store does not own (another scheme, a path outside its
  directory) is :class:`InvalidLocation`, never read or deleted.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

IMAGE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


@dataclass(frozen=True)
class Stored:
    """Where :meth:`ImageStore.add` put an image's bytes, and how many there were."""

    location: str  # opaque URL this store understands later: swift://images/<id>, file:///...
    size: int


class StoreError(Exception):
    """The store is unreachable or failed (the message is safe to show a user)."""


class NotFound(StoreError):
    """Nothing is stored at the location."""


class StoreFull(StoreError):
    """The store is out of space."""


class AlreadyExists(StoreError):
    """``add`` of an image id that already holds data."""


class InvalidLocation(StoreError):
    """A location this store does not own (another scheme, a path outside it)."""


def check_image_id(image_id: str) -> str:
    if not IMAGE_ID_RE.fullmatch(image_id):
        raise StoreError(f"invalid image id {image_id!r}")
    return image_id


def check_range(offset: int, length: int | None) -> None:
    if offset < 0 or (length is not None and length < 0):
        raise ValueError(f"invalid byte range: offset {offset}, length {length}")


class ByteStream(AsyncIterator[bytes]):
    """The bytes of one ``get``: an async iterator that releases what it holds
    (an HTTP response, a file) when it ends, fails, or is closed."""

    def __init__(self, chunks: AsyncIterator[bytes],
                 release: Callable[[], Awaitable[None]] | None = None) -> None:
        self._chunks = chunks
        self._release = release
        self._closed = False

    def __aiter__(self) -> ByteStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise StopAsyncIteration
        try:
            while True:
                chunk = await self._chunks.__anext__()
                if chunk:
                    return chunk
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            inner_close = getattr(self._chunks, "aclose", None)
            if inner_close is not None:
                await inner_close()
        finally:
            if self._release is not None:
                await self._release()

    async def __aenter__(self) -> ByteStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def read_all(self) -> bytes:
        """Everything left (for tests and small objects only)."""
        out = bytearray()
        async for chunk in self:
            out += chunk
        return bytes(out)


class ImageStore(Protocol):
    id: str  # "swift", "file" or "memory": what /v2/info/stores lists
    description: str
    @property
    def local_files(self) -> bool:
        """Whether ``local_path`` names a file on this host for a location."""
        ...

    def local_path(self, location: str) -> Path | None:
        """The local file holding the data at ``location`` (None unless ``local_files``)."""
        ...

    async def add(self, image_id: str, chunks: AsyncIterator[bytes]) -> Stored:
        """Store the bytes ``chunks`` yields as ``image_id`` (see the module's contract)."""
        ...

    async def get(self, location: str, offset: int = 0,
                  length: int | None = None) -> ByteStream:
        """Bytes ``[offset, offset + length)`` of the data at ``location``; NotFound if gone."""
        ...

    async def delete(self, location: str) -> None:
        """Remove the data at ``location``; a missing one is fine."""
        ...

    async def close(self) -> None:
        ...
