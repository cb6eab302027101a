"""The contract every volume backend keeps.

A backend stores the bytes of volumes and snapshots on one storage host; the
volume manager keeps everything else (status, names, owners, attachments) in
its database and refers to volumes and snapshots by the ids it chose.

The contract (one shared suite, ``tests/functional/blockstore/test_backends.py``,
checks it against every implementation):

* Ids are 1-64 characters ``[A-Za-z0-9_-]`` starting with a letter or digit
  (UUIDs fit); anything else (``..``, ``/``, NUL, empty) is refused with
  :class:`InvalidArgument` before any file is touched. Volume ids and
  snapshot ids are separate namespaces; reusing a live id in its namespace
  is :class:`AlreadyExists`.
* Sizes are whole GiB, at least 1. A volume always reads as exactly
  ``size_gib`` GiB; bytes never written read as zeros.
* Every create (``create``, ``create_from_image``, ``clone``,
  ``create_from_snapshot``) is atomic: it either returns the new volume or
  raises, and then nothing of it is left behind (no file, no space used, the
  id free again). The new volume is independent of its source: writes to
  either are never seen by the other. Backends may share unchanged data
  between them underneath (the file backend does).
* ``snapshot`` freezes a volume's contents at that instant, also while the
  volume is exported and being written through its export (crash
  consistent, as a power cut would leave it). A snapshot's size is the
  volume's size when it was taken.
* ``extend`` only grows: a size equal to or smaller than the current one is
  :class:`InvalidArgument`. It works while the volume is exported; the export
  path then reads as the new size (after the target rescans).
* ``delete(volume_id)`` is idempotent (an unknown id is fine). A volume
  that still has snapshots is :class:`HasDependents`; one that is exported
  is :class:`InUse` (``release_export`` first). Volumes cloned from it, or
  created from its snapshots, never block its deletion.
* ``delete_snapshot`` is idempotent too, and never blocked by volumes created
  from the snapshot.
* ``export_path(volume_id)`` returns a path the iSCSI target serves as a LUN
  with a plain file backing store (tgt ``rdwr``, LIO ``fileio``): it reads
  and writes as the volume's raw bytes, ``size_gib`` GiB long, whatever the
  backend's storage format is. Calling it again returns the same path; it
  stays valid until ``release_export`` (idempotent), which the manager calls
  after the target stopped serving it. After a restart of the manager
  (``open()`` on a new backend object), call ``export_path`` again for every
  attached volume: it restarts whatever serves the path if needed.
* ``copy_to_file(volume_id, dest, fmt)`` writes the volume's contents to
  ``dest`` as ``raw`` or ``qcow2`` (for upload-to-image and backups),
  atomically (a temporary name renamed into place), also while exported.
* ``stats()`` answers ``total_bytes``, ``free_bytes`` (what the storage
  still has) and ``provisioned_bytes`` (sum of the sizes of volumes and
  snapshots: thin backends may provision more than ``total_bytes``).
* Every error is a :class:`BackendError` whose message is safe to show an
  administrator; running out of space is :class:`NoSpace` (and the failed
  operation left nothing behind).
* Manage and unmanage (Cinder's ``os-volume-manage``/``os-snapshot-manage``):
  ``list_manageable()`` lists the data on the storage that is no volume or
  snapshot of the backend's (named as ``manage`` takes it, its size rounded
  up to whole GiB, whether it is safe to take and why not). ``manage``
  makes such data the volume ``volume_id`` (its bytes unchanged, then grown
  to whole GiB) and ``manage_snapshot`` a snapshot of an existing volume;
  either is no longer listed. ``unmanage`` and ``unmanage_snapshot`` forget a
  volume or snapshot but leave its data on the storage, listed under the
  name they return, so it can be managed again. An unknown name is
  :class:`NotFound`, unsafe data :class:`InvalidArgument`; a volume exported
  (:class:`InUse`) or with snapshots (:class:`HasDependents`) cannot be
  unmanaged.
* ``open()`` is called once before use (it recovers from a crash: leftovers
  of interrupted operations are removed); ``close()`` releases in-process
  resources, but leaves exports serving (the manager may be restarting).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [  # the contract, as ``blockstore.backends`` re-exports it
    "AlreadyExists", "BackendError", "HasDependents", "InUse", "InvalidArgument",
    "Manageable", "NoSpace", "NotFound", "SnapshotInfo", "VolumeBackend", "VolumeInfo"]

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
GIB = 1 << 30


@dataclass(frozen=True)
class VolumeInfo:
    """What a backend says about one volume."""

    id: str
    size_gib: int
    path: str  # where the backend stores it (file, device): NOT what to export, see export_path
    format: str  # the storage format of ``path``: "raw" or "qcow2"


@dataclass(frozen=True)
class SnapshotInfo:
    """What a backend says about one snapshot."""

    id: str
    volume_id: str  # the volume it was taken of (which may be deleted since)
    size_gib: int


@dataclass(frozen=True)
class Manageable:
    """Data on the storage that no volume or snapshot is, which ``manage`` can take."""

    name: str  # what ``manage`` is given (Cinder's ``source-name``)
    size_gib: int  # rounded up to whole GiB
    safe: bool  # whether ``manage`` would take it
    reason: str | None = None  # why not, when it is not safe


class BackendError(Exception):
    """The backend failed; the message is safe to show an administrator."""


class InvalidArgument(BackendError):
    """A bad id, size or format (the API answers 400)."""


class NotFound(BackendError):
    """No volume or snapshot with that id."""


class AlreadyExists(BackendError):
    """The id is already used by a volume (or snapshot)."""


class InUse(BackendError):
    """The volume is exported; release the export first."""


class HasDependents(BackendError):
    """The volume still has snapshots."""


class NoSpace(BackendError):
    """The storage is full."""


def check_id(value: str, what: str = "volume") -> str:
    """``value`` if it is a valid id, else :class:`InvalidArgument`."""
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise InvalidArgument(f"invalid {what} id {value!r}")
    return value


def check_size(size_gib: int) -> int:
    """``size_gib`` if it is a whole number of GiB, at least 1."""
    if isinstance(size_gib, bool) or not isinstance(size_gib, int) or size_gib < 1:
        raise InvalidArgument(f"invalid size {size_gib!r}: a whole number of GiB, at least 1")
    return size_gib


COPY_FORMATS = ("raw", "qcow2")


@runtime_checkable
class VolumeBackend(Protocol):
    """The volume backend contract (see the module docstring for the rules)."""

    name: str

    async def open(self) -> None:
        """Prepare for use; remove leftovers of operations a crash interrupted."""

    async def close(self) -> None:
        """Release in-process resources (exports keep serving)."""

    async def create(self, volume_id: str, size_gib: int) -> VolumeInfo:
        """A blank volume (reads as zeros)."""

    async def create_from_image(
        self, volume_id: str, size_gib: int, image_path: str, image_format: str
    ) -> VolumeInfo:
        """A volume holding the image's disk (converted from ``image_format``, a Glance
        disk_format, never probed), grown to ``size_gib``. An image whose virtual size
        is larger than ``size_gib`` is :class:`InvalidArgument`; an image with a backing
        file is refused."""

    async def clone(self, volume_id: str, source_id: str, size_gib: int) -> VolumeInfo:
        """A new volume with ``source_id``'s current contents, ``size_gib`` >= its size."""

    async def snapshot(self, snapshot_id: str, volume_id: str) -> SnapshotInfo:
        """Freeze ``volume_id``'s contents now under ``snapshot_id``."""

    async def delete_snapshot(self, snapshot_id: str) -> None:
        """Forget a snapshot (idempotent)."""

    async def snapshot_info(self, snapshot_id: str) -> SnapshotInfo:
        """The snapshot, or :class:`NotFound`."""

    async def create_from_snapshot(
        self, volume_id: str, snapshot_id: str, size_gib: int
    ) -> VolumeInfo:
        """A new volume with the snapshot's contents, ``size_gib`` >= the snapshot's size."""

    async def extend(self, volume_id: str, new_size_gib: int) -> VolumeInfo:
        """Grow the volume (only larger)."""

    async def delete(self, volume_id: str) -> None:
        """Delete the volume (idempotent; :class:`HasDependents`, :class:`InUse`)."""

    async def info(self, volume_id: str) -> VolumeInfo:
        """The volume, or :class:`NotFound`."""

    async def list_volumes(self) -> list[VolumeInfo]:
        """Every volume, sorted by id."""

    async def export_path(self, volume_id: str) -> str:
        """A file reading and writing as the volume's raw bytes, for the iSCSI target."""

    async def release_export(self, volume_id: str) -> None:
        """Stop serving ``export_path`` (idempotent; call after the target let go)."""

    async def copy_to_file(self, volume_id: str, dest: str, fmt: str = "raw") -> None:
        """Write the volume's contents to ``dest`` as ``raw`` or ``qcow2``."""

    async def stats(self) -> dict[str, int]:
        """``total_bytes``, ``free_bytes``, ``provisioned_bytes``."""

    async def list_manageable(self) -> list[Manageable]:
        """Data no volume or snapshot is, that ``manage`` could take; sorted by name."""

    async def manage(self, volume_id: str, name: str) -> VolumeInfo:
        """Make the manageable data ``name`` the volume ``volume_id``."""

    async def unmanage(self, volume_id: str) -> str:
        """Forget the volume, leaving its data manageable; the name it is listed under."""

    async def manage_snapshot(self, snapshot_id: str, volume_id: str,
                              name: str) -> SnapshotInfo:
        """Make the manageable data ``name`` a snapshot of the volume ``volume_id``."""

    async def unmanage_snapshot(self, snapshot_id: str) -> str:
        """Forget the snapshot, leaving its data manageable; the name it is listed under."""
