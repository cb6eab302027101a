"""Volume backups in Strata's object store (Swift API, the service user's account).

A backup of volume bytes (a raw file: ``backend.copy_to_file``) is cut into
fixed-size chunks (``[blockstore] backup_chunk_mib``). In the backup's
container (default ``volumebackups``):

* ``<backup_id>/<nnnnn>``: chunk ``nnnnn`` (from 00000) when this backup
  stores it: PUT with its MD5 as ``ETag`` (the object store checks it);
* ``<backup_id>/metadata.json``: the backup's map, written last::

    {"version": 1, "backup_id", "volume_id", "size_gib", "chunk_size",
     "parent_id", "chunks": [{"index", "offset", "length", "sha256",
                              "zero": bool, "backup_id": holder | null,
                              "container": holder's container | null}]}

  Every chunk of the volume is listed, with the backup that holds its bytes:
  a chunk of zeros is held by nobody (``zero``); a chunk whose SHA-256
  equals the parent's entry for it (an incremental backup's parent is the
  newest available backup of the volume, whose map already names the holder
  of each chunk of the whole chain) keeps the parent's holder; any other
  chunk is stored by this backup. So a restore reads one map and never
  walks the chain, and a backup's objects are only ever needed by itself
  and its descendants (deleting a backup with children is refused).

A restore writes every chunk at its offset into a raw file (the target
volume's export path) with ``pwrite``, verifying each chunk's SHA-256, and
fsyncs; zero chunks are written as zeros unless the target is known blank.

The object store calls are :class:`proxy.client.SwiftClient`'s, in the
service user's account (``SwiftClient.for_service``). Errors are
:class:`BackupError` (message safe to show in ``fail_reason``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from common.httpclient import RemoteError
from proxy.client import SwiftClient

METADATA = "metadata.json"
FORMAT_VERSION = 1


class BackupError(Exception):
    """A backup, restore or delete failed; the message is safe to show."""


@contextlib.contextmanager
def _object_store_errors() -> Iterator[None]:
    """The object store's failures as BackupErrors (its message: the status, the call)."""
    try:
        yield
    except RemoteError as exc:
        raise BackupError(exc.message) from exc


def chunk_name(backup_id: str, index: int) -> str:
    return f"{backup_id}/{index:05d}"


@dataclass(frozen=True)
class Written:
    """What one backup stored."""

    metadata: dict[str, Any]
    object_count: int  # chunk objects this backup wrote (its map not counted)
    stored_bytes: int


def _read_chunk(fd: int, offset: int, length: int) -> tuple[bytes | None, str, str]:
    """(data, sha256, md5) of one chunk; data None when it is all zeros (holes are
    found with SEEK_DATA without reading them)."""
    try:
        nxt = os.lseek(fd, offset, os.SEEK_DATA)
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise
        nxt = offset + length  # nothing but holes after offset
    if nxt >= offset + length:
        return None, "", ""
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise BackupError(f"short read at offset {offset} of the volume copy")
    if data.count(0) == length:
        return None, "", ""
    return data, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


