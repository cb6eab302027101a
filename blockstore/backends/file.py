"""The file volume backend: qcow2 layers sharing unchanged data, raw views for the target.

Storage. Every volume is a chain of qcow2 files ("layers") made with
qemu-img in ``<root>/layers/``, named by a random layer id, each naming the
one below it as its backing file (relative name, so the directory can move).
The top layer of a volume is the only one ever written; every layer below
it is frozen for good.

* ``snapshot`` freezes the volume's top layer and puts a new empty overlay on
  it: no data is copied. The frozen layer is the snapshot.
* ``clone`` does the same with a hidden (unnamed) frozen layer, then gives
  the new volume its own empty overlay on that layer: a clone of an unchanged
  1 GiB volume takes a few hundred KiB.
* ``create_from_snapshot`` is an empty overlay on the snapshot's layer.
* Chains are kept at most ``max_chain_depth`` files deep: past that the top
  layer is rebased onto the bottom layer of its chain (``qemu-img rebase``),
  copying only what the middle layers changed, so the data shared with the
  bottom layer stays shared. While a volume is exported this waits until the
  export is released or restarted (see ``_flatten_if_deep``).
* A layer no volume or snapshot reaches any more is deleted (so deleting a
  snapshot frees its layer once no chain runs through it).

Manageable data (``manage``/``unmanage``) is the files of ``<root>/manageable/``;
see ``blockstore.backends.file_manage``.

Which layers exist, their backing and which volume and snapshot names which
layer is in ``<root>/state.json``, written atomically (temporary file, fsync,
rename) after the files an operation made are complete and before the
files it drops are removed. ``open()`` deletes layer files the state does not
name (what a crash in the middle of an operation left).

Export. tgt serves a LUN from a plain file (``rdwr``), reading it as raw
bytes, and has no qcow2 backing store; LIO's ``fileio`` is the same. So
``export_path`` starts one ``qemu-storage-daemon`` per exported volume that
opens the volume's chain and exports it through FUSE as a raw file,
``<root>/exports/<volume>.raw``: the target serves that file. The daemon
keeps running across restarts of the manager (``open()`` finds it again
through its QMP socket ``<root>/run/<volume>.qmp``). While a volume is
exported its chain is changed only through the daemon: snapshots and clones
add the new overlay with ``blockdev-snapshot``, extend is ``block_resize``,
and ``copy_to_file`` reads the raw view.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from blockstore.backends import file_manage
from blockstore.backends._qemu import QEMU_IMG, QmpError, driver, image_info, qemu_img, qmp
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
from diskimage.qemu import INFO_LIMITS

STORAGE_DAEMON = "qemu-storage-daemon"
STATE_VERSION = 1
DAEMON_START_TIMEOUT = 30.0
DAEMON_STOP_TIMEOUT = 10.0


def _oserror(exc: OSError, what: str) -> BackendError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(f"{what}: no space left on the volume storage")
    return BackendError(f"{what}: {exc.strerror or exc}")


def _unescape_mount(field: str) -> str:
    """A /proc/self/mountinfo path field: spaces and friends are octal escapes there."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mounted(path: Path) -> bool:
    target = str(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            return any(_unescape_mount(line.split()[4]) == target for line in f if line.strip())
    except OSError:
        return False


def _node(layer: str) -> str:
    return "n" + layer[:24]


class FileBackend:
    """Volumes as qcow2 chains under ``root``; see the module docstring."""

    name = "file"

    def __init__(self, root: str | Path, *, max_chain_depth: int = 8,
                 qemu_img_binary: str = QEMU_IMG,
                 storage_daemon: str = STORAGE_DAEMON) -> None:
        if max_chain_depth < 2:
            raise ValueError("max_chain_depth must be at least 2")
        self.root = Path(root).absolute()
        self.max_chain_depth = max_chain_depth
        self.qemu_img_binary = qemu_img_binary
        self.storage_daemon = storage_daemon
        self.layers_dir = self.root / "layers"
        self.exports_dir = self.root / "exports"
        self.run_dir = self.root / "run"
        self._layers: dict[str, str | None] = {}  # layer id -> backing layer id
        self._volumes: dict[str, dict[str, Any]] = {}  # id -> {"layer", "size_gib"}
        self._snapshots: dict[str, dict[str, Any]] = {}  # id -> {"volume", "layer", "size_gib"}
        self._state_lock = asyncio.Lock()
        self._locks: dict[str, asyncio.Lock] = {}
        self._creating: set[str] = set()  # volume ids being created
        self._creating_snaps: set[str] = set()  # snapshot ids being taken
        self._pinned: Counter[str] = Counter()  # layers a create reads from: never dropped
        self._opened = False

    # -- paths and state ---------------------------------------------------------

    def _layer_path(self, layer: str) -> Path:
        return self.layers_dir / f"{layer}.qcow2"

    def _tmp_layer_path(self, layer: str) -> Path:
        return self.layers_dir / f".tmp-{layer}.qcow2"

    def _export_file(self, volume_id: str) -> Path:
        return self.exports_dir / f"{check_id(volume_id)}.raw"

    def _qmp_path(self, volume_id: str) -> Path:
        return self.run_dir / f"{volume_id}.qmp"

    def _pid_path(self, volume_id: str) -> Path:
        return self.run_dir / f"{volume_id}.pid"

    def _lock(self, volume_id: str) -> asyncio.Lock:
        return self._locks.setdefault(volume_id, asyncio.Lock())

    def _depth(self, layer: str | None) -> int:
        depth = 0
        while layer is not None:
            depth += 1
            layer = self._layers[layer]
        return depth

    def _bottom(self, layer: str) -> str:
        while (below := self._layers[layer]) is not None:
            layer = below
        return layer

    def _state_json(self) -> bytes:
        return json.dumps({"version": STATE_VERSION, "layers": self._layers,
                           "volumes": self._volumes, "snapshots": self._snapshots},
                          indent=1, sort_keys=True).encode()

    def _write_state(self, data: bytes) -> None:
        tmp = self.root / "state.json.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / "state.json")
        dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def _commit(self) -> list[str]:
        """Drop unreachable layers from the state, save it, then delete their files.
        Call with ``_state_lock`` held. Returns the layers dropped."""
        reachable: set[str] = set()
        for layer in [v["layer"] for v in self._volumes.values()] + [
                s["layer"] for s in self._snapshots.values()] + list(self._pinned):
            cur: str | None = layer
            while cur is not None and cur not in reachable:
                reachable.add(cur)
                cur = self._layers[cur]
        dropped = [layer for layer in self._layers if layer not in reachable]
        for layer in dropped:
            del self._layers[layer]
        try:
            await asyncio.to_thread(self._write_state, self._state_json())
        except OSError as exc:
            raise _oserror(exc, "saving the volume state") from None
        for layer in dropped:
            with contextlib.suppress(FileNotFoundError):
                self._layer_path(layer).unlink()
        return dropped

    async def open(self) -> None:
        for d in (self.root, self.layers_dir, self.exports_dir, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        state_file = self.root / "state.json"
        if state_file.exists():
            try:
                state = json.loads(state_file.read_bytes())
            except ValueError as exc:
                raise BackendError(f"{state_file} is not valid JSON: {exc}") from None
            if state.get("version") != STATE_VERSION:
                raise BackendError(f"{state_file} has unknown version {state.get('version')!r}")
            self._layers = dict(state["layers"])
            self._volumes = dict(state["volumes"])
            self._snapshots = dict(state["snapshots"])
        missing = [layer for layer in self._layers if not self._layer_path(layer).exists()]
        if missing:
            raise BackendError(f"layer files missing from {self.layers_dir}: "
                               + ", ".join(sorted(missing)))
        # Leftovers of interrupted operations: files no state names.
        for entry in self.layers_dir.iterdir():
            if entry.name.endswith(".qcow2") and entry.name[:-6] in self._layers:
                continue
            entry.unlink()
        for entry in self.exports_dir.iterdir():
            vid = entry.name.removesuffix(".raw")
            if vid not in self._volumes and not _mounted(entry):
                entry.unlink()
        file_manage.prepare(self)
        self._opened = True

    async def close(self) -> None:
        self._opened = False

    # -- new volumes -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _new_volume(self, volume_id: str, size_gib: int) -> AsyncIterator[list[str]]:
        """Reserve ``volume_id``; the body makes layers (listing their ids in the yielded
        list as it creates their temporary files) and registers the volume. Any failure
        removes the temporary and final files of those layers."""
        check_id(volume_id)
        check_size(size_gib)
        async with self._state_lock:
            if volume_id in self._volumes or volume_id in self._creating:
                raise AlreadyExists(f"volume {volume_id} already exists")
            self._creating.add(volume_id)
        made: list[str] = []
        try:
            yield made
        except BaseException:
            for layer in made:
                if layer not in self._layers:
                    for p in (self._tmp_layer_path(layer), self._layer_path(layer)):
                        with contextlib.suppress(FileNotFoundError):
                            p.unlink()
            raise
        finally:
            self._creating.discard(volume_id)

    def _publish(self, layer: str) -> None:
        os.replace(self._tmp_layer_path(layer), self._layer_path(layer))

    async def _overlay(self, made: list[str], backing: str, size_gib: int) -> tuple[str, str]:
        """A new empty layer on ``backing`` (published, not yet in the state), rebased at
        once onto the chain's bottom when it would be too deep; (layer, its backing)."""
        layer = uuid.uuid4().hex
        made.append(layer)
        tmp = self._tmp_layer_path(layer)
        await self._img(["create", "-q", "-f", "qcow2", "-u", "-F", "qcow2",
                         "-b", f"{backing}.qcow2", str(tmp), str(size_gib * GIB)],
                        limits=INFO_LIMITS)
        if self._depth(backing) + 1 > self.max_chain_depth:
            base = self._bottom(backing)
            await self._img(["rebase", "-q", "-f", "qcow2", "-F", "qcow2",
                             "-b", f"{base}.qcow2", str(tmp)])
            backing = base
        self._publish(layer)
        return layer, backing

    async def _img(self, args: list[str], **kw: Any) -> None:
        try:
            await qemu_img(args, binary=self.qemu_img_binary, **kw)
        except OSError as exc:
            raise _oserror(exc, f"qemu-img {args[0]}") from None

    async def _register(self, volume_id: str, size_gib: int, layers: dict[str, str | None],
                        top: str) -> VolumeInfo:
        async with self._state_lock:
            self._layers.update(layers)
            self._volumes[volume_id] = {"layer": top, "size_gib": size_gib}
            try:
                await self._commit()
            except BaseException:
                del self._volumes[volume_id]
                for layer in layers:
                    self._layers.pop(layer, None)
                raise
        return self._info(volume_id)

    async def create(self, volume_id: str, size_gib: int) -> VolumeInfo:
        async with self._new_volume(volume_id, size_gib) as made:
            layer = uuid.uuid4().hex
            made.append(layer)
            await self._img(["create", "-q", "-f", "qcow2", str(self._tmp_layer_path(layer)),
                             str(size_gib * GIB)], limits=INFO_LIMITS)
            self._publish(layer)
            return await self._register(volume_id, size_gib, {layer: None}, layer)

    async def create_from_image(self, volume_id: str, size_gib: int, image_path: str,
                                image_format: str) -> VolumeInfo:
        async with self._new_volume(volume_id, size_gib) as made:
            image = await image_info(image_path, image_format, binary=self.qemu_img_binary)
            if image.virtual_size > size_gib * GIB:
                raise InvalidArgument(f"the image's virtual size {image.virtual_size} bytes "
                                      f"is larger than {size_gib} GiB")
            layer = uuid.uuid4().hex
            made.append(layer)
            tmp = str(self._tmp_layer_path(layer))
            await self._img(["convert", "-q", "-f", driver(image_format), "-O", "qcow2",
                             image_path, tmp])
            if image.virtual_size != size_gib * GIB:
                await self._img(["resize", "-q", "-f", "qcow2", tmp, str(size_gib * GIB)],
                                limits=INFO_LIMITS)
            self._publish(layer)
            return await self._register(volume_id, size_gib, {layer: None}, layer)

    async def clone(self, volume_id: str, source_id: str, size_gib: int) -> VolumeInfo:
        check_id(volume_id)
        async with self._lock(check_id(source_id)):
            src = self._volume(source_id)
            if size_gib < src["size_gib"]:
                raise InvalidArgument(f"size {size_gib} GiB is smaller than the source's "
                                      f"{src['size_gib']} GiB")
            async with self._new_volume(volume_id, size_gib) as made:
                frozen = await self._freeze(source_id, snapshot=None)  # pinned
                try:
                    top, backing = await self._overlay(made, frozen, size_gib)
                    return await self._register(volume_id, size_gib, {top: backing}, top)
                finally:
                    self._unpin(frozen)

    async def create_from_snapshot(self, volume_id: str, snapshot_id: str,
                                   size_gib: int) -> VolumeInfo:
        check_id(volume_id)
        snap = self._snapshot(snapshot_id)
        if size_gib < snap["size_gib"]:
            raise InvalidArgument(f"size {size_gib} GiB is smaller than the snapshot's "
                                  f"{snap['size_gib']} GiB")
        async with self._new_volume(volume_id, size_gib) as made:
            async with self._state_lock:  # keep the snapshot's layer from being dropped
                layer = self._snapshot(snapshot_id)["layer"]
                self._pinned[layer] += 1
            try:
                top, backing = await self._overlay(made, layer, size_gib)
                return await self._register(volume_id, size_gib, {top: backing}, top)
            finally:
                self._unpin(layer)

    def _unpin(self, layer: str) -> None:
        self._pinned[layer] -= 1
        if self._pinned[layer] <= 0:
            del self._pinned[layer]  # dropped from the state by the next commit if unreached

    # -- snapshots ---------------------------------------------------------------

    async def _freeze(self, volume_id: str, snapshot: tuple[str, str] | None) -> str:
        """Freeze the volume's top layer under a new empty overlay (through its storage
        daemon when exported) and return the frozen layer; with ``snapshot`` =
        (snapshot id, volume id) the frozen layer is registered as that snapshot in
        the same state write, else it is pinned (see ``_unpin``). Call with the
        volume's lock held."""
        vol = self._volume(volume_id)
        old, size_gib = vol["layer"], vol["size_gib"]
        new = uuid.uuid4().hex
        tmp = self._tmp_layer_path(new)
        try:
            await self._img(["create", "-q", "-f", "qcow2", "-u", "-F", "qcow2",
                             "-b", f"{old}.qcow2", str(tmp), str(size_gib * GIB)],
                            limits=INFO_LIMITS)
            self._publish(new)
            if self._exported(volume_id):
                sock = str(self._qmp_path(volume_id))
                await qmp(sock, ("blockdev-add", {
                    "driver": "qcow2", "node-name": _node(new), "backing": None,
                    "file": {"driver": "file", "filename": str(self._layer_path(new))}}))
                try:
                    await qmp(sock, ("blockdev-snapshot",
                                     {"node": _node(old), "overlay": _node(new)}))
                except BaseException:
                    with contextlib.suppress(BackendError):
                        await qmp(sock, ("blockdev-del", {"node-name": _node(new)}))
                    raise
        except BaseException:
            for p in (tmp, self._layer_path(new)):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            raise
        async with self._state_lock:
            self._layers[new] = old
            vol["layer"] = new
            if snapshot is not None:
                self._snapshots[snapshot[0]] = {"volume": snapshot[1], "layer": old,
                                                "size_gib": size_gib}
            else:
                self._pinned[old] += 1  # the caller unpins it once it is referenced
            await self._commit()
        try:
            await self._flatten_if_deep(volume_id)
        except BaseException:
            if snapshot is None:
                self._unpin(old)
            raise
        return str(old)

    async def _flatten_if_deep(self, volume_id: str) -> None:
        """Rebase the volume's top layer onto the bottom of its chain when the chain is
        deeper than ``max_chain_depth``, copying only what the middle layers changed.
        Call with the volume's lock held. While the volume is exported this waits for
        ``release_export`` or the next ``export_path`` (which flatten before their
        daemon starts): qemu's ``block-stream`` cannot run on a node a FUSE export
        holds (they conflict on the resize permission), and changing a file under a
        running daemon's cached metadata is not safe."""
        top = self._volumes[volume_id]["layer"]
        if self._depth(top) <= self.max_chain_depth or self._exported(volume_id):
            return
        base = self._bottom(top)
        await self._img(["rebase", "-q", "-f", "qcow2", "-F", "qcow2",
                         "-b", f"{base}.qcow2", str(self._layer_path(top))])
        async with self._state_lock:
            self._layers[top] = base
            await self._commit()

    async def snapshot(self, snapshot_id: str, volume_id: str) -> SnapshotInfo:
        check_id(snapshot_id, "snapshot")
        async with self._lock(check_id(volume_id)):
            self._volume(volume_id)
            async with self._state_lock:
                if snapshot_id in self._snapshots or snapshot_id in self._creating_snaps:
                    raise AlreadyExists(f"snapshot {snapshot_id} already exists")
                self._creating_snaps.add(snapshot_id)
            try:
                await self._freeze(volume_id, snapshot=(snapshot_id, volume_id))
            finally:
                self._creating_snaps.discard(snapshot_id)
            return await self.snapshot_info(snapshot_id)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        check_id(snapshot_id, "snapshot")
        async with self._state_lock:
            snap = self._snapshots.pop(snapshot_id, None)
            if snap is None:
                return
            try:
                await self._commit()
            except BaseException:
                self._snapshots[snapshot_id] = snap
                raise

    async def snapshot_info(self, snapshot_id: str) -> SnapshotInfo:
        snap = self._snapshot(snapshot_id)
        return SnapshotInfo(snapshot_id, snap["volume"], snap["size_gib"])

    # -- existing volumes --------------------------------------------------------

    def _volume(self, volume_id: str) -> dict[str, Any]:
        check_id(volume_id)
        try:
            return self._volumes[volume_id]
        except KeyError:
            raise NotFound(f"volume {volume_id} not found") from None

    def _snapshot(self, snapshot_id: str) -> dict[str, Any]:
        check_id(snapshot_id, "snapshot")
        try:
            return self._snapshots[snapshot_id]
        except KeyError:
            raise NotFound(f"snapshot {snapshot_id} not found") from None

    def _info(self, volume_id: str) -> VolumeInfo:
        vol = self._volume(volume_id)
        return VolumeInfo(volume_id, vol["size_gib"], str(self._layer_path(vol["layer"])),
                          "qcow2")

    async def info(self, volume_id: str) -> VolumeInfo:
        return self._info(volume_id)

    async def list_volumes(self) -> list[VolumeInfo]:
        return [self._info(v) for v in sorted(self._volumes)]

    def chain(self, volume_id: str) -> list[str]:
        """The files of the volume's chain, top first (for tests and operators)."""
        layer: str | None = self._volume(volume_id)["layer"]
        out = []
        while layer is not None:
            out.append(str(self._layer_path(layer)))
            layer = self._layers[layer]
        return out

    async def extend(self, volume_id: str, new_size_gib: int) -> VolumeInfo:
        async with self._lock(check_id(volume_id)):
            vol = self._volume(volume_id)
            check_size(new_size_gib)
            if new_size_gib <= vol["size_gib"]:
                raise InvalidArgument(f"new size {new_size_gib} GiB is not larger than "
                                      f"{vol['size_gib']} GiB")
            size = new_size_gib * GIB
            if self._exported(volume_id):
                await qmp(str(self._qmp_path(volume_id)),
                          ("block_resize", {"node-name": _node(vol["layer"]), "size": size}))
            else:
                await self._img(["resize", "-q", "-f", "qcow2",
                                 str(self._layer_path(vol["layer"])), str(size)],
                                limits=INFO_LIMITS)
            async with self._state_lock:
                old = vol["size_gib"]
                vol["size_gib"] = new_size_gib
                try:
                    await self._commit()
                except BaseException:
                    vol["size_gib"] = old
                    raise
            return self._info(volume_id)

    async def delete(self, volume_id: str) -> None:
        async with self._lock(check_id(volume_id)):
            if volume_id not in self._volumes:
                return
            if self._exported(volume_id):
                raise InUse(f"volume {volume_id} is exported")
            async with self._state_lock:
                snaps = sorted(s for s, snap in self._snapshots.items()
                               if snap["volume"] == volume_id)
                if snaps:
                    raise HasDependents(f"volume {volume_id} has snapshots: {', '.join(snaps)}")
                vol = self._volumes.pop(volume_id)
                try:
                    await self._commit()
                except BaseException:
                    self._volumes[volume_id] = vol
                    raise
        self._locks.pop(volume_id, None)
        with contextlib.suppress(FileNotFoundError):
            self._export_file(volume_id).unlink()

    async def copy_to_file(self, volume_id: str, dest: str, fmt: str = "raw") -> None:
        if fmt not in COPY_FORMATS:
            raise InvalidArgument(f"cannot copy to format {fmt!r}: one of {COPY_FORMATS}")
        async with self._lock(check_id(volume_id)):
            vol = self._volume(volume_id)
            if self._exported(volume_id):
                src, src_fmt = str(self._export_file(volume_id)), "raw"
            else:
                src, src_fmt = str(self._layer_path(vol["layer"])), "qcow2"
            tmp = f"{dest}.tmp-{uuid.uuid4().hex[:12]}"
            try:
                await self._img(["convert", "-q", "-f", src_fmt, "-O", fmt, src, tmp])
                os.replace(tmp, dest)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    async def stats(self) -> dict[str, int]:
        st = os.statvfs(self.root)
        provisioned = (sum(v["size_gib"] for v in self._volumes.values())
                       + sum(s["size_gib"] for s in self._snapshots.values())) * GIB
        return {"total_bytes": st.f_blocks * st.f_frsize,
                "free_bytes": st.f_bavail * st.f_frsize,
                "provisioned_bytes": provisioned}

    # -- exports -------------------------------------------------------------------

    def _exported(self, volume_id: str) -> bool:
        return _mounted(self._export_file(volume_id))

    async def export_path(self, volume_id: str) -> str:
        async with self._lock(check_id(volume_id)):
            vol = self._volume(volume_id)
            mountpoint = self._export_file(volume_id)
            if self._exported(volume_id):
                try:
                    await qmp(str(self._qmp_path(volume_id)), ("query-block-exports", None),
                              deadline=5.0)
                    return str(mountpoint)
                except QmpError:
                    await self._stop_daemon(volume_id)  # a stale mount of a dead daemon
            await self._flatten_if_deep(volume_id)
            await self._start_daemon(volume_id, vol["layer"])
            return str(mountpoint)

    async def release_export(self, volume_id: str) -> None:
        async with self._lock(check_id(volume_id)):
            await self._stop_daemon(volume_id)
            with contextlib.suppress(FileNotFoundError):
                self._export_file(volume_id).unlink()
            if volume_id in self._volumes:
                await self._flatten_if_deep(volume_id)

    async def _start_daemon(self, volume_id: str, layer: str) -> None:
        mountpoint = self._export_file(volume_id)
        sock, pidfile = self._qmp_path(volume_id), self._pid_path(volume_id)
        for p in (sock, pidfile):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        mountpoint.touch(exist_ok=True)
        blockdev = {"driver": "qcow2", "node-name": _node(layer),
                    "file": {"driver": "file", "filename": str(self._layer_path(layer))}}
        export = {"type": "fuse", "id": "export", "node-name": _node(layer),
                  "mountpoint": str(mountpoint), "writable": True, "growable": False}
        argv = [self.storage_daemon, "--blockdev", json.dumps(blockdev),
                "--export", json.dumps(export),
                "--chardev", f"socket,id=qmp,path={str(sock).replace(',', ',,')},"
                             "server=on,wait=off",
                "--monitor", "chardev=qmp,mode=control",
                "--pidfile", str(pidfile), "--daemonize"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise BackendError(f"cannot run {self.storage_daemon}: {exc.strerror or exc}") \
                from None
        try:
            async with asyncio.timeout(DAEMON_START_TIMEOUT):
                _, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            await self._stop_daemon(volume_id)
            raise BackendError(f"{self.storage_daemon} did not start in time") from None
        if proc.returncode != 0 or not self._exported(volume_id):
            await self._stop_daemon(volume_id)
            tail = err.decode("utf-8", "replace").strip()[-1000:]
            raise BackendError(f"{self.storage_daemon} failed to export volume {volume_id} "
                               f"(exit status {proc.returncode}): {tail}")

    async def _stop_daemon(self, volume_id: str) -> None:
        """Quit the volume's storage daemon (if any) and make sure nothing is mounted."""
        mountpoint = self._export_file(volume_id)
        sock, pidfile = self._qmp_path(volume_id), self._pid_path(volume_id)
        if sock.exists():
            with contextlib.suppress(QmpError):
                await qmp(str(sock), ("quit", None), deadline=DAEMON_STOP_TIMEOUT)
        pid = _read_pid(pidfile)
        for _ in range(int(DAEMON_STOP_TIMEOUT / 0.02)):  # no event tells: poll
            if not (_mounted(mountpoint) or _alive(pid)):
                break
            await asyncio.sleep(0.02)
        if pid is not None and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if _mounted(mountpoint):  # the daemon died without unmounting
            umount = shutil.which("umount") or "/bin/umount"
            proc = await asyncio.create_subprocess_exec(
                umount, "-l", str(mountpoint), stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            _, err = await proc.communicate()
            if _mounted(mountpoint):
                raise BackendError(f"cannot unmount {mountpoint}: "
                                   f"{err.decode('utf-8', 'replace').strip()}")
        for p in (sock, pidfile):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    # -- manage / unmanage (blockstore.backends.file_manage) -----------------------

    async def list_manageable(self) -> list[Manageable]:
        return await file_manage.list_manageable(self)

    async def manage(self, volume_id: str, name: str) -> VolumeInfo:
        return await file_manage.manage(self, volume_id, name)

    async def unmanage(self, volume_id: str) -> str:
        return await file_manage.unmanage(self, volume_id)

    async def manage_snapshot(self, snapshot_id: str, volume_id: str,
                              name: str) -> SnapshotInfo:
        return await file_manage.manage_snapshot(self, snapshot_id, volume_id, name)

    async def unmanage_snapshot(self, snapshot_id: str) -> str:
        return await file_manage.unmanage_snapshot(self, snapshot_id)

    def exported_volumes(self) -> list[str]:
        """Ids of the volumes whose raw view is mounted now."""
        return sorted(v for v in self._volumes if self._exported(v))


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped, does not count)."""
    if pid is None:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")

