"""Volume backends: where the block store keeps volume data (contract in ``base``).

``MemoryBackend`` is the in-memory reference implementation; ``FileBackend``
keeps volumes as qcow2 chains in a directory and serves raw views of them
for the iSCSI target.
"""

from blockstore.backends import base
from blockstore.backends.base import *  # noqa: F403 (the contract: base.__all__)
from blockstore.backends.file import FileBackend
from blockstore.backends.memory import MemoryBackend

__all__ = ["FileBackend", "MemoryBackend"]
__all__ += base.__all__