class BackupEngine:
    """Writes, restores and deletes backups in the object store."""

    def __init__(self, objects: SwiftClient, *, chunk_size: int) -> None:
        if chunk_size < 1 << 20:
            raise ValueError("backup chunk size must be at least 1 MiB")
        self.objects = objects
        self.chunk_size = chunk_size

    async def write(self, raw_path: str, *, backup_id: str, volume_id: str, size_gib: int,
                    container: str, parent: dict[str, Any] | None) -> Written:
        """Back up ``raw_path`` (the volume's raw bytes) as ``backup_id``; with
        ``parent`` (its map), store only chunks that differ from it."""
        with _object_store_errors():
            return await self._write(raw_path, backup_id=backup_id, volume_id=volume_id,
                                     size_gib=size_gib, container=container, parent=parent)

    async def _write(self, raw_path: str, *, backup_id: str, volume_id: str, size_gib: int,
                     container: str, parent: dict[str, Any] | None) -> Written:
        await self.objects.ensure_container(container)
        total = size_gib << 30
        chunk = int(parent["chunk_size"]) if parent else self.chunk_size
        before: dict[int, dict[str, Any]] = {
            int(c["index"]): c for c in (parent or {}).get("chunks", [])}
        chunks: list[dict[str, Any]] = []
        count = stored = 0
        fd = os.open(raw_path, os.O_RDONLY)
        try:
            for index, offset in enumerate(range(0, total, chunk)):
                length = min(chunk, total - offset)
                data, sha, md5 = await asyncio.to_thread(_read_chunk, fd, offset, length)
                entry: dict[str, Any] = {"index": index, "offset": offset, "length": length,
                                         "sha256": sha, "zero": data is None,
                                         "backup_id": None, "container": None}
                if data is not None:
                    old = before.get(index)
                    if old and not old["zero"] and old["sha256"] == sha \
                            and old["length"] == length:
                        entry["backup_id"], entry["container"] = \
                            old["backup_id"], old["container"]
                    else:
                        await self.objects.put_object(
                            container, chunk_name(backup_id, index), data, etag=md5)
                        entry["backup_id"], entry["container"] = backup_id, container
                        count += 1
                        stored += length
                chunks.append(entry)
        finally:
            os.close(fd)
        meta = {"version": FORMAT_VERSION, "backup_id": backup_id, "volume_id": volume_id,
                "size_gib": size_gib, "chunk_size": chunk,
                "parent_id": parent["backup_id"] if parent else None, "chunks": chunks}
        body = json.dumps(meta).encode()
        await self.objects.put_object(container, f"{backup_id}/{METADATA}", body,
                                      etag=hashlib.md5(body).hexdigest())
        return Written(meta, count, stored)

    async def metadata(self, container: str, backup_id: str) -> dict[str, Any]:
        try:
            with _object_store_errors():
                raw = await self.objects.read_object(container, f"{backup_id}/{METADATA}")
            meta: dict[str, Any] = json.loads(raw)
        except ValueError:
            raise BackupError(f"backup {backup_id}: its map is not JSON") from None
        if meta.get("version") != FORMAT_VERSION or not isinstance(meta.get("chunks"), list):
            raise BackupError(f"backup {backup_id}: unknown map format")
        return meta

    async def restore(self, meta: dict[str, Any], target: str, *, blank: bool) -> None:
        """Write the backup's bytes into the raw file ``target`` (at least as large);
        ``blank``: the target reads as zeros already (zero chunks are skipped)."""
        fd = os.open(target, os.O_WRONLY)
        try:
            for c in meta["chunks"]:
                offset, length = int(c["offset"]), int(c["length"])
                if c["zero"]:
                    if not blank:
                        await asyncio.to_thread(_pwrite_all, fd, bytes(length), offset)
                    continue
                with _object_store_errors():
                    data = await self.objects.read_object(
                        str(c["container"]), chunk_name(str(c["backup_id"]), int(c["index"])))
                digest = await asyncio.to_thread(_sha256, data)
                if len(data) != length or digest != c["sha256"]:
                    raise BackupError(f"chunk {c['index']} of backup {c['backup_id']} is "
                                      "damaged (size or SHA-256 differs from the map)")
                await asyncio.to_thread(_pwrite_all, fd, data, offset)
            await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)

    async def delete(self, container: str, backup_id: str) -> None:
        """Remove every object of the backup (its chunks and map); idempotent."""
        with _object_store_errors():
            names = [str(item["name"]) async for item in
                     self.objects.list_objects(container, prefix=f"{backup_id}/")]
            # the map goes last: a backup whose delete failed part-way keeps its map
            await self.objects.delete_objects(
                container, [n for n in names if not n.endswith("/" + METADATA)])
            await self.objects.delete_object(container, f"{backup_id}/{METADATA}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
