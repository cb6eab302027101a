"""The object auditor: re-reads every object on this node and checks its bytes.

For every hash directory on every local device it reads the metadata of all
the object's files (unreadable metadata: corrupt) and the ``.data`` bytes,
computes their MD5 and length and compares them with the ``ETag`` and
``Content-Length`` the object was stored with. A corrupt object is
quarantined (:meth:`ObjectBackend.quarantine` moves its hash directory to
``<device>/quarantined/objects/`` and marks its suffix dirty) and the partition
is marked changed, so the next replication pass compares it with the peers and
asks one holding what this node now lacks to push it a good copy.

Reading is rate limited (files and bytes per second) so auditing never
starves client requests; all file work runs in the node's thread pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from common.config import StrataConfig
from objectstore import hashes
from objectstore.diskfile import DiskBackend, QuarantineError, read_xattr_metadata
from objectstore.node import NODE, NodeContext, Pass, periodic
from objectstore.object_server import BACKENDS

log = logging.getLogger(__name__)

CHUNK = 1 << 20


@dataclass
class AuditStats:
    objects: int = 0
    bytes: int = 0
    quarantined: int = 0
    errors: int = 0
    elapsed: float = 0.0

    def summary(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                         if f.name != "elapsed") + f" in {self.elapsed:.2f}s"


class RateLimiter:
    """Spreads ``amount``s over time so that at most ``rate`` pass per second
    (0 or less: no limit). Time not used is not saved up beyond one second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = time.monotonic()

    async def take(self, amount: float = 1.0) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        self._next = max(self._next, now - 1.0) + amount / self.rate
        if self._next > now:
            await asyncio.sleep(self._next - now)


@dataclass
class _Opened:
    f: IO[bytes]
    metadata: dict[str, Any]


@dataclass
class ObjectAuditor:
    node: NodeContext
    backend: DiskBackend
    files_per_second: float = 20.0
    bytes_per_second: float = 10 * (1 << 20)

    async def audit_once(self) -> AuditStats:
        stats = AuditStats()
        start = time.monotonic()
        files = RateLimiter(self.files_per_second)
        nbytes = RateLimiter(self.bytes_per_second)
        for device in await self.node.run(self.node.local_devices):
            objects = self.node.devices / device / self.backend.data_dir
            for part in await self.node.run(_list, objects, hashes.is_partition):
                for obj_hash in await self.node.run(_hash_dirs, objects / part):
                    await files.take()
                    try:
                        await self._audit(device, part, obj_hash, stats, nbytes)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        stats.errors += 1
                        log.exception("auditing %s/%s/%s failed", device, part, obj_hash)
        stats.elapsed = time.monotonic() - start
        level = logging.INFO if stats.quarantined or stats.errors else logging.DEBUG
        log.log(level, "object audit pass: %s", stats.summary())
        return stats

    async def _audit(self, device: str, part: str, obj_hash: str, stats: AuditStats,
                     nbytes: RateLimiter) -> None:
        where = f"{device}/{self.backend.data_dir}/{part}/{obj_hash}"
        try:
            opened = await self.node.run(self._open, device, part, obj_hash)
        except QuarantineError as exc:
            await self._quarantine(device, part, obj_hash, str(exc), stats)
            return
        if opened is None:
            return  # no data (a tombstone), or replaced while we looked
        stats.objects += 1
        md5 = hashlib.md5(usedforsecurity=False)
        length = 0
        try:
            while n := await self.node.run(_read_into, opened.f, md5):
                length += n
                await nbytes.take(n)
        except OSError as exc:
            await self._quarantine(device, part, obj_hash, f"unreadable: {exc}", stats)
            return
        finally:
            await self.node.run(opened.f.close)
        stats.bytes += length
        want_len = str(opened.metadata.get("Content-Length", ""))
        want_etag = str(opened.metadata.get("ETag", "")).strip('"').lower()
        if str(length) != want_len:
            await self._quarantine(device, part, obj_hash,
                                   f"{length} bytes, metadata says {want_len}", stats)
        elif md5.hexdigest() != want_etag:
            await self._quarantine(device, part, obj_hash,
                                   f"MD5 {md5.hexdigest()}, ETag says {want_etag}", stats)
        else:
            log.debug("audited %s: ok", where)

    def _open(self, device: str, part: str, obj_hash: str) -> _Opened | None:
        """The object's .data, open, with its own metadata; QuarantineError when any
        of the object's files has unreadable metadata."""
        st = self.backend.state(device, part, obj_hash)  # reads every file's metadata
        if st.data_path is None:
            return None
        try:
            f = open(st.data_path, "rb")  # closed by the caller
        except FileNotFoundError:
            return None
        try:
            metadata = read_xattr_metadata(st.data_path)
            if os.stat(st.data_path).st_ino != os.fstat(f.fileno()).st_ino:
                raise FileNotFoundError  # replaced between open and stat
        except FileNotFoundError:
            f.close()
            return None
        except BaseException:
            f.close()
            raise
        return _Opened(f, metadata)

    async def _quarantine(self, device: str, part: str, obj_hash: str, why: str,
                          stats: AuditStats) -> None:
        log.error("quarantining object %s/%s/%s/%s: %s", device, self.backend.data_dir, part,
                  obj_hash, why)
        await self.node.run(self.backend.quarantine, device, part, obj_hash)
        # the replicator asks a peer for a copy
        self.node.partition_changed(device, part, self.backend.data_dir)
        stats.quarantined += 1


def _read_into(f: IO[bytes], md5: Any) -> int:
    """Read one chunk into the running MD5 (in the pool: hashing stays off the loop)."""
    chunk = f.read(CHUNK)
    md5.update(chunk)
    return len(chunk)


def _list(path: Path, keep: Callable[[str], bool]) -> list[str]:
    try:
        return sorted(n for n in os.listdir(path) if keep(n))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _hash_dirs(part_dir: Path) -> list[str]:
    out: list[str] = []
    for suffix in _list(part_dir, hashes.is_suffix):
        out.extend(_list(part_dir / suffix, hashes.is_hash))
    return out


def daemon_ctx(cfg: StrataConfig, node_number: int
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` running the object auditor when ``auditor_interval`` > 0
    (and the node stores objects on disk)."""

    def make(app: web.Application) -> Pass | None:
        auditors = [ObjectAuditor(app[NODE], backend) for _, backend
                    in sorted(app[BACKENDS].items()) if isinstance(backend, DiskBackend)]
        if not auditors:
            return None

        async def each_policy() -> None:  # every storage policy's objects in turn
            for auditor in auditors:
                await auditor.audit_once()

        return each_policy

    return periodic("object audit", cfg.objectstore.auditor_interval, make)
