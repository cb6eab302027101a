"""Suffix hashes, their invalidation, and which files a peer misses."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from common import timestamp as tsmod
from objectstore import hashes
from objectstore.diskfile import HASHES_INVALID, DiskBackend
from rings.hashing import hash_path

PREFIX, SUFFIX = b"p", b"s"
DEV, PART = "d1", "7"
KEEP_TOMBSTONES = 100 * 365 * 86400.0  # a reclaim age the 2023 timestamps here are within


def ts(n: float) -> str:
    return tsmod.normalize(1_700_000_000 + n)


def obj_hash(name: str) -> str:
    a, c, o = name.split("/", 2)
    return hash_path(a, c, o, hash_prefix=PREFIX, hash_suffix=SUFFIX)


def put(backend: DiskBackend, name: str, body: bytes, stamp: str, device: str = DEV,
        part: str = PART) -> str:
    h = obj_hash(name)
    w = backend.writer(device)
    w.write(body)
    backend.commit(w, device, part, h, stamp, {
        "name": f"/{name}", "X-Timestamp": stamp, "Content-Type": "text/plain",
        "Content-Length": str(len(body)), "ETag": hashlib.md5(body).hexdigest()})
    return h


@pytest.fixture
def backend(tmp_path: Path) -> DiskBackend:
    for dev in ("d1", "d2"):
        (tmp_path / dev).mkdir()
    return DiskBackend(tmp_path)


def part_dir(backend: DiskBackend, device: str = DEV) -> Path:
    return backend.devices / device / "objects" / PART


def test_hashes_are_cached_and_equal_for_equal_replicas(backend: DiskBackend) -> None:
    names = [f"a/c/o{i}" for i in range(20)]
    for name in names:
        put(backend, name, name.encode(), ts(1), "d1")
        put(backend, name, name.encode(), ts(1), "d2")
    h1 = hashes.get_hashes(part_dir(backend, "d1"))
    h2 = hashes.get_hashes(part_dir(backend, "d2"))
    assert h1 == h2
    assert set(h1) == {obj_hash(n)[-3:] for n in names}
    doc = json.loads((part_dir(backend) / hashes.HASHES_FILE).read_text())
    assert doc["v"] == hashes.HASHES_VERSION and doc["hashes"] == h1
    # nothing dirty: the cached answer comes back unchanged
    assert hashes.get_hashes(part_dir(backend)) == h1


def test_every_kind_of_write_invalidates_its_suffix(backend: DiskBackend) -> None:
    h = put(backend, "a/c/o", b"one", ts(1))
    other = put(backend, "a/c/other", b"x", ts(1))
    pd = part_dir(backend)
    before = hashes.get_hashes(pd)
    assert (pd / HASHES_INVALID).read_text() == ""  # consumed
    steps = [
        lambda: put(backend, "a/c/o", b"two", ts(2)),
        lambda: backend.write_meta(DEV, PART, h, ts(3), {"X-Timestamp": ts(3)}),
        lambda: backend.write_tombstone(DEV, PART, h, ts(4), {"name": "/a/c/o"}),
        lambda: backend.quarantine(DEV, PART, h),
    ]
    for step in steps:
        step()
        assert h[-3:] in (pd / HASHES_INVALID).read_text().split()
        after = hashes.get_hashes(pd, reclaim_age=KEEP_TOMBSTONES)
        if other[-3:] != h[-3:]:
            assert after[other[-3:]] == before[other[-3:]]
        assert after.get(h[-3:]) != before.get(h[-3:])
        before = after
    assert h[-3:] not in before or other[-3:] == h[-3:]  # quarantined: suffix empty


def test_stale_cache_is_fixed_by_recalculate_or_age(backend: DiskBackend) -> None:
    h = put(backend, "a/c/o", b"one", ts(1))
    pd = part_dir(backend)
    first = hashes.get_hashes(pd, now=1000.0)
    # a change behind the cache's back (no invalidation)
    hdir = pd / h[-3:] / h
    os.rename(hdir / f"{ts(1)}.data", hdir / f"{ts(5)}.data")
    assert hashes.get_hashes(pd, now=1001.0) == first
    assert hashes.get_hashes(pd, [h[-3:]], now=1002.0) != first
    os.rename(hdir / f"{ts(5)}.data", hdir / f"{ts(6)}.data")
    stale = hashes.get_hashes(pd, now=1003.0)
    fresh = hashes.get_hashes(pd, max_age=10, now=1100.0)
    assert fresh != stale


def test_bad_cache_file_is_rebuilt(backend: DiskBackend) -> None:
    put(backend, "a/c/o", b"one", ts(1))
    pd = part_dir(backend)
    good = hashes.get_hashes(pd)
    for junk in (b"{not json", json.dumps({"v": 99, "hashes": {}}).encode()):
        (pd / hashes.HASHES_FILE).write_bytes(junk)
        assert hashes.get_hashes(pd) == good


def test_hashing_cleans_obsolete_files_and_empty_dirs(backend: DiskBackend) -> None:
    h = put(backend, "a/c/o", b"one", ts(2))
    pd = part_dir(backend)
    hdir = pd / h[-3:] / h
    (hdir / f"{ts(1)}.data").write_bytes(b"old")  # left behind by a crash
    (hdir / f"{ts(1)}.meta").write_bytes(b"")
    hashes.get_hashes(pd, [h[-3:]])
    assert sorted(os.listdir(hdir)) == [f"{ts(2)}.data"]
    empty = pd / "abc" / ("0" * 29 + "abc")
    empty.mkdir(parents=True)
    assert "abc" not in hashes.get_hashes(pd, ["abc"])
    assert empty.is_dir()  # just made: a writer may be about to use it
    old = time.time() - hashes.EMPTY_DIR_GRACE - 1
    os.utime(empty, (old, old))
    assert "abc" not in hashes.get_hashes(pd, ["abc"])
    assert not empty.exists() and (pd / "abc").is_dir()  # its parent just changed
    os.utime(pd / "abc", (old, old))
    assert "abc" not in hashes.get_hashes(pd, ["abc"])
    assert not (pd / "abc").exists()
    assert hashes.get_hashes(part_dir(backend, "d2")) == {}  # no partition at all


def test_listing_and_removal(backend: DiskBackend) -> None:
    h = put(backend, "a/c/o", b"one", ts(1))
    backend.write_meta(DEV, PART, h, ts(2), {"X-Timestamp": ts(2)})
    pd = part_dir(backend)
    listing = hashes.list_partition(pd)
    assert listing == {h[-3:]: {h: [f"{ts(1)}.data", f"{ts(2)}.meta"]}}
    assert hashes.list_suffix(pd / h[-3:]) == listing[h[-3:]]
    # a file that arrives after the listing survives the removal
    h2 = put(backend, "a/c/new", b"new", ts(3))
    assert hashes.remove_files(pd, listing) == 2
    assert hashes.list_partition(pd) == {h2[-3:]: {h2: [f"{ts(3)}.data"]}}
    assert hashes.remove_files(pd, hashes.list_partition(pd)) == 1
    assert not pd.exists()


D1, D2, D3 = f"{ts(1)}.data", f"{ts(2)}.data", f"{ts(3)}.data"
M2, M3, M4 = f"{ts(2)}.meta", f"{ts(3)}.meta", f"{ts(4)}.meta"
T2, T3 = f"{ts(2)}.ts", f"{ts(3)}.ts"


@pytest.mark.parametrize(("local", "remote", "expected"), [
    ([D1], [], [D1]),  # peer has nothing
    ([D1], [D1], []),  # in sync
    ([D2], [D1], [D2]),  # newer data wins
    ([D1], [D2], []),  # older data is never sent
    ([T2], [D1], [T2]),  # a newer delete reaches the peer
    ([D1], [T2], []),  # a newer tombstone on the peer: no resurrection
    ([D3], [T2], [D3]),  # data newer than the peer's tombstone
    ([T3], [], [T3]),  # tombstones travel too
    ([D1, M2], [], [D1, M2]),  # data first, then its metadata
    ([D1, M2], [D1], [M2]),  # only the metadata is missing
    ([D1, M3], [D2], [M3]),  # newer metadata applies on the peer's newer data
    ([D1, M2], [D3], []),  # metadata older than the peer's data is useless
    ([D1, M4], [T3], []),  # a POST never revives a deleted object
    ([D1, M2], [D1, M3], []),  # the peer's metadata is newer
    ([D2, M3], [D1, M4], [D2]),  # newer data; the peer keeps its newer metadata
])
def test_missing_files(local: list[str], remote: list[str], expected: list[str]) -> None:
    assert hashes.missing_files(local, remote) == expected


def test_valid_file_names() -> None:
    assert hashes.valid_file_name(D1) and hashes.valid_file_name(T2)
    assert hashes.valid_file_name(f"{ts(1)}_0000000000000001.meta")
    for bad in ("x.data", ".data", f"{ts(1)}.tmp", "../x.data", f"{ts(1)}", "1/2.data"):
        assert not hashes.valid_file_name(bad), bad


def test_tombstones_older_than_reclaim_age_are_removed(backend: DiskBackend) -> None:
    old = put(backend, "a/c/old", b"x", ts(1))
    backend.write_tombstone(DEV, PART, old, ts(2), {"name": "/a/c/old", "X-Timestamp": ts(2)})
    young = put(backend, "a/c/young", b"y", ts(1))
    backend.write_tombstone(DEV, PART, young, ts(500),
                            {"name": "/a/c/young", "X-Timestamp": ts(500)})
    live = put(backend, "a/c/live", b"z", ts(3))
    pd = part_dir(backend)
    now = 1_700_000_000 + 1000.0
    before = hashes.get_hashes(pd, now=now, reclaim_age=10_000)  # nothing is old enough yet
    old_dir = pd / old[-3:] / old
    assert os.listdir(old_dir) == [f"{ts(2)}.ts"]

    # With a reclaim age of 600 s, the tombstone from t=2 is 998 s old: gone;
    # the one from t=500 (500 s old) stays, as does the live object.
    listing = hashes.list_partition(pd, reclaim_before=now - 600)
    assert old not in listing.get(old[-3:], {})
    assert listing[young[-3:]][young] == [f"{ts(500)}.ts"]
    after = hashes.get_hashes(pd, [old[-3:]], now=now, reclaim_age=600)
    assert not old_dir.exists() or os.listdir(old_dir) == []
    assert os.listdir(pd / young[-3:] / young) == [f"{ts(500)}.ts"]
    assert backend.state(DEV, PART, live).data_timestamp == ts(3)
    if old[-3:] not in (young[-3:], live[-3:]):
        assert old[-3:] not in after
    assert after != before or old[-3:] in (young[-3:], live[-3:])


def test_a_reclaimed_tombstone_is_not_sent_to_peers(backend: DiskBackend) -> None:
    h = put(backend, "a/c/gone", b"x", ts(1))
    backend.write_tombstone(DEV, PART, h, ts(2), {"name": "/a/c/gone", "X-Timestamp": ts(2)})
    sd = part_dir(backend) / h[-3:]
    assert hashes.list_suffix(sd) == {h: [f"{ts(2)}.ts"]}
    assert hashes.list_suffix(sd, reclaim_before=float(ts(3))) == {}
    assert hashes.list_suffix(sd, reclaim_before=float(ts(1))) == {h: [f"{ts(2)}.ts"]}
