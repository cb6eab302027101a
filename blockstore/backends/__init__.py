"""Volume backends: where the block store keeps volume data (contract in ``base``).

``MemoryBackend`` is the in-memory reference implementation; ``FileBackend``
keeps volumes as qcow2 chains in a directory and serves raw views of them
for the iSCSI target.
"""

from blockstore.backends.base import (
    AlreadyExists,
    BackendError,
    HasDependents,
    InUse,
    InvalidArgument,
    NoSpace,
    NotFound,
    SnapshotInfo,
    VolumeBackend,
    VolumeInfo,
)
from blockstore.backends.file import FileBackend
from blockstore.backends.memory import MemoryBackend

__all__ = [
    "AlreadyExists", "BackendError", "FileBackend", "HasDependents", "InUse",
    "InvalidArgument", "MemoryBackend", "NoSpace", "NotFound", "SnapshotInfo",
    "VolumeBackend", "VolumeInfo",
]
