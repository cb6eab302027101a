"""Manage and unmanage in the volume backend contract (blockstore/backends/base.py): the
shared suite on every backend (memory and file), then the file backend's own
manageable directory, where an operator drops disk images to manage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blockstore.backends import (
    AlreadyExists,
    FileBackend,
    HasDependents,
    InUse,
    InvalidArgument,
    NotFound,
    VolumeBackend,
)
from blockstore.backends.base import GIB
from tests.functional.blockstore.conftest import need_file_backend
from tests.functional.blockstore.test_backends import make_image, pattern, qemu_img, read, write

MIB = 1 << 20


async def test_unmanage_leaves_the_data_and_manage_takes_it_back(
        backend: VolumeBackend) -> None:
    await backend.create("vol-m", 1)
    data = pattern(31, 2 * MIB)
    await write(backend, "vol-m", 5 * MIB, data)
    with pytest.raises(InUse):  # exported (the write went through its export)
        await backend.unmanage("vol-m")
    await backend.release_export("vol-m")
    await backend.snapshot("snap-m", "vol-m")
    with pytest.raises(HasDependents):
        await backend.unmanage("vol-m")
    await backend.delete_snapshot("snap-m")
    name = await backend.unmanage("vol-m")
    assert [v.id for v in await backend.list_volumes()] == []
    listed = {m.name: m for m in await backend.list_manageable()}
    assert listed[name].safe and listed[name].size_gib == 1
    with pytest.raises(NotFound):
        await backend.manage("vol-m2", "no-such-thing")
    info = await backend.manage("vol-m2", name)
    assert (info.id, info.size_gib) == ("vol-m2", 1)
    assert name not in {m.name for m in await backend.list_manageable()}
    assert await read(backend, "vol-m2", 5 * MIB, len(data)) == data
    await backend.release_export("vol-m2")
    await backend.create("vol-other", 1)
    other = await backend.unmanage("vol-other")
    with pytest.raises(AlreadyExists):  # a live id is never reused
        await backend.manage("vol-m2", other)
    assert other in {m.name for m in await backend.list_manageable()}


async def test_snapshots_are_unmanaged_and_managed_too(backend: VolumeBackend) -> None:
    await backend.create("vol-s", 1)
    data = pattern(32, MIB)
    await write(backend, "vol-s", 0, data)
    await backend.snapshot("snap-s", "vol-s")
    await write(backend, "vol-s", 0, b"\0" * MIB)
    await backend.release_export("vol-s")
    name = await backend.unmanage_snapshot("snap-s")
    with pytest.raises(NotFound):
        await backend.snapshot_info("snap-s")
    assert name in {m.name for m in await backend.list_manageable()}
    with pytest.raises(NotFound):  # a snapshot of a volume that is not there
        await backend.manage_snapshot("snap-t", "vol-none", name)
    info = await backend.manage_snapshot("snap-t", "vol-s", name)
    assert (info.volume_id, info.size_gib) == ("vol-s", 1)
    await backend.create_from_snapshot("vol-from", "snap-t", 1)
    assert await read(backend, "vol-from", 0, len(data)) == data
    await backend.release_export("vol-from")
    await backend.delete("vol-from")
    await backend.delete_snapshot("snap-t")
    await backend.delete("vol-s")


def _drop(fb: FileBackend, name: str, fmt: str, size: int, writes: list[tuple[int, bytes]]
          ) -> Path:
    path = fb.root / "manageable" / name
    make_image(path, fmt, size, writes)
    return path


async def test_file_backend_manages_images_dropped_in_its_directory(fb: FileBackend) -> None:
    head, tail = pattern(33, MIB), pattern(34, MIB)
    raw = _drop(fb, "legacy.raw", "raw", 300 * MIB, [(0, head), (299 * MIB, tail)])
    qcow = _drop(fb, "legacy.qcow2", "qcow2", GIB + MIB, [(GIB, tail)])
    evil = fb.root / "manageable" / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(raw), "-F", "raw", str(evil))
    (fb.root / "manageable" / ".hidden").write_bytes(b"not listed")
    listed = {m.name: m for m in await fb.list_manageable()}
    assert set(listed) == {"legacy.raw", "legacy.qcow2", "evil.qcow2"}
    assert (listed["legacy.raw"].size_gib, listed["legacy.raw"].safe) == (1, True)
    assert (listed["legacy.qcow2"].size_gib, listed["legacy.qcow2"].safe) == (2, True)
    assert not listed["evil.qcow2"].safe and "backing" in (listed["evil.qcow2"].reason or "")
    with pytest.raises(InvalidArgument):
        await fb.manage("vol-evil", "evil.qcow2")
    assert [v.id for v in await fb.list_volumes()] == []
    for bad in ("../state.json", "a/b", "", ".hidden"):
        with pytest.raises((InvalidArgument, NotFound)):
            await fb.manage("vol-bad", bad)

    info = await fb.manage("vol-raw", "legacy.raw")
    assert info.size_gib == 1 and not raw.exists()
    assert await read(fb, "vol-raw", 0, MIB) == head
    assert await read(fb, "vol-raw", 299 * MIB, MIB) == tail
    assert await read(fb, "vol-raw", 300 * MIB, MIB) == b"\0" * MIB  # grown with zeros
    info = await fb.manage("vol-qcow", "legacy.qcow2")
    assert info.size_gib == 2 and not qcow.exists()
    assert await read(fb, "vol-qcow", GIB, MIB) == tail
    # the managed volumes are ordinary volumes: snapshots, clones, extend
    await fb.snapshot("snap-q", "vol-qcow")
    await fb.clone("vol-clone", "vol-qcow", 2)
    assert await read(fb, "vol-clone", GIB, MIB) == tail
    await fb.release_export("vol-clone")
    await fb.release_export("vol-raw")
    name = await fb.unmanage("vol-raw")
    assert name == "volume-vol-raw.qcow2"
    out = fb.root / "manageable" / name
    info_json = qemu_img("info", "--output=json", "-f", "qcow2", str(out))
    assert '"backing-filename"' not in info_json  # standalone: its whole chain
    assert '"virtual-size": 1073741824' in info_json


async def test_file_backend_unmanage_survives_a_restart(tmp_path: Path) -> None:
    need_file_backend()
    b = FileBackend(tmp_path / "volumes")
    await b.open()
    await b.create("vol-r", 1)
    await write(b, "vol-r", 0, pattern(35, MIB))
    await b.release_export("vol-r")
    name = await b.unmanage("vol-r")
    (tmp_path / "volumes" / "manageable" / ".tmp-half-written.qcow2").write_bytes(b"x")
    await b.close()
    again = FileBackend(tmp_path / "volumes")
    await again.open()  # forgets vol-r for good, drops a half-written unmanage
    try:
        assert await again.list_volumes() == []
        assert sorted(os.listdir(tmp_path / "volumes" / "manageable")) == [name]
        await again.manage("vol-r2", name)
        assert await read(again, "vol-r2", 0, MIB) == pattern(35, MIB)
        await again.release_export("vol-r2")
    finally:
        await again.close()
