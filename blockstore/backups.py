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

Errors are :class:`BackupError` (message safe to show in ``fail_reason``).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

METADATA = "metadata.json"
FORMAT_VERSION = 1
DELETE_CONCURRENCY = 8
LISTING_LIMIT = 1000


class BackupError(Exception):
    """A backup, restore or delete failed; the message is safe to show."""


def chunk_name(backup_id: str, index: int) -> str:
    return f"{backup_id}/{index:05d}"


class BackupObjects:
    """The few Swift calls backups need, in one account, with a token coroutine."""

    def __init__(self, proxy_url: str, token: Callable[[], Awaitable[str]],
                 account: Callable[[], Awaitable[str]], session: aiohttp.ClientSession,
                 *, read_timeout: float = 300) -> None:
        self.proxy_url = proxy_url.rstrip("/")
        self._token = token
        self._account = account
        self._account_name: str | None = None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=10,
                                              sock_read=read_timeout)
        self._ready: set[str] = set()

    async def _url(self, container: str, obj: str | None = None) -> str:
        if self._account_name is None:
            self._account_name = await self._account()
        url = f"{self.proxy_url}/v1/{quote(self._account_name, safe='')}/" \
              f"{quote(container, safe='')}"
        return url if obj is None else f"{url}/{quote(obj, safe='/')}"

    async def _call(self, method: str, container: str, obj: str | None, ok: tuple[int, ...],
                    **kw: Any) -> tuple[int, bytes, dict[str, str]]:
        try:
            token = await self._token()
            headers = {"X-Auth-Token": token, **kw.pop("headers", {})}
            async with self._session.request(method, await self._url(container, obj),
                                             headers=headers, timeout=self._timeout,
                                             **kw) as r:
                body = await r.read()
                if r.status not in ok:
                    raise BackupError(f"the object store answered {r.status} to {method} "
                                      f"{container}/{obj or ''}")
                return r.status, body, dict(r.headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise BackupError(f"the object store is unreachable ({type(exc).__name__})") \
                from exc
        except BackupError:
            raise
        except Exception as exc:  # identity failed to give the service user a token
            raise BackupError(f"cannot authenticate to the object store: {exc}") from exc

    async def ensure_container(self, container: str) -> None:
        if container not in self._ready:
            await self._call("PUT", container, None, (201, 202, 204))
            self._ready.add(container)

    async def put(self, container: str, name: str, data: bytes, md5: str) -> None:
        await self._call("PUT", container, name, (201,), data=data, headers={
            "ETag": md5, "Content-Type": "application/octet-stream"})

    async def get(self, container: str, name: str) -> bytes:
        return (await self._call("GET", container, name, (200,)))[1]

    async def delete(self, container: str, name: str) -> None:
        await self._call("DELETE", container, name, (204, 404))

    async def listing(self, container: str, prefix: str) -> list[str]:
        names: list[str] = []
        marker = ""
        while True:
            status, body, _ = await self._call("GET", container, None, (200, 204, 404), params={
                "format": "json", "prefix": prefix, "marker": marker,
                "limit": str(LISTING_LIMIT)})
            page = json.loads(body) if status == 200 and body else []
            names += [str(item["name"]) for item in page]
            if len(page) < LISTING_LIMIT:
                return names
            marker = str(page[-1]["name"])


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

    def __init__(self, objects: BackupObjects, *, chunk_size: int) -> None:
        if chunk_size < 1 << 20:
            raise ValueError("backup chunk size must be at least 1 MiB")
        self.objects = objects
        self.chunk_size = chunk_size

    async def write(self, raw_path: str, *, backup_id: str, volume_id: str, size_gib: int,
                    container: str, parent: dict[str, Any] | None) -> Written:
        """Back up ``raw_path`` (the volume's raw bytes) as ``backup_id``; with
        ``parent`` (its map), store only chunks that differ from it."""
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
                        await self.objects.put(container, chunk_name(backup_id, index),
                                               data, md5)
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
        await self.objects.put(container, f"{backup_id}/{METADATA}", body,
                               hashlib.md5(body).hexdigest())
        return Written(meta, count, stored)

    async def metadata(self, container: str, backup_id: str) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(
                await self.objects.get(container, f"{backup_id}/{METADATA}"))
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
                data = await self.objects.get(str(c["container"]),
                                              chunk_name(str(c["backup_id"]), int(c["index"])))
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
        names = await self.objects.listing(container, f"{backup_id}/")
        limit = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def one(name: str) -> None:
            async with limit:
                await self.objects.delete(container, name)

        # the map goes last: a backup whose delete failed part-way keeps its map
        chunk_names = [n for n in names if not n.endswith("/" + METADATA)]
        await asyncio.gather(*(one(n) for n in chunk_names))
        await self.objects.delete(container, f"{backup_id}/{METADATA}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
