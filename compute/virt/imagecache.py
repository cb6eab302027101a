"""The per-host cache of base images, and the qcow2 overlays instances run on.

``fetch`` brings an image's bytes from a caller-supplied async byte stream (the
agent reads the image API; tests feed a file) into ``<cache_dir>/<image id>``:

1. the bytes go to a temporary file while the project's image inspector
   (``ImageInspector``) and the checksums see every chunk once;
2. the declared checksum (MD5, and ``os_hash_value`` when given) must match, and the
   inspector must find the declared ``disk_format`` and nothing unsafe (no backing
   or data file...) *before qemu ever opens the file*;
3. disks are converted to the cache format (qcow2 by default, or raw) with
   ``qemu-img`` named formats only; kernels and ramdisks (``aki``/``ari``) are kept
   as they are;
4. the result is renamed into place, so a base is either complete or absent.

Concurrent fetches of one image share a single download. ``create_overlay`` makes
an instance's disk: a qcow2 whose backing file is the base, of the flavor's size
(or the image's, when that is 0). ``prune`` removes bases no instance uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from compute.errors import ImageUnusable, InvalidSpec, VirtError
from diskimage import qemu, safety
from diskimage.inspector import ImageInspector, ImageRejected

ByteStream = Callable[[], AsyncIterator[bytes]]
_IMAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
KERNEL_FORMATS = frozenset({"aki", "ari"})


@dataclass(frozen=True)
class CachedImage:
    path: Path
    format: str  # qemu format of the cached file: "qcow2", "raw" (aki/ari: "raw")
    virtual_size: int  # bytes the guest sees (the file size for kernels and ramdisks)


class ImageCache:
    def __init__(self, cache_dir: str | Path,
                 cache_format: Literal["qcow2", "raw"] = "qcow2") -> None:
        self.dir = Path(cache_dir)
        self.cache_format = cache_format
        self._pending: dict[str, asyncio.Future[CachedImage]] = {}

    def path(self, image_id: str) -> Path:
        if not _IMAGE_ID.match(image_id):
            raise InvalidSpec(f"image id {image_id!r} cannot name a cache file")
        return self.dir / image_id

    async def cached(self, image_id: str) -> CachedImage | None:
        path = self.path(image_id)
        if not path.exists():
            return None
        info = await qemu.info(path, await asyncio.to_thread(_format_of, path))
        with contextlib.suppress(OSError):
            os.utime(path)  # in use: prune keeps recently used bases longer
        return CachedImage(path, info.format, info.virtual_size)

    async def fetch(self, image_id: str, stream: ByteStream, *, disk_format: str,
                    container_format: str = "bare", checksum: str | None = None,
                    hash_algo: str | None = None, hash_value: str | None = None,
                    ) -> CachedImage:
        """The cached base of ``image_id``, fetched and checked now if missing."""
        existing = await self.cached(image_id)
        if existing is not None:
            return existing
        pending = self._pending.get(image_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedImage] = asyncio.get_running_loop().create_future()
        self._pending[image_id] = future
        try:
            result = await self._fetch(image_id, stream, disk_format, container_format,
                                       checksum, hash_algo, hash_value)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._pending.pop(image_id, None)

    async def _fetch(self, image_id: str, stream: ByteStream, disk_format: str,
                     container_format: str, checksum: str | None, hash_algo: str | None,
                     hash_value: str | None) -> CachedImage:
        final = self.path(image_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{image_id}.{os.getpid()}.{time.monotonic_ns()}.part"
        converted = tmp.with_suffix(".conv")
        try:
            inspector = ImageInspector(disk_format, container_format)
        except ImageRejected as exc:
            raise ImageUnusable(f"image {image_id}: {exc.message}") from None
        md5 = hashlib.md5(usedforsecurity=False)
        extra = None
        if hash_algo and hash_value:
            try:
                extra = hashlib.new(hash_algo)
            except ValueError:
                raise ImageUnusable(f"image {image_id}: unknown hash {hash_algo!r}") from None
        try:
            with open(tmp, "wb") as fh:  # noqa: ASYNC230 (writes go through a thread)
                async for chunk in stream():
                    inspector.feed(chunk)
                    md5.update(chunk)
                    if extra is not None:
                        extra.update(chunk)
                    await asyncio.to_thread(fh.write, chunk)
                await asyncio.to_thread(os.fsync, fh.fileno())
            if checksum and md5.hexdigest() != checksum.lower():
                raise ImageUnusable(f"image {image_id}: checksum {md5.hexdigest()} does not "
                                    f"match the image's {checksum}")
            if extra is not None and hash_value and extra.hexdigest() != hash_value.lower():
                raise ImageUnusable(f"image {image_id}: {hash_algo} does not match")
            try:
                inspection = inspector.verify()
            except ImageRejected as exc:
                raise ImageUnusable(f"image {image_id}: {exc.message}") from None
            if disk_format in KERNEL_FORMATS:
                os.replace(tmp, final)
                return CachedImage(final, "raw", inspection.size)
            source_fmt = qemu.qemu_format(disk_format)
            try:
                # qemu must read the bytes as the inspector did before it converts them
                await safety.cross_check(tmp, inspection, container_format=container_format)
                if source_fmt == self.cache_format:
                    os.replace(tmp, final)
                else:
                    await qemu.convert(tmp, disk_format, converted, self.cache_format)
                    os.replace(converted, final)
                info = await qemu.info(final, self.cache_format)
            except (qemu.QemuImgError, ImageRejected) as exc:
                final.unlink(missing_ok=True)
                raise ImageUnusable(f"image {image_id}: {exc}") from None
            return CachedImage(final, self.cache_format, info.virtual_size)
        finally:
            tmp.unlink(missing_ok=True)
            converted.unlink(missing_ok=True)

    async def create_overlay(self, base: CachedImage, dest: str | Path,
                             size_bytes: int = 0) -> None:
        """A qcow2 at ``dest`` backed by ``base``; ``size_bytes`` 0 keeps the image's size.

        A size smaller than the image is refused (InvalidSpec: the flavor's disk is
        too small for the image).
        """
        if size_bytes and size_bytes < base.virtual_size:
            raise InvalidSpec(f"the disk ({size_bytes} bytes) is smaller than the image "
                              f"({base.virtual_size} bytes)")
        size = max(size_bytes, base.virtual_size)
        try:
            await qemu.create(dest, "qcow2", size, options={
                "backing_file": str(base.path), "backing_fmt": base.format})
        except qemu.QemuImgError as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dest)
            raise VirtError(f"could not create the instance disk: {exc}") from None

    def prune(self, in_use: Iterable[str | Path], min_age: float = 3600.0) -> list[Path]:
        """Remove bases not in ``in_use`` and unused for ``min_age`` seconds (blocking).

        Half-written files of fetches that died are removed too. Returns what went.
        """
        keep = {Path(p).resolve() for p in in_use}
        now = time.time()
        removed: list[Path] = []
        if not self.dir.is_dir():
            return removed
        for entry in self.dir.iterdir():
            if entry.resolve() in keep or not entry.is_file():
                continue
            try:
                age = now - entry.stat().st_mtime
            except FileNotFoundError:
                continue
            if age >= min_age:
                entry.unlink(missing_ok=True)
                removed.append(entry)
        return removed


def _format_of(path: Path) -> str:
    """qcow2 or raw, from the first four bytes (a cache file we wrote ourselves)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    return "qcow2" if head == b"QFI\xfb" else "raw"
