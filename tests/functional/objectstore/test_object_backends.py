"""The object backend contract (objectstore/diskfile.py ``ObjectBackend``), one suite
run against every implementation: ``DiskBackend`` (a real directory: files,
xattrs, fsync, rename) and ``MemoryBackend`` (the in-memory reference).

The contract: a writer's bytes become an object's version only at ``commit``;
the newest timestamp wins whatever order writes arrive in (data, POST metadata
and tombstones alike, a tombstone winning a tie with data); a POST's metadata
replaces the user metadata and the headers a POST may change, and applies only
to older data (even when it arrives first); ``quarantine`` takes one object out
of service; objects on other devices, partitions or hashes never interfere.

Then what only the disk backend has: its files, as replication lists them
(objectstore/hashes.py), always agree with the state it answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.timestamp import normalize
from objectstore import hashes
from objectstore.diskfile import (
    DiskBackend,
    DiskFileError,
    MemoryBackend,
    ObjectBackend,
    ObjectState,
    hash_dir,
)

KINDS = ["memory", "disk"]
DEV, PART = "d1", "7"
H = "0123456789abcdef0123456789abc" + "def"
OTHER = "fedcba9876543210fedcba9876543" + "210"


def ts(n: float) -> str:
    return normalize(1_700_000_000 + n)


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectBackend:
    if request.param == "memory":
        return MemoryBackend()
    for dev in ("d1", "d2"):
        (tmp_path / dev).mkdir()
    return DiskBackend(tmp_path)


def put(b: ObjectBackend, data: bytes, n: float, meta: dict[str, Any] | None = None, *,
        device: str = DEV, part: str = PART, obj_hash: str = H,
        chunks: tuple[int, ...] = (1, 7, 4096, 65536)) -> str:
    """Write ``data`` in chunks of irregular sizes and commit it at ``ts(n)``."""
    writer = b.writer(device)
    pos, i = 0, 0
    while pos < len(data):
        size = chunks[i % len(chunks)]
        writer.write(data[pos:pos + size])
        pos, i = pos + size, i + 1
    metadata = {"name": "/a/c/o", "X-Timestamp": ts(n), "Content-Length": str(len(data)),
                "ETag": writer.etag, "Content-Type": "application/octet-stream",
                **(meta or {})}
    b.commit(writer, device, part, obj_hash, ts(n), metadata)
    return writer.etag


def post(b: ObjectBackend, n: float, meta: dict[str, Any], obj_hash: str = H) -> None:
    b.write_meta(DEV, PART, obj_hash, ts(n), {"X-Timestamp": ts(n), **meta})


def delete(b: ObjectBackend, n: float, obj_hash: str = H) -> None:
    b.write_tombstone(DEV, PART, obj_hash, ts(n), {"name": "/a/c/o", "X-Timestamp": ts(n)})


def state(b: ObjectBackend, obj_hash: str = H, device: str = DEV,
          part: str = PART) -> ObjectState:
    return b.state(device, part, obj_hash)


def read(b: ObjectBackend, st: ObjectState) -> bytes:
    with b.open(st) as f:
        return f.read()


def body(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 7919 + size).randbytes(size)


def test_a_missing_object_has_an_empty_state(backend: ObjectBackend) -> None:
    st = state(backend)
    assert not st.exists
    assert (st.data_timestamp, st.meta_timestamp, st.tombstone_timestamp) == (None, None, None)
    assert st.newest is None and st.metadata == {} and st.length == 0
    with pytest.raises(DiskFileError):
        backend.open(st)


@pytest.mark.parametrize("size", [0, 1, 65537, 9 << 20])  # 9 MiB: past the writeback step
def test_written_bytes_and_metadata_read_back(backend: ObjectBackend, size: int) -> None:
    data = body(size)
    meta = {"X-Object-Meta-Colour": "vert émeraude", "X-Object-Sysmeta-Slo-Size": "12",
            "Content-Type": "text/plain", "X-Delete-At": "1900000000"}
    etag = put(backend, data, 1, meta)
    assert etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
    st = state(backend)
    assert st.exists and st.data_timestamp == ts(1) and st.newest == ts(1)
    assert st.meta_timestamp is None and st.tombstone_timestamp is None
    assert (st.length, st.etag) == (size, etag)
    assert {k: st.metadata[k] for k in meta} == meta
    assert st.metadata["name"] == "/a/c/o" and st.metadata["X-Timestamp"] == ts(1)
    assert read(backend, st) == data


def test_a_writer_counts_what_it_was_given(backend: ObjectBackend) -> None:
    writer = backend.writer(DEV)
    for chunk in (b"", b"a", b"bc", b"", b"def"):
        writer.write(chunk)
    assert writer.length == 6
    assert writer.etag == hashlib.md5(b"abcdef", usedforsecurity=False).hexdigest()
    writer.abort()


def test_an_aborted_writer_leaves_nothing(backend: ObjectBackend, tmp_path: Path) -> None:
    writer = backend.writer(DEV)
    writer.write(b"half an upload")
    writer.abort()
    assert not state(backend).exists
    if isinstance(backend, DiskBackend):
        assert list((tmp_path / DEV / "tmp").iterdir()) == []
        assert not (tmp_path / DEV / "objects").exists()


@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_the_newest_data_wins_in_any_order(backend: ObjectBackend,
                                           order: tuple[int, int]) -> None:
    for n in order:
        put(backend, f"version {n}".encode(), n)
    st = state(backend)
    assert st.data_timestamp == ts(2)
    assert read(backend, st) == b"version 2"


def test_the_same_timestamp_again_replaces_the_version(backend: ObjectBackend) -> None:
    put(backend, b"first", 1)
    put(backend, b"second", 1)
    st = state(backend)
    assert st.data_timestamp == ts(1) and read(backend, st) == b"second"


def test_a_post_replaces_user_metadata_and_keeps_the_rest(backend: ObjectBackend) -> None:
    etag = put(backend, b"data", 1, {"X-Object-Meta-Old": "1", "X-Object-Sysmeta-Kept": "s",
                                     "Content-Encoding": "gzip", "Content-Type": "a/b"})
    post(backend, 2, {"X-Object-Meta-New": "2", "Content-Type": "c/d",
                      "Cache-Control": "no-cache", "X-Object-Sysmeta-Ignored": "x"})
    st = state(backend)
    assert (st.data_timestamp, st.meta_timestamp, st.newest) == (ts(1), ts(2), ts(2))
    meta = st.metadata
    assert "X-Object-Meta-Old" not in meta and meta["X-Object-Meta-New"] == "2"
    assert "Content-Encoding" not in meta and meta["Cache-Control"] == "no-cache"
    assert meta["Content-Type"] == "c/d"
    assert meta["X-Object-Sysmeta-Kept"] == "s" and "X-Object-Sysmeta-Ignored" not in meta
    assert (meta["ETag"], meta["Content-Length"]) == (etag, "4")
    assert read(backend, st) == b"data"
    # a second, newer POST replaces the first one's metadata in turn
    post(backend, 3, {"X-Object-Meta-Third": "3"})
    meta = state(backend).metadata
    assert meta["X-Object-Meta-Third"] == "3" and "X-Object-Meta-New" not in meta
    assert meta["Content-Type"] == "a/b"  # this POST set none: the data's type again


def test_a_post_older_than_the_data_is_ignored(backend: ObjectBackend) -> None:
    put(backend, b"data", 2, {"X-Object-Meta-A": "data"})
    for n in (1, 2):  # older, then as old as the data
        post(backend, n, {"X-Object-Meta-A": "post"})
        st = state(backend)
        assert st.meta_timestamp is None and st.metadata["X-Object-Meta-A"] == "data"


def test_newer_data_drops_an_older_post_only(backend: ObjectBackend) -> None:
    put(backend, b"one", 1)
    post(backend, 3, {"X-Object-Meta-A": "post"})
    put(backend, b"two", 2)  # newer data, still older than the POST
    st = state(backend)
    assert (st.data_timestamp, st.meta_timestamp) == (ts(2), ts(3))
    assert st.metadata["X-Object-Meta-A"] == "post" and read(backend, st) == b"two"
    put(backend, b"three", 4)  # newer than the POST: the POST is gone
    st = state(backend)
    assert (st.data_timestamp, st.meta_timestamp) == (ts(4), None)
    assert "X-Object-Meta-A" not in st.metadata


def test_a_post_that_arrives_before_its_data_applies_to_it(backend: ObjectBackend) -> None:
    """Replication may deliver a newer POST before the data it modifies."""
    post(backend, 3, {"X-Object-Meta-A": "post"})
    assert not state(backend).exists and state(backend).newest is None
    put(backend, b"data", 1, {"X-Object-Meta-A": "data"})
    st = state(backend)
    assert (st.data_timestamp, st.meta_timestamp) == (ts(1), ts(3))
    assert st.metadata["X-Object-Meta-A"] == "post"


def test_a_newer_tombstone_deletes(backend: ObjectBackend) -> None:
    put(backend, b"data", 1)
    post(backend, 2, {"X-Object-Meta-A": "b"})
    delete(backend, 3)
    st = state(backend)
    assert not st.exists and st.tombstone_timestamp == ts(3) and st.newest == ts(3)
    assert (st.data_timestamp, st.meta_timestamp) == (None, None)
    assert st.metadata == {"name": "/a/c/o", "X-Timestamp": ts(3)}
    with pytest.raises(DiskFileError):
        backend.open(st)


def test_a_tombstone_wins_a_tie_and_loses_to_newer_data(backend: ObjectBackend) -> None:
    put(backend, b"data", 2)
    delete(backend, 1)  # older: ignored
    st = state(backend)
    assert st.exists and st.tombstone_timestamp is None and read(backend, st) == b"data"
    delete(backend, 2)  # as new as the data: deleted
    assert not state(backend).exists and state(backend).tombstone_timestamp == ts(2)
    put(backend, b"stale", 1)  # older than the tombstone: stays deleted
    post(backend, 4, {"X-Object-Meta-A": "b"})  # nothing to modify
    st = state(backend)
    assert not st.exists and st.tombstone_timestamp == ts(2) and st.meta_timestamp is None
    put(backend, b"back", 3)  # newer than the tombstone: the object is back
    st = state(backend)
    assert st.exists and st.tombstone_timestamp is None and read(backend, st) == b"back"
    assert st.meta_timestamp is None  # the POST at 4 went with the tombstone


def test_quarantine_takes_out_one_object(backend: ObjectBackend) -> None:
    put(backend, b"bad", 1)
    post(backend, 2, {"X-Object-Meta-A": "b"})
    put(backend, b"good", 1, obj_hash=OTHER)
    backend.quarantine(DEV, PART, H)
    st = state(backend)
    assert not st.exists and st.newest is None
    assert read(backend, state(backend, OTHER)) == b"good"
    backend.quarantine(DEV, PART, H)  # already gone: nothing to do
    put(backend, b"rebuilt", 3)  # replication brings it back
    assert read(backend, state(backend)) == b"rebuilt"


def test_devices_partitions_and_hashes_are_apart(backend: ObjectBackend) -> None:
    put(backend, b"d1", 1)
    put(backend, b"d2", 2, device="d2")
    put(backend, b"p8", 3, part="8")
    put(backend, b"other", 4, obj_hash=OTHER)
    delete(backend, 5)
    assert not state(backend).exists
    assert read(backend, state(backend, device="d2")) == b"d2"
    assert read(backend, state(backend, part="8")) == b"p8"
    assert read(backend, state(backend, OTHER)) == b"other"


def test_concurrent_writers_leave_the_newest(backend: ObjectBackend) -> None:
    """Servers call a backend from a thread pool: writes to one object race."""
    stamps = list(range(1, 17))
    random.Random(3).shuffle(stamps)
    errors: list[BaseException] = []

    def write(n: int) -> Callable[[], None]:
        def run() -> None:
            try:
                put(backend, f"version {n}".encode() * 1000, n)
                if n % 4 == 0:
                    post(backend, n + 0.5, {"X-Object-Meta-N": str(n)})
            except BaseException as exc:
                errors.append(exc)
        return run

    threads = [threading.Thread(target=write(n)) for n in stamps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    st = state(backend)
    assert st.data_timestamp == ts(16) and st.meta_timestamp == ts(16.5)
    assert read(backend, st) == b"version 16" * 1000
    assert st.metadata["X-Object-Meta-N"] == "16"


# -- the disk backend's files, as replication lists them ---------------------------------


def kept(b: DiskBackend) -> list[str]:
    """The files of the object that replication sees (hashes.list_suffix)."""
    suffix_dir = hash_dir(b.devices / DEV, PART, H).parent
    return hashes.list_suffix(suffix_dir).get(H, [])


@pytest.mark.parametrize("steps, files", [
    ([("put", 1)], [".data@1"]),
    ([("put", 1), ("put", 2)], [".data@2"]),
    ([("put", 1), ("post", 2)], [".data@1", ".meta@2"]),
    ([("put", 1), ("post", 2), ("put", 3)], [".data@3"]),
    ([("put", 2), ("post", 1)], [".data@2"]),
    ([("post", 3), ("put", 1)], [".data@1", ".meta@3"]),
    ([("put", 1), ("post", 2), ("delete", 3)], [".ts@3"]),
    ([("delete", 3), ("put", 2), ("post", 4)], [".ts@3"]),
    ([("put", 2), ("delete", 1)], [".data@2"]),
    ([("put", 2), ("delete", 2)], [".ts@2"]),
])
def test_disk_files_agree_with_the_state(tmp_path: Path, steps: list[tuple[str, int]],
                                         files: list[str]) -> None:
    (tmp_path / DEV).mkdir()
    disk, memory = DiskBackend(tmp_path), MemoryBackend()
    for b in (disk, memory):
        for op, n in steps:
            if op == "put":
                put(b, b"x", n)
            elif op == "post":
                post(b, n, {})
            else:
                delete(b, n)
    expected = sorted(f"{ts(float(f.split('@')[1]))}{f.split('@')[0]}" for f in files)
    assert kept(disk) == expected
    # and the disk answers as the reference does
    d, m = state(disk), state(memory)
    assert (d.data_timestamp, d.meta_timestamp, d.tombstone_timestamp) == (
        m.data_timestamp, m.meta_timestamp, m.tombstone_timestamp)
    assert d.metadata == m.metadata


# --- the event-loop API: put_small / delete_small / read_cached ----------------------


class Syncs:
    """A ``Sync`` that fsyncs on a worker thread as a node's does, then runs what
    follows there, and records what it was given (or fails on its ``fail_at``-th
    call)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[list[int]] = []
        self.thens: list[bool] = []
        self.fail_at = fail_at

    async def __call__(self, fds: list[int], then: Callable[[], None] | None) -> None:
        self.calls.append(list(fds))
        self.thens.append(then is not None)
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise OSError(5, "Input/output error (an fsync that failed)")

        def work() -> None:
            for fd in fds:
                os.fsync(fd)
            if then is not None:
                then()

        await asyncio.to_thread(work)


