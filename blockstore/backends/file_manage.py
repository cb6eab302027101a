"""Manage and unmanage for the file backend (``FileBackend`` delegates here).

Manageable data is the files in ``<root>/manageable/``: a disk image an
operator drops there (``*.qcow2`` is read as qcow2, anything else as raw)
can become a volume (``manage``) or a snapshot of one (``manage_snapshot``).
Taking a file copies it into a new layer of its own (``qemu-img convert``,
grown to whole GiB), registers it in the state, and only then removes the
file, so a failure leaves the file where it was. Unmanaging writes the
volume's (or snapshot's) whole chain into one standalone qcow2 file there,
``volume-<id>.qcow2`` (``snapshot-<id>.qcow2``), before the volume leaves
the state: the data stays on the storage and can be managed again.

A file that is not a readable image of its format, or a qcow2 naming a
backing or data file, is listed as not safe and refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from blockstore.backends._qemu import image_info
from blockstore.backends.base import (
    GIB,
    AlreadyExists,
    HasDependents,
    InUse,
    InvalidArgument,
    Manageable,
    NotFound,
    SnapshotInfo,
    VolumeInfo,
    check_id,
)

if TYPE_CHECKING:
    from blockstore.backends.file import FileBackend

DIR = "manageable"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def directory(fb: FileBackend) -> Path:
    return fb.root / DIR


def prepare(fb: FileBackend) -> None:
    """Make the directory; drop what an interrupted unmanage left half written."""
    d = directory(fb)
    d.mkdir(parents=True, exist_ok=True)
    for entry in d.iterdir():
        if entry.name.startswith(".tmp-"):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _format(name: str) -> str:
    return "qcow2" if name.endswith(".qcow2") else "raw"


def _gib(size: int) -> int:
    return max(1, -(-size // GIB))


def _source(fb: FileBackend, name: str) -> Path:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidArgument(f"invalid manageable name {name!r}")
    path = directory(fb) / name
    if not path.is_file():
        raise NotFound(f"nothing manageable is named {name!r}")
    return path


async def list_manageable(fb: FileBackend) -> list[Manageable]:
    out = []
    for entry in sorted(directory(fb).iterdir()):
        if not entry.is_file() or not NAME_RE.fullmatch(entry.name):
            continue
        try:
            info = await image_info(str(entry), _format(entry.name),
                                    binary=fb.qemu_img_binary)
        except InvalidArgument as exc:
            out.append(Manageable(entry.name, _gib(entry.stat().st_size), False, str(exc)))
            continue
        out.append(Manageable(entry.name, _gib(info.virtual_size), True))
    return out


async def _new_layer(fb: FileBackend, made: list[str], source: Path) -> tuple[str, int]:
    """A new standalone layer holding ``source``'s image, grown to whole GiB (published,
    not yet in the state; listed in ``made`` for clean-up); (layer, size in GiB)."""
    fmt = _format(source.name)
    info = await image_info(str(source), fmt, binary=fb.qemu_img_binary)
    size_gib = _gib(info.virtual_size)
    layer = uuid.uuid4().hex
    made.append(layer)
    tmp = str(fb._tmp_layer_path(layer))
    await fb._img(["convert", "-q", "-f", fmt, "-O", "qcow2", str(source), tmp])
    if info.virtual_size != size_gib * GIB:
        await fb._img(["resize", "-q", "-f", "qcow2", tmp, str(size_gib * GIB)])
    fb._publish(layer)
    return layer, size_gib


def _drop_files(fb: FileBackend, layers: list[str]) -> None:
    for layer in layers:
        if layer not in fb._layers:
            for p in (fb._tmp_layer_path(layer), fb._layer_path(layer)):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


async def manage(fb: FileBackend, volume_id: str, name: str) -> VolumeInfo:
    source = _source(fb, name)
    check_id(volume_id)
    fmt = _format(name)
    size_gib = _gib((await image_info(str(source), fmt,
                                      binary=fb.qemu_img_binary)).virtual_size)
    async with fb._new_volume(volume_id, size_gib) as made:
        layer, size_gib = await _new_layer(fb, made, source)
        info = await fb._register(volume_id, size_gib, {layer: None}, layer)
    with contextlib.suppress(FileNotFoundError):
        source.unlink()
    return info


async def manage_snapshot(fb: FileBackend, snapshot_id: str, volume_id: str,
                          name: str) -> SnapshotInfo:
    source = _source(fb, name)
    check_id(snapshot_id, "snapshot")
    fb._volume(volume_id)
    if snapshot_id in fb._snapshots or snapshot_id in fb._creating_snaps:
        raise AlreadyExists(f"snapshot {snapshot_id} already exists")
    fb._creating_snaps.add(snapshot_id)
    made: list[str] = []
    try:
        layer, size_gib = await _new_layer(fb, made, source)
        async with fb._state_lock:
            fb._layers[layer] = None
            fb._snapshots[snapshot_id] = {"volume": volume_id, "layer": layer,
                                          "size_gib": size_gib}
            try:
                await fb._commit()
            except BaseException:
                del fb._snapshots[snapshot_id]
                del fb._layers[layer]
                raise
    except BaseException:
        _drop_files(fb, made)
        raise
    finally:
        fb._creating_snaps.discard(snapshot_id)
    with contextlib.suppress(FileNotFoundError):
        source.unlink()
    return SnapshotInfo(snapshot_id, volume_id, size_gib)


async def _write_out(fb: FileBackend, layer: str, name: str) -> Path:
    """The chain ending at ``layer`` as one standalone qcow2 file ``name`` in the
    manageable directory (written to a temporary name, then renamed)."""
    dest = directory(fb) / name
    if dest.exists():
        raise AlreadyExists(f"manageable data named {name!r} already exists")
    tmp = directory(fb) / f".tmp-{name}"
    try:
        await fb._img(["convert", "-q", "-f", "qcow2", "-O", "qcow2",
                       str(fb._layer_path(layer)), str(tmp)])
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return dest


async def unmanage(fb: FileBackend, volume_id: str) -> str:
    async with fb._lock(check_id(volume_id)):
        vol = fb._volume(volume_id)
        if fb._exported(volume_id):
            raise InUse(f"volume {volume_id} is exported")
        if any(snap["volume"] == volume_id for snap in fb._snapshots.values()):
            raise HasDependents(f"volume {volume_id} has snapshots")
        dest = await _write_out(fb, vol["layer"], f"volume-{volume_id}.qcow2")
        async with fb._state_lock:
            fb._volumes.pop(volume_id)
            try:
                await fb._commit()
            except BaseException:
                fb._volumes[volume_id] = vol
                dest.unlink()
                raise
    fb._locks.pop(volume_id, None)
    return dest.name


async def unmanage_snapshot(fb: FileBackend, snapshot_id: str) -> str:
    snap = fb._snapshot(snapshot_id)
    dest = await _write_out(fb, snap["layer"], f"snapshot-{snapshot_id}.qcow2")
    async with fb._state_lock:
        fb._snapshots.pop(snapshot_id, None)
        try:
            await fb._commit()
        except BaseException:
            fb._snapshots[snapshot_id] = snap
            dest.unlink()
            raise
    return dest.name
