"""The in-memory reference store and the contract's shared pieces (imagestore/stores/base.py).

The contract suite itself runs against every store, this one included, in
tests/functional/imagestore/test_stores.py; here is what only the reference
store has (a capacity, uploads invisible until complete) and ByteStream.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from imagestore.stores.base import (
    AlreadyExists,
    ByteStream,
    ImageStore,
    InvalidLocation,
    NotFound,
    Stored,
    StoreError,
    StoreFull,
    check_image_id,
)
from imagestore.stores.memory import MemoryStore


async def chunks(*parts: bytes, gate: asyncio.Event | None = None,
                 reached: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    for n, part in enumerate(parts):
        if gate is not None and n == len(parts) - 1:
            assert reached is not None
            reached.set()
            await gate.wait()
        yield part


async def test_round_trip_and_location() -> None:
    store: ImageStore = MemoryStore()
    stored = await store.add("img-1", chunks(b"abc", b"", b"defg"))
    assert stored == Stored("memory://img-1", 7)
    assert await (await store.get(stored.location)).read_all() == b"abcdefg"
    assert await (await store.get(stored.location, 2, 3)).read_all() == b"cde"
    assert await (await store.get(stored.location, 5)).read_all() == b"fg"
    assert await (await store.get(stored.location, 7)).read_all() == b""
    with pytest.raises(dataclasses.FrozenInstanceError):
        stored.size = 8  # type: ignore[misc]


async def test_capacity_is_store_full_and_frees_the_partial_upload() -> None:
    store = MemoryStore(capacity=10)
    await store.add("a", chunks(b"12345"))
    with pytest.raises(StoreFull, match="full"):
        await store.add("b", chunks(b"123", b"456"))
    assert set(store.objects) == {"a"} and store.used() == 5
    stored = await store.add("b", chunks(b"12345"))  # exactly full is fine
    assert stored.size == 5 and store.used() == 10


async def test_upload_is_invisible_until_complete() -> None:
    store = MemoryStore()
    gate, reached = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(store.add("img", chunks(b"part", b"rest",
                                                         gate=gate, reached=reached)))
    await reached.wait()
    with pytest.raises(NotFound):
        await store.get("memory://img")
    with pytest.raises(AlreadyExists):  # the id is taken while its upload runs
        await store.add("img", chunks(b"other"))
    gate.set()
    assert (await task).size == 8
    assert await (await store.get("memory://img")).read_all() == b"partrest"


async def test_failing_iterator_is_re_raised_and_nothing_kept() -> None:
    store = MemoryStore()

    async def failing() -> AsyncIterator[bytes]:
        yield b"some"
        raise ConnectionResetError("client gone")

    with pytest.raises(ConnectionResetError, match="client gone"):
        await store.add("img", failing())
    assert store.objects == {} and store.used() == 0
    with pytest.raises(NotFound):
        await store.get("memory://img")


async def test_bad_input_is_refused() -> None:
    store = MemoryStore()
    for bad in ("", "../x", "a/b", "-x", "x" * 256):
        with pytest.raises(StoreError, match="invalid image id"):
            await store.add(bad, chunks(b"data"))
        with pytest.raises(StoreError):
            check_image_id(bad)
    for location in ("memory://../x", "memory://", "file:///etc/passwd", "swift://images/x"):
        with pytest.raises(InvalidLocation):
            await store.get(location)
        with pytest.raises(InvalidLocation):
            await store.delete(location)
    await store.add("img", chunks(b"data"))
    for offset, length in ((-1, None), (0, -1)):
        with pytest.raises(ValueError, match="invalid byte range"):
            await store.get("memory://img", offset, length)
    assert store.objects == {"img": b"data"}


async def test_byte_stream_releases_once_on_close_end_and_error() -> None:
    released: list[str] = []

    def stream(*parts: bytes | Exception) -> ByteStream:
        async def gen() -> AsyncIterator[bytes]:
            for p in parts:
                if isinstance(p, Exception):
                    raise p
                yield p

        async def release() -> None:
            released.append("x")

        return ByteStream(gen(), release)

    # to the end: empty chunks skipped, released once
    s = stream(b"a", b"", b"b")
    assert [c async for c in s] == [b"a", b"b"]
    assert released == ["x"]
    await s.aclose()
    assert released == ["x"]
    # closed early (async with): released, then yields nothing
    released.clear()
    async with stream(b"a", b"b") as s:
        assert await s.__anext__() == b"a"
    assert released == ["x"]
    assert [c async for c in s] == []
    # the source failing: released, the error passed on
    released.clear()
    s = stream(b"a", OSError("disk"))
    with pytest.raises(OSError, match="disk"):
        await s.read_all()
    assert released == ["x"]
