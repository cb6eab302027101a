"""The in-memory reference store: the contract in its simplest form.

For unit tests (of the contract, and of the image API without an object
store). ``capacity`` bounds the bytes held, so :class:`StoreFull` can be
tested; an image is visible only once ``add`` has consumed all of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from imagestore.stores.base import (
    IMAGE_ID_RE,
    AlreadyExists,
    ByteStream,
    InvalidLocation,
    NotFound,
    Stored,
    StoreFull,
    check_image_id,
    check_range,
)

SCHEME = "memory://"
READ_CHUNK = 65536


class MemoryStore:
    id = "memory"
    description = "In-memory store (tests only)"
    local_files = False

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.objects: dict[str, bytes] = {}
        self._pending: dict[str, int] = {}  # bytes of uploads in progress, for capacity

    def used(self) -> int:
        return sum(map(len, self.objects.values())) + sum(self._pending.values())

    async def add(self, image_id: str, chunks: AsyncIterator[bytes]) -> Stored:
        check_image_id(image_id)
        if image_id in self.objects or image_id in self._pending:
            raise AlreadyExists(f"image {image_id} already has data")
        data = bytearray()
        self._pending[image_id] = 0
        try:
            async for chunk in chunks:
                if self.capacity is not None and self.used() + len(chunk) > self.capacity:
                    raise StoreFull("the memory store is full")
                data += chunk
                self._pending[image_id] = len(data)
        finally:
            del self._pending[image_id]
        self.objects[image_id] = bytes(data)
        return Stored(SCHEME + image_id, len(data))

    def _key(self, location: str) -> str:
        key = location.removeprefix(SCHEME)
        if not location.startswith(SCHEME) or not IMAGE_ID_RE.fullmatch(key):
            raise InvalidLocation("not a location of the memory store")
        return key

    async def get(self, location: str, offset: int = 0,
                  length: int | None = None) -> ByteStream:
        check_range(offset, length)
        try:
            data = self.objects[self._key(location)]
        except KeyError:
            raise NotFound("image data not found") from None
        end = len(data) if length is None else min(len(data), offset + length)

        async def chunks() -> AsyncIterator[bytes]:
            for pos in range(offset, end, READ_CHUNK):
                yield data[pos:min(end, pos + READ_CHUNK)]

        return ByteStream(chunks())

    async def delete(self, location: str) -> None:
        self.objects.pop(self._key(location), None)

    def local_path(self, location: str) -> Path | None:
        return None

    async def close(self) -> None:
        pass
