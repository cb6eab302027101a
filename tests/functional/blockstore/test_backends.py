"""The volume backend contract (blockstore/backends/base.py), one suite run against
every backend: memory and file (a temporary directory; real qemu-img and
qemu-storage-daemon, volumes written and read through the raw file that
``export_path`` returns, as the iSCSI target does).

Then what only the file backend has: clones and snapshots that share the
unchanged data (measured in allocated blocks), chains flattened past the
depth limit (offline and while exported), recovery after a restart (a
running export found again, leftovers removed), and ``NoSpace`` on a full
filesystem (a small tmpfs; skipped when it cannot be mounted).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from blockstore.backends import (
    AlreadyExists,
    FileBackend,
    HasDependents,
    InUse,
    InvalidArgument,
    MemoryBackend,
    NoSpace,
    NotFound,
    VolumeBackend,
)
from blockstore.backends.base import GIB
from tests.functional.blockstore.conftest import KINDS, need_file_backend, release_all
from tests.imagecorpus import HOSTILE, Sample, build

MIB = 1 << 20


def pattern(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _pwrite(path: str, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def _pread(path: str, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


async def write(b: VolumeBackend, vid: str, offset: int, data: bytes) -> None:
    """Write through the export, as an iSCSI initiator would."""
    await asyncio.to_thread(_pwrite, await b.export_path(vid), offset, data)


async def read(b: VolumeBackend, vid: str, offset: int, size: int) -> bytes:
    return await asyncio.to_thread(_pread, await b.export_path(vid), offset, size)


async def export_size(b: VolumeBackend, vid: str, expect: int) -> int:
    """The export's size, waiting a little for FUSE's attribute cache to catch up."""
    path = await b.export_path(vid)
    for _ in range(60):
        size = os.stat(path).st_size
        if size == expect:
            break
        await asyncio.sleep(0.1)
    return size


def qemu_img(*args: str) -> str:
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True,
                          text=True).stdout


def make_image(path: Path, fmt: str, size: int, writes: list[tuple[int, bytes]]) -> None:
    """An image made with qemu-img holding ``writes``."""
    raw = path.with_suffix(".src.raw")
    qemu_img("create", "-q", "-f", "raw", str(raw), str(size))
    for offset, data in writes:
        _pwrite(str(raw), offset, data)
    if fmt == "raw":
        raw.rename(path)
    else:
        qemu_img("convert", "-q", "-f", "raw", "-O", fmt, str(raw), str(path))
        raw.unlink()


# -- the shared contract ----------------------------------------------------------


async def test_create_info_list(backend: VolumeBackend) -> None:
    assert isinstance(backend, VolumeBackend)
    info = await backend.create("vol-a", 1)
    assert (info.id, info.size_gib) == ("vol-a", 1)
    assert info.format in ("raw", "qcow2")
    assert await backend.info("vol-a") == info
    assert [v.id for v in await backend.list_volumes()] == ["vol-a"]
    assert await export_size(backend, "vol-a", GIB) == GIB
    assert await read(backend, "vol-a", GIB - 4096, 4096) == bytes(4096)
    with pytest.raises(AlreadyExists):
        await backend.create("vol-a", 2)
    with pytest.raises(NotFound):
        await backend.info("nope")
    with pytest.raises(NotFound):
        await backend.export_path("nope")
    with pytest.raises(NotFound):
        await backend.snapshot("s", "nope")
    with pytest.raises(NotFound):
        await backend.clone("c", "nope", 1)
    with pytest.raises(NotFound):
        await backend.create_from_snapshot("c", "nope", 1)
    with pytest.raises(NotFound):
        await backend.extend("nope", 3)
    stats = await backend.stats()
    assert set(stats) == {"total_bytes", "free_bytes", "provisioned_bytes"}
    assert stats["provisioned_bytes"] == GIB
    assert 0 <= stats["free_bytes"] <= stats["total_bytes"]


@pytest.mark.parametrize("size", [0, -1, 1.5, "2", True, None])
async def test_bad_sizes_refused(backend: VolumeBackend, size: object) -> None:
    with pytest.raises(InvalidArgument):
        await backend.create("vol-bad", size)  # type: ignore[arg-type]
    assert await backend.list_volumes() == []


@pytest.mark.parametrize("live", [False, True], ids=["offline", "exported"])
async def test_extend(backend: VolumeBackend, live: bool) -> None:
    await backend.create("vol-x", 1)
    data = pattern(1, 8192)
    await write(backend, "vol-x", GIB - 4096, data[:4096])
    if not live:
        await backend.release_export("vol-x")
    info = await backend.extend("vol-x", 3)
    assert info.size_gib == 3 and (await backend.info("vol-x")).size_gib == 3
    assert await export_size(backend, "vol-x", 3 * GIB) == 3 * GIB
    assert await read(backend, "vol-x", GIB - 4096, 4096) == data[:4096]
    assert await read(backend, "vol-x", 3 * GIB - 4096, 4096) == bytes(4096)
    await write(backend, "vol-x", 3 * GIB - 4096, data[4096:])
    assert await read(backend, "vol-x", 3 * GIB - 4096, 4096) == data[4096:]
    for bad in (3, 2, 0):
        with pytest.raises(InvalidArgument):
            await backend.extend("vol-x", bad)
    assert (await backend.info("vol-x")).size_gib == 3


@pytest.mark.parametrize("live", [False, True], ids=["offline", "exported"])
async def test_snapshot_keeps_old_data(backend: VolumeBackend, live: bool) -> None:
    await backend.create("vol-s", 1)
    old_a, old_b = pattern(2, 65536), pattern(3, 4096)
    await write(backend, "vol-s", 0, old_a)
    await write(backend, "vol-s", GIB - 4096, old_b)
    if not live:
        await backend.release_export("vol-s")
    snap = await backend.snapshot("snap-1", "vol-s")
    assert (snap.id, snap.volume_id, snap.size_gib) == ("snap-1", "vol-s", 1)
    assert await backend.snapshot_info("snap-1") == snap
    with pytest.raises(AlreadyExists):
        await backend.snapshot("snap-1", "vol-s")
    new_a = pattern(4, 65536)
    await write(backend, "vol-s", 0, new_a)
    await write(backend, "vol-s", GIB - 4096, bytes(4096))

    restored = await backend.create_from_snapshot("vol-r", "snap-1", 2)
    assert restored.size_gib == 2
    assert await read(backend, "vol-r", 0, 65536) == old_a
    assert await read(backend, "vol-r", GIB - 4096, 4096) == old_b
    assert await read(backend, "vol-r", 2 * GIB - 4096, 4096) == bytes(4096)
    assert await read(backend, "vol-s", 0, 65536) == new_a
    assert await read(backend, "vol-s", GIB - 4096, 4096) == bytes(4096)
    # The restored volume is a volume of its own: writing it changes neither.
    await write(backend, "vol-r", 0, pattern(5, 4096))
    again = await backend.create_from_snapshot("vol-r2", "snap-1", 1)
    assert await read(backend, again.id, 0, 65536) == old_a
    assert await read(backend, "vol-s", 0, 65536) == new_a
    with pytest.raises(InvalidArgument):  # smaller than the snapshot
        await backend.create_from_snapshot("vol-small", "snap-1", 0)


@pytest.mark.parametrize("live", [False, True], ids=["offline", "exported"])
async def test_clone_is_independent(backend: VolumeBackend, live: bool) -> None:
    await backend.create("vol-src", 1)
    base = pattern(6, 131072)
    await write(backend, "vol-src", 0, base)
    if not live:
        await backend.release_export("vol-src")
    clone = await backend.clone("vol-cl", "vol-src", 2)
    assert clone.size_gib == 2
    assert await read(backend, "vol-cl", 0, 131072) == base
    to_src, to_clone = pattern(7, 4096), pattern(8, 4096)
    await write(backend, "vol-src", 0, to_src)
    await write(backend, "vol-cl", 65536, to_clone)
    assert await read(backend, "vol-src", 0, 131072) == to_src + base[4096:]
    assert await read(backend, "vol-cl", 0, 131072) == (
        base[:65536] + to_clone + base[65536 + 4096:])
    with pytest.raises(InvalidArgument):
        await backend.clone("vol-cl2", "vol-cl", 1)  # smaller than the source
    with pytest.raises(AlreadyExists):
        await backend.clone("vol-cl", "vol-src", 1)
    # A clone outlives its source.
    await backend.release_export("vol-src")
    await backend.delete("vol-src")
    assert await read(backend, "vol-cl", 0, 131072) == (
        base[:65536] + to_clone + base[65536 + 4096:])


async def test_delete_rules(backend: VolumeBackend) -> None:
    await backend.create("vol-d", 1)
    await write(backend, "vol-d", 0, b"x" * 4096)
    with pytest.raises(InUse):
        await backend.delete("vol-d")
    await backend.release_export("vol-d")
    await backend.release_export("vol-d")  # idempotent
    await backend.snapshot("snap-d", "vol-d")
    await backend.create_from_snapshot("vol-from", "snap-d", 1)
    with pytest.raises(HasDependents):
        await backend.delete("vol-d")
    assert (await backend.info("vol-d")).size_gib == 1
    await backend.delete_snapshot("snap-d")
    await backend.delete_snapshot("snap-d")  # idempotent
    with pytest.raises(NotFound):
        await backend.snapshot_info("snap-d")
    await backend.delete("vol-d")
    await backend.delete("vol-d")  # idempotent
    await backend.delete("never-was")
    with pytest.raises(NotFound):
        await backend.info("vol-d")
    # What was created from the deleted snapshot of the deleted volume still reads.
    assert await read(backend, "vol-from", 0, 4096) == b"x" * 4096
    await backend.release_export("vol-from")
    await backend.delete("vol-from")
    assert await backend.list_volumes() == []
    assert (await backend.stats())["provisioned_bytes"] == 0
    await backend.create("vol-d", 1)  # the id is free again


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    return build(tmp_path_factory.mktemp("corpus"))


async def test_create_from_image_checks_again_as_qemu_reads_it(
        backend: VolumeBackend, corpus: dict[str, Sample]) -> None:
    """The backend re-checks an image (inspector and qemu-img) before it converts it."""
    for name in HOSTILE:
        sample = corpus[name]
        with pytest.raises(InvalidArgument, match="image rejected"):
            await backend.create_from_image("vol-h", 1, str(sample.path), sample.disk_format)
    assert await backend.list_volumes() == []
    sample = corpus["vmdk-stream"]
    await backend.create_from_image("vol-h", 1, str(sample.path), "vmdk")
    assert await read(backend, "vol-h", 0, 4096) == sample.path.with_name(
        "base.raw").read_bytes()[:4096]
    await backend.release_export("vol-h")
    await backend.delete("vol-h")


@pytest.mark.parametrize("fmt", ["qcow2", "raw", "vmdk"])
async def test_create_from_image(backend: VolumeBackend, tmp_path: Path, fmt: str) -> None:
    head, tail = pattern(9, 1 * MIB), pattern(10, 4096)
    image = tmp_path / f"image.{fmt}"
    make_image(image, fmt, 64 * MIB, [(0, head), (64 * MIB - 4096, tail)])
    info = await backend.create_from_image("vol-img", 1, str(image), fmt)
    assert info.size_gib == 1
    assert await export_size(backend, "vol-img", GIB) == GIB
    assert await read(backend, "vol-img", 0, MIB) == head
    assert await read(backend, "vol-img", 64 * MIB - 4096, 4096) == tail
    assert await read(backend, "vol-img", GIB - 4096, 4096) == bytes(4096)


async def test_create_from_bad_images(backend: VolumeBackend, tmp_path: Path) -> None:
    big = tmp_path / "big.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(big), str(2 * GIB))
    with pytest.raises(InvalidArgument, match="larger"):
        await backend.create_from_image("vol-i", 1, str(big), "qcow2")
    backed = tmp_path / "backed.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(big), str(backed))
    with pytest.raises(InvalidArgument, match="backing"):
        await backend.create_from_image("vol-i", 2, str(backed), "qcow2")
    garbage = tmp_path / "garbage.qcow2"
    garbage.write_bytes(pattern(11, 65536))
    with pytest.raises(InvalidArgument):
        await backend.create_from_image("vol-i", 1, str(garbage), "qcow2")
    with pytest.raises(InvalidArgument):
        await backend.create_from_image("vol-i", 1, str(big), "no-such-format")
    with pytest.raises(InvalidArgument):
        await backend.create_from_image("vol-i", 1, str(tmp_path / "missing"), "raw")
    assert await backend.list_volumes() == []
    if isinstance(backend, FileBackend):
        assert sorted(p.name for p in backend.layers_dir.iterdir()) == []
    await backend.create("vol-i", 1)  # nothing of the failures holds the id


@pytest.mark.parametrize("live", [False, True], ids=["offline", "exported"])
async def test_copy_to_file_round_trip(backend: VolumeBackend, tmp_path: Path,
                                       live: bool) -> None:
    await backend.create("vol-c", 1)
    data = pattern(12, 3 * MIB)
    await write(backend, "vol-c", 5 * MIB, data)
    if not live:
        await backend.release_export("vol-c")
    raw, qcow = tmp_path / "out.raw", tmp_path / "out.qcow2"
    await backend.copy_to_file("vol-c", str(raw), "raw")
    assert raw.stat().st_size == GIB
    assert _pread(str(raw), 5 * MIB, 3 * MIB) == data
    assert raw.stat().st_blocks * 512 < 64 * MIB  # sparse: the zeros were not written
    await backend.copy_to_file("vol-c", str(qcow), "qcow2")
    assert json.loads(qemu_img("info", "--output=json", "-f", "qcow2", str(qcow)))[
        "virtual-size"] == GIB
    await backend.create_from_image("vol-back", 1, str(qcow), "qcow2")
    assert await read(backend, "vol-back", 5 * MIB, 3 * MIB) == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == [
        "out.qcow2", "out.raw"]  # no temporary file left
    with pytest.raises(InvalidArgument):
        await backend.copy_to_file("vol-c", str(tmp_path / "x"), "vmdk")
    with pytest.raises(NotFound):
        await backend.copy_to_file("nope", str(tmp_path / "x"), "raw")


async def test_concurrent_creates(backend: VolumeBackend) -> None:
    results = await asyncio.gather(*(backend.create(f"vol-{i}", 1) for i in range(8)))
    assert sorted(r.id for r in results) == [f"vol-{i}" for i in range(8)]
    same = await asyncio.gather(*(backend.create("vol-same", 1) for _ in range(4)),
                                return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in same) == 1
    assert all(isinstance(r, AlreadyExists) for r in same if isinstance(r, BaseException))
    await backend.snapshot("snap-0", "vol-0")
    clones = await asyncio.gather(
        *(backend.create_from_snapshot(f"vol-f{i}", "snap-0", 1) for i in range(3)),
        *(backend.clone(f"vol-c{i}", "vol-1", 1) for i in range(3)),
        backend.snapshot("snap-1", "vol-1"))
    assert len(clones) == 7
    assert len(await backend.list_volumes()) == 9 + 6


BAD_IDS = ["", "..", "../etc", "a/b", "/abs", ".hidden", "a\x00b", "a b", "x" * 65,
           "-dash", "ü"]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_path_tricks_refused(backend: VolumeBackend, bad: str, tmp_path: Path) -> None:
    await backend.create("vol-ok", 1)
    await backend.snapshot("snap-ok", "vol-ok")
    calls = [
        backend.create(bad, 1), backend.info(bad), backend.delete(bad), backend.extend(bad, 2),
        backend.export_path(bad), backend.release_export(bad), backend.snapshot(bad, "vol-ok"),
        backend.snapshot("snap-2", bad), backend.delete_snapshot(bad),
        backend.snapshot_info(bad), backend.clone(bad, "vol-ok", 1),
        backend.clone("vol-2", bad, 1), backend.create_from_snapshot(bad, "snap-ok", 1),
        backend.create_from_snapshot("vol-3", bad, 1),
        backend.copy_to_file(bad, str(tmp_path / "x")),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument):
            await call
    assert [v.id for v in await backend.list_volumes()] == ["vol-ok"]


@pytest.fixture(params=KINDS)
async def tight_backend(request: pytest.FixtureRequest,
                        tmp_path: Path) -> AsyncIterator[VolumeBackend]:
    """A backend with about 32 MiB of room."""
    b: VolumeBackend
    if request.param == "memory":
        b = MemoryBackend(capacity_gib=2)
        await b.open()
        yield b
        await b.close()
        return
    need_file_backend()
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up: {proc.stderr.strip()}")
    try:
        b = FileBackend(mnt / "volumes")
        await b.open()
        yield b
        await release_all(b)
        await b.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


async def test_no_space(tight_backend: VolumeBackend, tmp_path: Path) -> None:
    b = tight_backend
    image = tmp_path / "full.raw"
    make_image(image, "raw", 64 * MIB, [(0, pattern(13, 64 * MIB))])
    if isinstance(b, MemoryBackend):
        await b.create("vol-1", 2)
        with pytest.raises(NoSpace):
            await b.create("vol-2", 1)
        with pytest.raises(NoSpace):
            await b.snapshot("snap", "vol-1")
        await b.delete("vol-1")
        with pytest.raises(NoSpace):
            await b.create_from_image("vol-3", 3, str(image), "raw")
    else:
        assert isinstance(b, FileBackend)
        with pytest.raises(NoSpace):
            await b.create_from_image("vol-3", 1, str(image), "raw")
        assert list(b.layers_dir.iterdir()) == []  # nothing left behind
        assert (await b.stats())["free_bytes"] > 24 * MIB
    assert await b.list_volumes() == []
    await b.create("vol-3", 1)


# -- the file backend alone ---------------------------------------------------------


def allocated(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.iterdir())


async def test_clones_and_snapshots_share_data(fb: FileBackend) -> None:
    await fb.create("vol-big", 1)
    chunk = pattern(14, 16 * MIB)
    path = await fb.export_path("vol-big")
    for i in range(64):
        await asyncio.to_thread(_pwrite, path, i * len(chunk), chunk)
    await fb.release_export("vol-big")
    before = allocated(fb.layers_dir)
    assert before >= GIB  # the volume is full of data
    await fb.clone("vol-clone", "vol-big", 1)
    await fb.snapshot("snap-big", "vol-big")
    await fb.create_from_snapshot("vol-restored", "snap-big", 2)
    grown = allocated(fb.layers_dir) - before
    assert grown < 4 * MIB, f"a clone, a snapshot and a restore took {grown} bytes"
    assert await read(fb, "vol-clone", 63 * len(chunk), len(chunk)) == chunk
    assert await read(fb, "vol-restored", 17 * len(chunk), len(chunk)) == chunk
    # Written data goes to the clone's own layer only.
    await write(fb, "vol-clone", 0, pattern(15, 4 * MIB))
    await fb.release_export("vol-clone")
    top = Path(fb.chain("vol-clone")[0])
    assert 4 * MIB <= top.stat().st_blocks * 512 < 8 * MIB
    # du agrees.
    du = subprocess.run(["du", "-sk", str(fb.layers_dir)], capture_output=True, text=True,
                        check=True)
    assert int(du.stdout.split()[0]) * 1024 < before + 16 * MIB


@pytest.mark.parametrize("live", [False, True], ids=["offline", "exported"])
async def test_chain_flattened_past_depth(fb: FileBackend, live: bool) -> None:
    await fb.create("vol-deep", 1)
    bottom = fb.chain("vol-deep")[-1]
    written: dict[int, bytes] = {}
    for i in range(7):
        data = pattern(100 + i, 4096)
        await write(fb, "vol-deep", i * MIB, data)
        written[i] = data
        if not live:
            await fb.release_export("vol-deep")
        await fb.snapshot(f"snap-{i}", "vol-deep")
        if live:  # deferred while exported (see FileBackend._flatten_if_deep) ...
            assert len(fb.chain("vol-deep")) == i + 2
        else:
            assert len(fb.chain("vol-deep")) <= fb.max_chain_depth
        assert fb.chain("vol-deep")[-1] == bottom  # never copied whole
    if live:  # ... until the export is released
        await fb.release_export("vol-deep")
    assert len(fb.chain("vol-deep")) <= fb.max_chain_depth
    assert fb.chain("vol-deep")[-1] == bottom
    # Every snapshot still holds exactly what was written before it.
    for i in range(7):
        restored = await fb.create_from_snapshot(f"vol-r{i}", f"snap-{i}", 1)
        assert len(fb.chain(restored.id)) <= fb.max_chain_depth
        for j in range(7):
            expect = written[j] if j <= i else bytes(4096)
            assert await read(fb, restored.id, j * MIB, 4096) == expect, (i, j)
        await fb.release_export(restored.id)
    for j in range(7):
        assert await read(fb, "vol-deep", j * MIB, 4096) == written[j]
    # The headers on disk say what the state says.
    await fb.release_export("vol-deep")
    info = json.loads(qemu_img("info", "--output=json", "--backing-chain", "-f", "qcow2",
                               fb.chain("vol-deep")[0]))
    assert [Path(i["filename"]).name for i in info] == [
        Path(p).name for p in fb.chain("vol-deep")]


async def test_clone_chain_flattened(fb: FileBackend) -> None:
    await fb.create("vol-0", 1)
    await write(fb, "vol-0", 0, b"zero" * 1024)
    await fb.release_export("vol-0")
    for i in range(1, 6):  # a clone of a clone of a clone ...
        await fb.clone(f"vol-{i}", f"vol-{i - 1}", 1)
        await write(fb, f"vol-{i}", i * 4096, bytes([i]) * 4096)
        await fb.release_export(f"vol-{i}")
        assert len(fb.chain(f"vol-{i}")) <= fb.max_chain_depth
    expect = b"zero" * 1024 + b"".join(bytes([i]) * 4096 for i in range(1, 6))
    assert await read(fb, "vol-5", 0, 6 * 4096) == expect


async def test_restart_finds_exports_and_cleans_leftovers(tmp_path: Path) -> None:
    need_file_backend()
    root = tmp_path / "volumes"
    first = FileBackend(root)
    await first.open()
    await first.create("vol-a", 1)
    await first.snapshot("snap-a", "vol-a")
    path = await first.export_path("vol-a")
    await asyncio.to_thread(_pwrite, path, 0, b"before restart")
    pid = (root / "run" / "vol-a.pid").read_text().strip()
    await first.close()  # the manager stops; the export keeps serving
    (root / "layers" / ".tmp-deadbeef.qcow2").write_bytes(b"half made")
    (root / "layers" / "0123456789abcdef.qcow2").write_bytes(b"never registered")
    second = FileBackend(root)
    await second.open()
    try:
        assert [v.id for v in await second.list_volumes()] == ["vol-a"]
        assert (await second.snapshot_info("snap-a")).volume_id == "vol-a"
        assert await second.export_path("vol-a") == path
        assert (root / "run" / "vol-a.pid").read_text().strip() == pid  # same daemon
        assert second.exported_volumes() == ["vol-a"]
        assert _pread(path, 0, 14) == b"before restart"
        names = {p.name for p in (root / "layers").iterdir()}
        assert ".tmp-deadbeef.qcow2" not in names and "0123456789abcdef.qcow2" not in names
        # A daemon that died leaves a stale mount: export_path starts a new one.
        os.kill(int(pid), 9)
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}/status") or "zombie" in open(
                    f"/proc/{pid}/status").read():
                break
            time.sleep(0.02)
        path2 = await second.export_path("vol-a")
        assert path2 == path
        assert (root / "run" / "vol-a.pid").read_text().strip() != pid
        assert _pread(path, 0, 14) == b"before restart"
    finally:
        await release_all(second)
    with contextlib.suppress(FileNotFoundError):
        assert not os.path.ismount(path)


async def test_ids_stay_inside_root(fb: FileBackend, tmp_path: Path) -> None:
    await fb.create("vol-in", 1)
    await fb.snapshot("snap-in", "vol-in")
    await fb.release_export("vol-in")
    outside = {p for p in tmp_path.iterdir()}
    for bad in ("../escape", "..", "x/../../escape"):
        with pytest.raises(InvalidArgument):
            await fb.create(bad, 1)
    assert {p for p in tmp_path.iterdir()} == outside
    state = json.loads((fb.root / "state.json").read_text())
    assert set(state["volumes"]) == {"vol-in"} and set(state["snapshots"]) == {"snap-in"}


def _iter_mounts() -> Iterator[str]:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            yield line.split()[4]


async def test_release_unmounts(fb: FileBackend) -> None:
    await fb.create("vol-m", 1)
    path = await fb.export_path("vol-m")
    assert path in set(_iter_mounts())
    assert qemu_img("info", "-U", "-f", "raw", path)
    await fb.release_export("vol-m")
    assert path not in set(_iter_mounts())
    assert not os.path.exists(path)
    assert fb.exported_volumes() == []
