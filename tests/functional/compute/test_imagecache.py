"""The host's image cache and overlays, with real qemu-img and the image inspector."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from compute.errors import ImageUnusable, InvalidSpec
from compute.virt.imagecache import ImageCache
from compute.virt.kvmprobe import probe


def stream_of(data: bytes, chunk: int = 65536) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(data), chunk):
            await asyncio.sleep(0)
            yield data[i:i + chunk]
    return gen()


def qemu_info(path: Path) -> dict[str, object]:
    out = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


RAW = b"STRATA".ljust(2 << 20, b"\0")


async def test_fetch_converts_and_overlays(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache")
    md5 = hashlib.md5(RAW).hexdigest()
    sha = hashlib.sha512(RAW).hexdigest()
    base = await cache.fetch("img-1", lambda: stream_of(RAW), disk_format="raw",
                             checksum=md5, hash_algo="sha512", hash_value=sha)
    assert base.format == "qcow2" and base.virtual_size == len(RAW)
    assert qemu_info(base.path)["format"] == "qcow2"
    again = await cache.fetch("img-1", lambda: stream_of(b"never read"), disk_format="raw")
    assert again.path == base.path
    overlay = tmp_path / "disk"
    await cache.create_overlay(base, overlay, 64 << 20)
    info = qemu_info(overlay)
    assert info["virtual-size"] == 64 << 20
    assert info["backing-filename"] == str(base.path)
    with pytest.raises(InvalidSpec):
        await cache.create_overlay(base, tmp_path / "small", 1 << 20)
    assert not (tmp_path / "small").exists()


async def test_kernels_are_kept_as_they_are(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    kernel = b"\x7fnot really a kernel" * 100
    got = await cache.fetch("kernel-1", lambda: stream_of(kernel), disk_format="aki",
                            container_format="aki")
    assert got.path.read_bytes() == kernel and got.format == "raw"


async def test_concurrent_fetches_share_one_download(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path, cache_format="raw")
    calls = 0

    def source() -> AsyncIterator[bytes]:
        nonlocal calls
        calls += 1
        return stream_of(RAW, 4096)

    results = await asyncio.gather(*(cache.fetch("shared", source, disk_format="raw")
                                     for _ in range(3)))
    assert calls == 1 and len({r.path for r in results}) == 1


async def test_bad_images_leave_nothing(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "c")
    with pytest.raises(ImageUnusable, match="checksum"):
        await cache.fetch("bad-sum", lambda: stream_of(RAW), disk_format="raw",
                          checksum="0" * 32)
    qcow = tmp_path / "backed.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/etc/passwd",
                    str(qcow), "1M"], check=True)
    data = qcow.read_bytes()
    with pytest.raises(ImageUnusable, match="backing"):
        await cache.fetch("backed", lambda: stream_of(data), disk_format="qcow2")
    with pytest.raises(ImageUnusable, match="qcow2"):  # a qcow2 declared raw
        await cache.fetch("liar", lambda: stream_of(data), disk_format="raw")
    with pytest.raises(InvalidSpec):
        await cache.fetch("../escape", lambda: stream_of(RAW), disk_format="raw")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == []


async def test_prune_keeps_what_is_used(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path, cache_format="raw")
    used = await cache.fetch("used", lambda: stream_of(RAW), disk_format="raw")
    old = await cache.fetch("old", lambda: stream_of(RAW), disk_format="raw")
    fresh = await cache.fetch("fresh", lambda: stream_of(RAW), disk_format="raw")
    past = time.time() - 7200
    for p in (used.path, old.path):
        os.utime(p, (past, past))
    removed = cache.prune([used.path], min_age=3600)
    assert removed == [old.path]
    assert used.path.exists() and fresh.path.exists() and not old.path.exists()


async def test_the_kvm_probe_passes_under_tcg() -> None:
    result = await probe("tcg", within=30)
    assert result.usable, result.reason
