"""The in-memory reference volume backend.

Each volume and each snapshot is an anonymous memory file (``memfd``), sparse
like a file on tmpfs; its ``/proc/<pid>/fd/<n>`` path is a real file that
qemu-img, a test or an iSCSI target in another process can open, so the
export path is the volume itself. Snapshots and clones copy the data
segments (holes stay holes). Capacity is thick accounting: the sizes of all
volumes and snapshots may not exceed ``capacity_gib``.

Everything is lost when the process ends: this backend is for tests and for
trying the API without storage.
"""

from __future__ import annotations

import asyncio
import errno
import os
from dataclasses import dataclass

from blockstore.backends._qemu import driver, image_info, qemu_img
from blockstore.backends.base import (
    COPY_FORMATS,
    GIB,
    AlreadyExists,
    BackendError,
    HasDependents,
    InUse,
    InvalidArgument,
    Manageable,
    NoSpace,
    NotFound,
    SnapshotInfo,
    VolumeInfo,
    check_id,
    check_size,
)

CHUNK = 1 << 20


@dataclass
class _Data:
    fd: int
    size_gib: int

    @property
    def path(self) -> str:
        return f"/proc/{os.getpid()}/fd/{self.fd}"


@dataclass
class _Snap(_Data):
    volume_id: str


def _memfd(name: str, size: int) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
    except OSError:
        os.close(fd)
        raise
    return fd


