"""The object replicator: one per storage node, it makes replicas converge.

Every pass walks the partitions on the node's devices. For each one it asks
the object ring for the partition's primaries:

* on a **primary**, it compares suffix hashes (``GET /replicate/objects/...``) with each other
  primary and, for every suffix that differs, lists the peer's files and
  pushes the ones the peer lacks and would keep (objectstore/hashes.py
  ``missing_files``: newest wins, a newer tombstone on the peer is never
  overwritten, so nothing resurrects);
* on a **handoff** (a device that is not a primary, e.g. it took writes while
  a primary was down), it pushes every file to every primary and, once every
  primary has confirmed every file (stored it, had it, or holds something
  newer), deletes exactly those local files: the handoff drains home.

Primaries that do not answer are skipped until the next pass. Requests go
through the node's shared client session with its timeouts; file work goes
through the node's thread pool; ``concurrency`` partitions are handled at
once. Endpoints: objectstore/replication_server.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web

from common.config import StrataConfig
from objectstore import hashes
from objectstore.diskfile import DiskFileError, read_xattr_metadata
from objectstore.node import NODE, NodeContext, Pass, each_guarded, load_ring, periodic
from objectstore.protocol import METADATA_LENGTH, REPLICATION, datadir, object_ring
from objectstore.replication_server import prefix
from rings.ring import Node, Ring

log = logging.getLogger(__name__)

CHUNK = 1 << 20
WILDCARD_IPS = frozenset({"", "0.0.0.0", "::"})


@dataclass
class ReplicationStats:
    partitions: int = 0
    handoff_partitions: int = 0
    suffixes_synced: int = 0
    files_pushed: int = 0
    handoffs_removed: int = 0  # handoff partitions drained and deleted here
    failures: int = 0  # peers that did not answer, pushes refused, errors
    elapsed: float = 0.0

    def summary(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                         if f.name != "elapsed") + f" in {self.elapsed:.2f}s"


@dataclass
class Job:
    device: str
    part: str
    part_dir: Path
    primaries: list[Node]
    peers: list[Node]  # the primaries other than this device
    handoff: bool


@dataclass
class ObjectReplicator:
    """Pushes this node's object replicas to where the ring says they belong.

    ``ip``/``port`` say which ring devices are this node's (a device of ours
    the ring does not know is treated as a handoff for everything it holds).
    """

    node: NodeContext
    ring: Ring
    ip: str
    port: int
    concurrency: int = 4
    policy: int = 0  # the storage policy whose objects (and ring) this replicates
    hashes_max_age: float = hashes.DEFAULT_MAX_AGE
    _timeout: aiohttp.ClientTimeout = field(init=False)

    @property
    def prefix(self) -> str:
        return prefix(self.policy)

    def __post_init__(self) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.node.conn_timeout,
                                              connect=self.node.conn_timeout,
                                              sock_read=self.node.node_timeout)

    # -- the pass ---------------------------------------------------------------

    async def replicate_once(self) -> ReplicationStats:
        stats = ReplicationStats()
        start = time.monotonic()
        jobs = await self._jobs()

        async def one(job: Job) -> None:
            await self._replicate(job, stats)

        failed = await each_guarded(jobs, self.concurrency, one,
                                    lambda job: f"replicating {job.device}/{job.part}")
        stats.failures += failed  # after the await: the jobs count failures too
        stats.elapsed = time.monotonic() - start
        level = logging.INFO if (stats.files_pushed or stats.handoffs_removed
                                 or stats.failures) else logging.DEBUG
        log.log(level, "object replication pass: %s", stats.summary())
        return stats

    # -- planning ---------------------------------------------------------------

    def _my_devices(self) -> dict[str, int]:
        """Ring device ids of this node's devices, by device name."""
        return {dev["device"]: dev["id"] for dev in self.ring.devices
                if dev["port"] == self.port
                and (self.ip in WILDCARD_IPS or dev["ip"] == self.ip)}

    async def _jobs(self) -> list[Job]:
        mine = self._my_devices()
        count = self.ring.partition_count
        jobs: list[Job] = []
        for device in await self.node.run(self.node.local_devices):
            objects = self.node.devices / device / datadir(self.policy)
            parts = await self.node.run(_partitions, objects)
            dev_id = mine.get(device)
            if dev_id is None and parts:
                log.warning("device %s holds objects but is not in the ring as ours: "
                            "draining it to the primaries", device)
            for part in parts:
                if int(part) >= count:
                    log.warning("%s/%s/%s: no such partition in the ring", device,
                                datadir(self.policy), part)
                    continue
                primaries = self.ring.get_part_nodes(int(part))
                peers = [n for n in primaries if n["id"] != dev_id]
                jobs.append(Job(device, part, objects / part, primaries, peers,
                                handoff=len(peers) == len(primaries)))
        return jobs

    def _reclaim_before(self) -> float:
        return time.time() - self.node.reclaim_age

    # -- one partition ----------------------------------------------------------

    async def _replicate(self, job: Job, stats: ReplicationStats) -> None:
        stats.partitions += 1
        if not job.handoff:
            local = await self.node.run(hashes.get_hashes, job.part_dir, (),
                                        self.hashes_max_age, None, self.node.reclaim_age)
            await asyncio.gather(*(self._sync_primary(job, peer, local, stats)
                                   for peer in job.peers))
            return
        stats.handoff_partitions += 1
        listing = await self.node.run(hashes.list_partition, job.part_dir,
                                      self._reclaim_before())
        if not listing:
            await self.node.run(hashes.remove_files, job.part_dir, {})
            return
        done = await asyncio.gather(*(self._sync_handoff(job, peer, listing, stats)
                                      for peer in job.peers))
        if job.peers and all(done):
            removed = await self.node.run(hashes.remove_files, job.part_dir, listing)
            stats.handoffs_removed += 1
            log.info("handoff %s/objects/%s is home on %s: removed %d local files",
                     job.device, job.part, ", ".join(_addr(p) for p in job.peers), removed)

    async def _sync_primary(self, job: Job, peer: Node, local: dict[str, str],
                            stats: ReplicationStats) -> bool:
        remote = await self._call_json(peer, f"{self.prefix}/{peer['device']}/{job.part}")
        if remote is None:
            stats.failures += 1
            return False
        differing = sorted(s for s, h in local.items() if remote.get(s) != h)
        ok = True
        for suffix in differing:
            ok = await self._sync_suffix(job, peer, suffix, None, stats) and ok
        return ok

    async def _sync_handoff(self, job: Job, peer: Node,
                            listing: dict[str, dict[str, list[str]]],
                            stats: ReplicationStats) -> bool:
        ok = True
        for suffix, objects in listing.items():
            ok = await self._sync_suffix(job, peer, suffix, objects, stats) and ok
        return ok

    async def _sync_suffix(self, job: Job, peer: Node, suffix: str,
                           local: dict[str, list[str]] | None,
                           stats: ReplicationStats) -> bool:
        """Push what ``peer`` lacks of one suffix; True when it has it all now."""
        if local is None:
            local = await self.node.run(hashes.list_suffix, job.part_dir / suffix,
                                        self._reclaim_before())
        remote = await self._call_json(peer,
                                       f"{self.prefix}/{peer['device']}/{job.part}/{suffix}")
        if remote is None:
            stats.failures += 1
            return False
        ok = True
        pushed = 0
        for obj_hash, names in local.items():
            theirs = remote.get(obj_hash)
            for name in hashes.missing_files(names, theirs if isinstance(theirs, list) else []):
                status = await self._push(job, peer, obj_hash, name)
                if status == 201:
                    pushed += 1
                elif status not in (200, 409):
                    ok = False
        stats.suffixes_synced += 1
        stats.files_pushed += pushed
        if not ok:
            stats.failures += 1
        if pushed:
            log.info("%s/objects/%s/%s: pushed %d files to %s/%s", job.device, job.part,
                     suffix, pushed, _addr(peer), peer["device"])
        return ok

    # -- HTTP -------------------------------------------------------------------

    async def _call_json(self, peer: Node, path: str) -> dict[str, Any] | None:
        url = f"http://{_addr(peer)}{path}"
        try:
            async with self.node.session.get(url, timeout=self._timeout) as r:
                body = await r.read()
                if r.status != 200:
                    log.warning("GET %s: %d %s", url, r.status, body[:200])
                    return None
            doc = json.loads(body)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            log.info("GET %s: %s", url, exc or type(exc).__name__)
            return None
        return doc if isinstance(doc, dict) else None

    async def _push(self, job: Job, peer: Node, obj_hash: str, name: str) -> int:
        """Send one local file; the peer's status (0 when it could not be asked,
        200 when the file is gone here: a newer one replaced it)."""
        path = job.part_dir / obj_hash[-3:] / obj_hash / name
        try:
            metadata = await self.node.run(read_xattr_metadata, path)
            f: IO[bytes] = await self.node.run(open, path, "rb")
        except FileNotFoundError:
            return 200
        except (OSError, DiskFileError) as exc:
            log.warning("cannot replicate %s: %s", path, exc)  # the auditor will see it
            return 0
        meta = json.dumps(metadata, separators=(",", ":")).encode()
        url = (f"http://{_addr(peer)}{self.prefix}/{peer['device']}/{job.part}/"
               f"{obj_hash}/{name}")
        headers = {REPLICATION: "true", METADATA_LENGTH: str(len(meta))}
        try:
            size = os.fstat(f.fileno()).st_size
            headers["Content-Length"] = str(len(meta) + size)

            async def body() -> AsyncIterator[bytes]:
                yield meta
                sent = 0
                while sent < size:
                    chunk = await self.node.run(f.read, min(CHUNK, size - sent))
                    if not chunk:
                        break
                    sent += len(chunk)
                    yield chunk

            async with self.node.session.put(url, data=body(), headers=headers,
                                             timeout=self._timeout) as r:
                text = await r.read()
                if r.status not in (200, 201, 409):
                    log.warning("push %s: %d %s", url, r.status, text[:200])
                return r.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("push %s: %s", url, exc or type(exc).__name__)
            return 0
        finally:
            await self.node.run(f.close)


def _addr(node: Node) -> str:
    return f"{node['ip']}:{node['port']}"


def _partitions(objects: Path) -> list[str]:
    try:
        names = os.listdir(objects)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted((n for n in names if hashes.is_partition(n)), key=int)


def daemon_ctx(cfg: StrataConfig, node_number: int
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` running the object replicator when ``replicator_interval`` > 0."""
    osc = cfg.objectstore

    def make(app: web.Application) -> Pass | None:
        replicators = [ObjectReplicator(app[NODE], ring, ip=osc.host,
                                        port=osc.port + node_number - 1, policy=p.index)
                       for p in osc.policies()
                       if (ring := load_ring(cfg, object_ring(p.index))) is not None]
        if not replicators:
            return None  # no object replication (logged)

        async def each_policy() -> None:
            for replicator in replicators:
                await replicator.replicate_once()

        return each_policy

    return periodic("object replication", osc.replicator_interval, make)
