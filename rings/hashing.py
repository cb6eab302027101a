"""Where a name lives: the hash that both the ring and the storage nodes use.

Rule 1 of the design: ``md5(prefix + "/account/container/object" + suffix)``;
the top ``part_power`` bits of the digest are the partition. The prefix and
suffix are a cluster-wide secret (from the config, never module globals), so
they are passed in explicitly.
"""

from __future__ import annotations

import hashlib

__all__ = ["hash_path", "hash_path_digest", "name_path", "partition_of"]


def name_path(account: str, container: str | None = None, obj: str | None = None) -> str:
    """The path that is hashed: ``/a``, ``/a/c`` or ``/a/c/o``.

    An object needs a container; names are used exactly as given (an object
    name may contain ``/``).
    """
    if obj is not None and container is None:
        raise ValueError("an object name needs a container name")
    if not account:
        raise ValueError("an account name is required")
    parts = [account]
    if container is not None:
        parts.append(container)
    if obj is not None:
        parts.append(obj)
    return "/" + "/".join(parts)


def hash_path_digest(
    account: str,
    container: str | None = None,
    obj: str | None = None,
    *,
    hash_prefix: bytes = b"",
    hash_suffix: bytes = b"",
) -> bytes:
    """The raw 16-byte md5 digest of a name (see :func:`hash_path`)."""
    data = hash_prefix + name_path(account, container, obj).encode("utf-8") + hash_suffix
    return hashlib.md5(data, usedforsecurity=False).digest()


def hash_path(
    account: str,
    container: str | None = None,
    obj: str | None = None,
    *,
    hash_prefix: bytes = b"",
    hash_suffix: bytes = b"",
) -> str:
    """The hex md5 of a name: storage nodes use it as the on-disk hash directory."""
    return hash_path_digest(
        account, container, obj, hash_prefix=hash_prefix, hash_suffix=hash_suffix
    ).hex()


def partition_of(digest: bytes, part_power: int) -> int:
    """The partition a digest falls in: its top ``part_power`` bits (0 <= power <= 32)."""
    if not 0 <= part_power <= 32:
        raise ValueError(f"part_power must be between 0 and 32, not {part_power}")
    return int.from_bytes(digest[:4], "big") >> (32 - part_power)
