"""The object replicator makes replicas converge: one runs per storage policy on
each storage node (policy N's objects live in each device's ``objects-<N>``,
``objects`` for policy 0, and have their own ring and replication routes).

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

A pass does not walk every partition: it takes the partitions of its policy
that the object server marked changed (objectstore/changes.py), each until
every peer took its change; the first pass and one every ``sweep_interval``
seconds take them all. A primary that finds a peer holding files it lacks itself (its own copy
was quarantined, or lost) asks that peer to push them (``POST
/replicate/objects/<device>/<part>`` marks the partition changed there).
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
from objectstore.changes import Sweeps, peer_key
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
    sweep: bool = False  # a pass over every partition, not only the changed ones
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
    sweep_interval: float = 0.0  # 0: every pass takes every partition
    _timeout: aiohttp.ClientTimeout = field(init=False)
    _sweeps: Sweeps = field(init=False)

    @property
    def prefix(self) -> str:
        return prefix(self.policy)

    def __post_init__(self) -> None:
        self._sweeps = Sweeps(self.sweep_interval)
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.node.conn_timeout,
                                              connect=self.node.conn_timeout,
                                              sock_read=self.node.node_timeout)

    # -- the pass ---------------------------------------------------------------

    async def replicate_once(self) -> ReplicationStats:
        stats = ReplicationStats(sweep=self._sweeps.due())
        start = time.monotonic()
        if stats.sweep:
            self._sweeps.started()
            jobs = await self._jobs()
        else:
            jobs = await self._changed_jobs()

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
        jobs: list[Job] = []
        for device in await self.node.run(self.node.local_devices):
            objects = self.node.devices / device / datadir(self.policy)
            parts = await self.node.run(_partitions, objects)
            if mine.get(device) is None and parts:
                log.warning("device %s holds objects but is not in the ring as ours: "
                            "draining it to the primaries", device)
            for part in parts:
                job = self._job(mine, device, part)
                if job is not None:
                    jobs.append(job)
        return jobs

    def _job(self, mine: dict[str, int], device: str, part: str) -> Job | None:
        if int(part) >= self.ring.partition_count:
            log.warning("%s/%s/%s: no such partition in the ring", device,
                        datadir(self.policy), part)
            return None
        primaries = self.ring.get_part_nodes(int(part))
        dev_id = mine.get(device)
        peers = [n for n in primaries if n["id"] != dev_id]
        return Job(device, part, self.node.devices / device / datadir(self.policy) / part,
                   primaries, peers, handoff=len(peers) == len(primaries))

    async def _changed_jobs(self) -> list[Job]:
        """The partitions of this replicator's policy marked changed since every peer
        last took them (the other policies' marks are their replicators')."""
        mine = self._my_devices()
        changes = self.node.changed_parts
        marked = [part_dir for part_dir, _ in changes.pending()
                  if part_dir.parent.name == datadir(self.policy)]
        there = await self.node.run(_directories, marked)
        jobs = []
        for part_dir, is_dir in zip(marked, there, strict=True):
            job = None
            if is_dir and part_dir.parent.parent.parent == self.node.devices and \
                    hashes.is_partition(part_dir.name):
                job = self._job(mine, part_dir.parent.parent.name, part_dir.name)
            if job is None:
                changes.drop(part_dir)
            else:
                jobs.append(job)
        return jobs

    def _reclaim_before(self) -> float:
        return time.time() - self.node.reclaim_age

    # -- one partition ----------------------------------------------------------

    async def _replicate(self, job: Job, stats: ReplicationStats) -> None:
        stats.partitions += 1
        changes = self.node.changed_parts
        generation = changes.generation(job.part_dir)
        wanted = {_peer(p) for p in job.peers}
        if not job.handoff:
            local = await self.node.run(hashes.get_hashes, job.part_dir, (),
                                        self.hashes_max_age, None, self.node.reclaim_age)
            done = await asyncio.gather(*(self._sync_primary(job, peer, local, stats)
                                          for peer in job.peers))
            if generation is not None:
                changes.reached(job.part_dir, generation,
                                {_peer(p) for p, ok in zip(job.peers, done, strict=True) if ok},
                                wanted)
            return
        stats.handoff_partitions += 1
        listing = await self.node.run(hashes.list_partition, job.part_dir,
                                      self._reclaim_before())
        if not listing:
            await self.node.run(hashes.remove_files, job.part_dir, {})
            changes.drop(job.part_dir)
            return
        done = await asyncio.gather(*(self._sync_handoff(job, peer, listing, stats)
                                      for peer in job.peers))
        if job.peers and all(done):
            removed = await self.node.run(hashes.remove_files, job.part_dir, listing)
            stats.handoffs_removed += 1
            if generation is not None:  # drained: only a change since keeps its mark
                changes.reached(job.part_dir, generation, wanted, wanted)
            log.info("handoff %s/%s/%s is home on %s: removed %d local files",
                     job.device, datadir(self.policy), job.part,
                     ", ".join(_addr(p) for p in job.peers), removed)

    async def _sync_primary(self, job: Job, peer: Node, local: dict[str, str],
                            stats: ReplicationStats) -> bool:
        path = f"{self.prefix}/{peer['device']}/{job.part}"
        remote = await self._call_json(peer, path)
        if remote is None:
            stats.failures += 1
            return False
        differing = sorted(s for s, h in local.items() if remote.get(s) != h)
        # suffixes only the peer has: what this node lacks there, the peer must push
        lacking = any(s not in local for s, h in remote.items() if h)
        ok = True
        for suffix in differing:
            pushed, peer_has_more = await self._sync_suffix(job, peer, suffix, None, stats)
            ok = pushed and ok
            lacking = lacking or peer_has_more
        if lacking:
            await self._ask_push(peer, path)
        return ok

    async def _ask_push(self, peer: Node, path: str) -> None:
        """Mark the partition changed on ``peer``: it holds files this node lacks."""
        url = f"http://{_addr(peer)}{path}"
        try:
            async with self.node.session.post(url, timeout=self._timeout) as r:
                await r.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("POST %s: %s", url, exc or type(exc).__name__)

    async def _sync_handoff(self, job: Job, peer: Node,
                            listing: dict[str, dict[str, list[str]]],
                            stats: ReplicationStats) -> bool:
        ok = True
        for suffix, objects in listing.items():
            pushed, _ = await self._sync_suffix(job, peer, suffix, objects, stats)
            ok = pushed and ok
        return ok

    async def _sync_suffix(self, job: Job, peer: Node, suffix: str,
                           local: dict[str, list[str]] | None,
                           stats: ReplicationStats) -> tuple[bool, bool]:
        """Push what ``peer`` lacks of one suffix: (whether it has it all now, whether it
        holds files this node lacks)."""
        if local is None:
            local = await self.node.run(hashes.list_suffix, job.part_dir / suffix,
                                        self._reclaim_before())
        remote = await self._call_json(peer,
                                       f"{self.prefix}/{peer['device']}/{job.part}/{suffix}")
        if remote is None:
            stats.failures += 1
            return False, False
        peer_has_more = any(
            hashes.missing_files(theirs, local.get(h, []))
            for h, theirs in remote.items() if isinstance(theirs, list))
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
            log.info("%s/%s/%s/%s: pushed %d files to %s/%s", job.device,
                     datadir(self.policy), job.part, suffix, pushed, _addr(peer),
                     peer["device"])
        return ok, peer_has_more

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


def _peer(node: Node) -> str:
    return peer_key(node["ip"], node["port"], node["device"])


def _directories(paths: list[Path]) -> list[bool]:
    """Which of ``paths`` are directories (blocking: a stat each)."""
    return [p.is_dir() for p in paths]


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
                                        port=osc.port + node_number - 1, policy=p.index,
                                        sweep_interval=osc.replicator_sweep_interval)
                       for p in osc.policies()
                       if (ring := load_ring(cfg, object_ring(p.index))) is not None]
        if not replicators:
            return None  # no object replication (logged)

        async def each_policy() -> None:
            for replicator in replicators:
                await replicator.replicate_once()

        return each_policy

    return periodic("object replication", osc.replicator_interval, make)