def _copy(src: int, size: int, name: str) -> int:
    """A new memfd of ``size`` bytes with ``src``'s data segments (holes stay holes)."""
    dst = _memfd(name, size)
    try:
        end = min(os.fstat(src).st_size, size)
        pos = 0
        while pos < end:
            try:
                data_at = os.lseek(src, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole left
                    break
                raise
            hole_at = min(os.lseek(src, data_at, os.SEEK_HOLE), end)
            while data_at < hole_at:
                chunk = os.pread(src, min(CHUNK, hole_at - data_at), data_at)
                os.pwrite(dst, chunk, data_at)
                data_at += len(chunk)
            pos = hole_at
    except BaseException:
        os.close(dst)
        raise
    return dst


class MemoryBackend:
    """Volumes in memory files; see the module docstring."""

    name = "memory"

    def __init__(self, capacity_gib: int = 1024) -> None:
        self.capacity_gib = capacity_gib
        self._volumes: dict[str, _Data] = {}
        self._snapshots: dict[str, _Snap] = {}
        self._exported: set[str] = set()
        self._manageable: dict[str, _Data] = {}  # unmanaged data, by name
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        async with self._lock:
            for item in [*self._volumes.values(), *self._snapshots.values(),
                         *self._manageable.values()]:
                os.close(item.fd)
            self._volumes.clear()
            self._snapshots.clear()
            self._manageable.clear()
            self._exported.clear()

    # -- helpers ---------------------------------------------------------------

    def _provisioned_gib(self) -> int:
        return sum(d.size_gib for d in [*self._volumes.values(), *self._snapshots.values(),
                                        *self._manageable.values()])

    def _reserve(self, volume_id: str, size_gib: int) -> None:
        check_id(volume_id)
        check_size(size_gib)
        if volume_id in self._volumes:
            raise AlreadyExists(f"volume {volume_id} already exists")
        if self._provisioned_gib() + size_gib > self.capacity_gib:
            raise NoSpace(f"no space for {size_gib} GiB (capacity {self.capacity_gib} GiB)")

    def _volume(self, volume_id: str) -> _Data:
        check_id(volume_id)
        try:
            return self._volumes[volume_id]
        except KeyError:
            raise NotFound(f"volume {volume_id} not found") from None

    def _snapshot(self, snapshot_id: str) -> _Snap:
        check_id(snapshot_id, "snapshot")
        try:
            return self._snapshots[snapshot_id]
        except KeyError:
            raise NotFound(f"snapshot {snapshot_id} not found") from None

    @staticmethod
    def _info(volume_id: str, data: _Data) -> VolumeInfo:
        return VolumeInfo(volume_id, data.size_gib, data.path, "raw")

    @staticmethod
    def _oserror(exc: OSError) -> BackendError:
        if exc.errno == errno.ENOSPC:
            return NoSpace("out of memory for volume data")
        return BackendError(f"memory backend: {exc.strerror or exc}")

    async def _add_copy(self, volume_id: str, src: _Data, size_gib: int) -> VolumeInfo:
        if size_gib < src.size_gib:
            raise InvalidArgument(f"size {size_gib} GiB is smaller than the source's "
                                  f"{src.size_gib} GiB")
        try:
            fd = await asyncio.to_thread(_copy, src.fd, size_gib * GIB, volume_id)
        except OSError as exc:
            raise self._oserror(exc) from None
        self._volumes[volume_id] = _Data(fd, size_gib)
        return self._info(volume_id, self._volumes[volume_id])

    # -- the contract ----------------------------------------------------------

    async def create(self, volume_id: str, size_gib: int) -> VolumeInfo:
        async with self._lock:
            self._reserve(volume_id, size_gib)
            try:
                fd = _memfd(volume_id, size_gib * GIB)
            except OSError as exc:
                raise self._oserror(exc) from None
            self._volumes[volume_id] = _Data(fd, size_gib)
            return self._info(volume_id, self._volumes[volume_id])

    async def create_from_image(self, volume_id: str, size_gib: int, image_path: str,
                                image_format: str) -> VolumeInfo:
        async with self._lock:
            self._reserve(volume_id, size_gib)
            image = await image_info(image_path, image_format)
            if image.virtual_size > size_gib * GIB:
                raise InvalidArgument(f"the image's virtual size {image.virtual_size} bytes "
                                      f"is larger than {size_gib} GiB")
            try:
                fd = _memfd(volume_id, size_gib * GIB)
            except OSError as exc:
                raise self._oserror(exc) from None
            data = _Data(fd, size_gib)
            try:
                await qemu_img(["convert", "-q", "-n", "--target-is-zero",
                                "-f", driver(image_format), "-O", "raw",
                                image_path, data.path])
                os.ftruncate(fd, size_gib * GIB)  # convert -n never shrinks or grows it
            except BaseException:
                os.close(fd)
                raise
            self._volumes[volume_id] = data
            return self._info(volume_id, data)

    async def clone(self, volume_id: str, source_id: str, size_gib: int) -> VolumeInfo:
        async with self._lock:
            src = self._volume(source_id)
            self._reserve(volume_id, size_gib)
            return await self._add_copy(volume_id, src, size_gib)

    async def snapshot(self, snapshot_id: str, volume_id: str) -> SnapshotInfo:
        async with self._lock:
            check_id(snapshot_id, "snapshot")
            vol = self._volume(volume_id)
            if snapshot_id in self._snapshots:
                raise AlreadyExists(f"snapshot {snapshot_id} already exists")
            if self._provisioned_gib() + vol.size_gib > self.capacity_gib:
                raise NoSpace(f"no space for a {vol.size_gib} GiB snapshot")
            try:
                fd = await asyncio.to_thread(_copy, vol.fd, vol.size_gib * GIB, snapshot_id)
            except OSError as exc:
                raise self._oserror(exc) from None
            self._snapshots[snapshot_id] = _Snap(fd, vol.size_gib, volume_id)
            return SnapshotInfo(snapshot_id, volume_id, vol.size_gib)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        async with self._lock:
            check_id(snapshot_id, "snapshot")
            snap = self._snapshots.pop(snapshot_id, None)
            if snap is not None:
                os.close(snap.fd)

    async def snapshot_info(self, snapshot_id: str) -> SnapshotInfo:
        snap = self._snapshot(snapshot_id)
        return SnapshotInfo(snapshot_id, snap.volume_id, snap.size_gib)

    async def create_from_snapshot(self, volume_id: str, snapshot_id: str,
                                   size_gib: int) -> VolumeInfo:
        async with self._lock:
            snap = self._snapshot(snapshot_id)
            self._reserve(volume_id, size_gib)
            return await self._add_copy(volume_id, snap, size_gib)

    async def extend(self, volume_id: str, new_size_gib: int) -> VolumeInfo:
        async with self._lock:
            vol = self._volume(volume_id)
            check_size(new_size_gib)
            if new_size_gib <= vol.size_gib:
                raise InvalidArgument(f"new size {new_size_gib} GiB is not larger than "
                                      f"{vol.size_gib} GiB")
            if self._provisioned_gib() + new_size_gib - vol.size_gib > self.capacity_gib:
                raise NoSpace(f"no space to grow to {new_size_gib} GiB")
            os.ftruncate(vol.fd, new_size_gib * GIB)
            vol.size_gib = new_size_gib
            return self._info(volume_id, vol)

    async def delete(self, volume_id: str) -> None:
        async with self._lock:
            check_id(volume_id)
            vol = self._volumes.get(volume_id)
            if vol is None:
                return
            if volume_id in self._exported:
                raise InUse(f"volume {volume_id} is exported")
            snaps = sorted(s for s, snap in self._snapshots.items() if snap.volume_id == volume_id)
            if snaps:
                raise HasDependents(f"volume {volume_id} has snapshots: {', '.join(snaps)}")
            del self._volumes[volume_id]
            os.close(vol.fd)

    async def info(self, volume_id: str) -> VolumeInfo:
        return self._info(volume_id, self._volume(volume_id))

    async def list_volumes(self) -> list[VolumeInfo]:
        return [self._info(v, d) for v, d in sorted(self._volumes.items())]

    async def export_path(self, volume_id: str) -> str:
        vol = self._volume(volume_id)
        self._exported.add(volume_id)
        return vol.path

    async def release_export(self, volume_id: str) -> None:
        check_id(volume_id)
        self._exported.discard(volume_id)

    async def copy_to_file(self, volume_id: str, dest: str, fmt: str = "raw") -> None:
        if fmt not in COPY_FORMATS:
            raise InvalidArgument(f"cannot copy to format {fmt!r}: one of {COPY_FORMATS}")
        async with self._lock:
            vol = self._volume(volume_id)
            tmp = f"{dest}.tmp-{os.getpid()}-{volume_id}"
            try:
                await qemu_img(["convert", "-q", "-f", "raw", "-O", fmt, vol.path, tmp])
                os.replace(tmp, dest)
            except BaseException:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
                raise

    async def stats(self) -> dict[str, int]:
        provisioned = self._provisioned_gib() * GIB
        total = self.capacity_gib * GIB
        return {"total_bytes": total, "free_bytes": max(0, total - provisioned),
                "provisioned_bytes": provisioned}

    # -- manage / unmanage -----------------------------------------------------------

    def _take(self, name: str) -> _Data:
        data = self._manageable.get(name)
        if data is None:
            raise NotFound(f"nothing manageable is named {name!r}")
        return data

    def _leave(self, name: str, data: _Data) -> str:
        if name in self._manageable:
            raise AlreadyExists(f"manageable data named {name!r} already exists")
        self._manageable[name] = _Data(data.fd, data.size_gib)
        return name

    async def list_manageable(self) -> list[Manageable]:
        return [Manageable(n, d.size_gib, True) for n, d in sorted(self._manageable.items())]

    async def manage(self, volume_id: str, name: str) -> VolumeInfo:
        async with self._lock:
            check_id(volume_id)
            if volume_id in self._volumes:
                raise AlreadyExists(f"volume {volume_id} already exists")
            data = self._take(name)
            self._volumes[volume_id] = self._manageable.pop(name)
            return self._info(volume_id, data)

    async def unmanage(self, volume_id: str) -> str:
        async with self._lock:
            vol = self._volume(volume_id)
            if volume_id in self._exported:
                raise InUse(f"volume {volume_id} is exported")
            if any(snap.volume_id == volume_id for snap in self._snapshots.values()):
                raise HasDependents(f"volume {volume_id} has snapshots")
            name = self._leave(f"volume-{volume_id}", vol)
            del self._volumes[volume_id]
            return name

    async def manage_snapshot(self, snapshot_id: str, volume_id: str,
                              name: str) -> SnapshotInfo:
        async with self._lock:
            check_id(snapshot_id, "snapshot")
            self._volume(volume_id)
            if snapshot_id in self._snapshots:
                raise AlreadyExists(f"snapshot {snapshot_id} already exists")
            data = self._take(name)
            del self._manageable[name]
            self._snapshots[snapshot_id] = _Snap(data.fd, data.size_gib, volume_id)
            return SnapshotInfo(snapshot_id, volume_id, data.size_gib)

    async def unmanage_snapshot(self, snapshot_id: str) -> str:
        async with self._lock:
            snap = self._snapshot(snapshot_id)
            name = self._leave(f"snapshot-{snapshot_id}", snap)
            del self._snapshots[snapshot_id]
            return name
