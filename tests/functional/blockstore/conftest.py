"""Fixtures of the block store's tests: each volume backend, fresh in a temporary
directory (the file backend needs qemu-img, qemu-storage-daemon and FUSE; a host
without them skips, or fails under CI), and the ``demo`` and ``admin`` users of the
module's ``cloud`` (each API module starts its own)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blockstore.backends import FileBackend, MemoryBackend, VolumeBackend
from tests.functional.blockstore.volume_server import VolumeApi, VolumeCloud

KINDS = ["memory", "file"]


def file_backend_missing() -> str | None:
    for tool in ("qemu-img", "qemu-storage-daemon"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: qemu-utils, qemu-system-common)"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing: the file backend's exports need FUSE"
    return None


def need_file_backend() -> None:
    reason = file_backend_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


async def release_all(b: VolumeBackend) -> None:
    for v in await b.list_volumes():
        await b.release_export(v.id)


@pytest.fixture(params=KINDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VolumeBackend]:
    b: VolumeBackend
    if request.param == "memory":
        b = MemoryBackend(capacity_gib=64)
    else:
        need_file_backend()
        b = FileBackend(tmp_path / "volumes", max_chain_depth=8)
    await b.open()
    try:
        yield b
    finally:
        await release_all(b)
        await b.close()


@pytest.fixture
async def fb(tmp_path: Path) -> AsyncIterator[FileBackend]:
    need_file_backend()
    b = FileBackend(tmp_path / "volumes", max_chain_depth=3)
    await b.open()
    try:
        yield b
    finally:
        await release_all(b)
        await b.close()


@pytest.fixture(scope="module")
def demo(cloud: VolumeCloud) -> VolumeApi:
    return cloud.volumes("demo")


@pytest.fixture(scope="module")
def admin(cloud: VolumeCloud) -> VolumeApi:
    return cloud.volumes("admin")