def meta_for(data: bytes, n: float) -> dict[str, Any]:
    return {"name": "/a/c/o", "X-Timestamp": ts(n), "Content-Length": str(len(data)),
            "ETag": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "Content-Type": "application/octet-stream"}


def test_put_small_and_delete_small_keep_the_contract(backend: ObjectBackend) -> None:
    data = body(4096)
    syncs = Syncs()
    asyncio.run(backend.put_small(DEV, PART, H, ts(2), data, meta_for(data, 2), syncs))
    st = state(backend)
    assert st.exists and st.data_timestamp == ts(2) and read(backend, st) == data
    asyncio.run(backend.put_small(DEV, PART, H, ts(1), b"old", meta_for(b"old", 1), syncs))
    assert read(backend, state(backend)) == data  # the newest still wins
    cached = backend.read_cached(state(backend))
    assert cached in (None, data)  # a store may always say "read it on a thread"
    asyncio.run(backend.delete_small(DEV, PART, H, ts(3),
                                     {"name": "/a/c/o", "X-Timestamp": ts(3)}, syncs))
    st = state(backend)
    assert not st.exists and st.tombstone_timestamp == ts(3)
    if isinstance(backend, DiskBackend):
        # the file before its rename, then the hash directory and the parent of each
        # directory the write created (hash, suffix, partition, objects/): nothing
        # is acknowledged before its entry is on disk
        assert [len(c) for c in syncs.calls[:2]] == [1, 5]
        assert [len(c) for c in syncs.calls[2:]] == [1, 1, 1, 1]
        # removing what a write made obsolete goes with its last fsyncs to the
        # worker, never onto the loop; the first write, into a new directory, has
        # nothing to remove and sends the worker only its fsyncs
        assert syncs.thens == [False, False, False, True, False, True]
        names = sorted(os.listdir(hash_dir(backend.devices / DEV, PART, H)))
        assert names == [f"{ts(3)}.ts"]  # the older .data went, after the fsyncs


def test_a_failed_fsync_leaves_nothing_half_made(tmp_path: Path) -> None:
    (tmp_path / DEV).mkdir()
    b = DiskBackend(tmp_path)
    for fail_at in (1, 2):
        with pytest.raises(OSError):
            asyncio.run(b.put_small(DEV, PART, H, ts(fail_at), b"x" * 10,
                                    meta_for(b"x" * 10, fail_at), Syncs(fail_at)))
        assert list((tmp_path / DEV / "tmp").iterdir()) == []  # no temp file left
    # the first failure placed nothing; the second failed after the rename, so the
    # write is not acknowledged but its file may stand (as a crash there leaves it)
    st = state(b)
    assert st.data_timestamp in (None, ts(2))
    with pytest.raises(OSError):
        asyncio.run(b.delete_small(DEV, PART, OTHER, ts(5), {"X-Timestamp": ts(5)},
                                   Syncs(1)))
    assert list((tmp_path / DEV / "tmp").iterdir()) == []
    assert state(b, OTHER).tombstone_timestamp is None
    # every descriptor the steps opened was closed, whatever failed
    assert len(os.listdir(f"/proc/{os.getpid()}/fd")) < 64


def test_read_cached_reads_only_what_the_page_cache_holds(tmp_path: Path) -> None:
    (tmp_path / DEV).mkdir()
    b = DiskBackend(tmp_path)
    data = body(8192, 3)
    asyncio.run(b.put_small(DEV, PART, H, ts(1), data, meta_for(data, 1), Syncs()))
    st = state(b)
    assert b.read_cached(st) == data  # just written: in the page cache
    assert st.data_path is not None
    fd = os.open(st.data_path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # drop it (clean pages go)
    finally:
        os.close(fd)
    assert b.read_cached(st) is None  # would wait for the disk: the caller uses a thread
    st.metadata["Content-Length"] = str(len(data) + 1)  # the file is shorter than it says
    assert b.read_cached(st) is None
