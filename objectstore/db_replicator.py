"""The container and account DB replicator: pushes each local DB to its peers.

Every ``replicator_interval`` seconds, for each container and account DB on
this node's devices (``<device>/<kind>/<part>/<suffix>/<hash>/<hash>.db``):

1. Reclaim: tombstone rows and deleted metadata keys older than
   ``reclaim_age`` are purged; a DB that has itself been deleted for longer
   than that is removed (every replica got the delete long ago).
2. Push to peers: the other primaries of the DB's partition (a DB on a
   device that is not a primary -- a handoff -- goes to every primary). For
   each peer: ask for its state and the sync point it holds for this DB's id
   (``POST /replicate/...`` ``sync`` op, :mod:`objectstore.db_replication_server`),
   then send the rows changed since that point in batches of ``batch_size``
   with this DB's put/delete timestamps and metadata (``merge`` op). A peer
   without the DB gets it created from the first batch. Deleted DBs replicate
   like live ones, so a stale replica learns of the delete instead of
   bringing the container back.
3. A handoff DB that every primary now holds is removed.

Rows merged from a peer get new row ids here, so they are offered back once;
the peer finds nothing newer and nothing changes, so replication settles.

A pass does not open every DB: it takes the DBs the servers marked changed
(objectstore/changes.py), each until every peer took its change (a peer that
failed is tried again next pass, one that succeeded is not asked again). The
first pass and one every ``sweep_interval`` seconds take every DB, with step 1:
they restore a replica a peer lost and reclaim old tombstones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from common import timestamp as tsmod
from common.config import StrataConfig
from objectstore.changes import Sweeps, peer_key
from objectstore.db import AccountBroker, BrokerCache, ContainerBroker, DatabaseBroker
from objectstore.db.base import DatabaseError
from objectstore.listing import DB_RESOURCES
from objectstore.node import NODE, NodeContext, Pass, each_guarded, load_ring, periodic
from objectstore.protocol import REPLICATE_PREFIX
from rings.ring import Node, Ring

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
CONCURRENCY = 8

__all__ = ["DB_KINDS", "DbReplicator", "LocalDb", "ReplicationStats", "daemon_ctx",
           "find_dbs", "local_db", "remove_db"]


@dataclass(frozen=True)
class DbKind:
    dir: str  # the directory under a device, and the URL prefix
    ring: str  # the ring that places it
    broker: type[DatabaseBroker]


DB_KINDS = (DbKind("containers", "container", ContainerBroker),
            DbKind("accounts", "account", AccountBroker))


@dataclass(frozen=True)
class LocalDb:
    kind: DbKind
    device: str
    part: int
    hash: str
    path: Path


@dataclass
class ReplicationStats:
    sweep: bool = False  # a pass over every DB, not only the changed ones
    dbs: int = 0
    rows_pushed: int = 0
    created_remote: int = 0
    handoffs_removed: int = 0
    reclaimed_dbs: int = 0
    failures: int = 0


def find_dbs(devices: Path, device: str, kind: DbKind) -> list[LocalDb]:
    """Every ``<hash>.db`` of ``kind`` on ``device`` (blocking directory walk)."""
    found: list[LocalDb] = []
    root = devices / device / kind.dir
    try:
        parts = os.listdir(root)
    except FileNotFoundError:
        return found
    for part in sorted(parts):
        if not part.isdigit():
            continue
        try:
            suffixes = os.listdir(root / part)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for suffix in suffixes:
            try:
                hashes = os.listdir(root / part / suffix)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for h in hashes:
                path = root / part / suffix / h / f"{h}.db"
                if path.is_file():
                    found.append(LocalDb(kind, device, int(part), h, path))
    return found


def local_db(devices: Path, path: Path) -> LocalDb | None:
    """The DB at ``<devices>/<device>/<kind>/<part>/<suffix>/<hash>/<hash>.db``, if
    ``path`` is one."""
    try:
        rel = path.relative_to(devices).parts
    except ValueError:
        return None
    kind = next((k for k in DB_KINDS if len(rel) == 6 and rel[1] == k.dir), None)
    if kind is None or not rel[2].isdigit() or rel[5] != f"{rel[4]}.db":
        return None
    return LocalDb(kind, rel[0], int(rel[2]), rel[4], path)


def _existing(paths: list[Path]) -> list[bool]:
    """Which of ``paths`` are files (blocking: a stat each)."""
    return [p.is_file() for p in paths]


def remove_db(path: Path) -> None:
    """Delete a DB file and its hash directory, then prune empty parents (blocking)."""
    shutil.rmtree(path.parent, ignore_errors=True)
    for parent in (path.parent.parent, path.parent.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break


class DbReplicator:
    """One pass (:meth:`run_once`) replicates every local container and account DB."""

    def __init__(self, node: NodeContext, rings: dict[str, Ring], my_ip: str, my_port: int,
                 *, brokers: BrokerCache | None = None, reclaim_age: float = 604800,
                 batch_size: int = BATCH_SIZE, concurrency: int = CONCURRENCY,
                 sweep_interval: float = 0.0) -> None:
        self.node = node
        self.sweeps = Sweeps(sweep_interval)  # 0: every pass sweeps
        self.rings = rings  # "container" / "account" -> Ring
        self.my_ip, self.my_port = my_ip, my_port
        self.brokers = brokers  # the servers' open brokers, told when a DB file goes away
        self.reclaim_age = reclaim_age
        self.batch_size = batch_size
        self.concurrency = concurrency

    # -- a pass -------------------------------------------------------------------------

    async def run_once(self) -> ReplicationStats:
        stats = ReplicationStats(sweep=self.sweeps.due())

        async def one(db: LocalDb) -> None:
            await self.replicate_db(db, stats)

        if stats.sweep:
            self.sweeps.started()
            for kind in DB_KINDS:
                if kind.ring not in self.rings:
                    continue
                for device in self.node.local_devices():
                    dbs = await self.node.run(find_dbs, self.node.devices, device, kind)
                    await self._each(dbs, one, stats)
        else:
            await self._each(await self._changed(), one, stats)
        if stats.rows_pushed or stats.handoffs_removed or stats.reclaimed_dbs or stats.failures:
            log.info("db replication: %s", stats)
        return stats

    async def _each(self, dbs: list[LocalDb], one: Callable[[LocalDb], Any],
                    stats: ReplicationStats) -> None:
        stats.dbs += len(dbs)
        failed = await each_guarded(dbs, self.concurrency, one,
                                    lambda db: f"replicating {db.path}")
        stats.failures += failed  # after the await: the passes count failures too

    async def _changed(self) -> list[LocalDb]:
        """The DBs marked changed since every peer last took them; a mark that names no
        DB here any more goes."""
        changes = self.node.changed_dbs
        found = [(path, local_db(self.node.devices, path)) for path, _ in changes.pending()]
        exists = await self.node.run(_existing, [path for path, _ in found])
        out = []
        for (path, db), there in zip(found, exists, strict=True):
            if db is None or db.kind.ring not in self.rings or not there:
                changes.drop(path)
            else:
                out.append(db)
        return out

    def _is_me(self, dev: Node, device: str) -> bool:
        return dev["ip"] == self.my_ip and dev["port"] == self.my_port and dev["device"] == device

    async def replicate_db(self, db: LocalDb, stats: ReplicationStats) -> None:
        changes = self.node.changed_dbs
        generation = changes.generation(db.path)
        broker = db.kind.broker(db.path)
        try:
            if stats.sweep and await self.node.run(self._reclaim, broker):
                await self._remove(db)
                stats.reclaimed_dbs += 1
                return
            primaries = self.rings[db.kind.ring].get_part_nodes(db.part)
            handoff = not any(self._is_me(n, db.device) for n in primaries)
            peers = [n for n in primaries if not self._is_me(n, db.device)]
            results = await asyncio.gather(*(self.push(broker, db, peer, stats)
                                             for peer in peers))
            stats.failures += sum(1 for r in results if r is None)
            if generation is not None:
                changes.reached(db.path, generation,
                                {_peer(p) for p, r in zip(peers, results, strict=True)
                                 if r is not None}, {_peer(p) for p in peers})
            reached = results_max_row(results)
            if handoff and peers and reached is not None:
                if reached >= await self.node.run(broker.max_row):
                    await self._remove(db)
                    stats.handoffs_removed += 1
        finally:
            await self.node.run(broker.close)

    def _reclaim(self, broker: DatabaseBroker) -> bool:
        """Purge old tombstones; True when the whole DB is an old tombstone to remove."""
        cutoff = tsmod.normalize(time.time() - self.reclaim_age)
        broker.reclaim(cutoff)
        broker.reclaim_metadata(cutoff)
        info = broker.get_info()
        return broker.info_deleted(info) and info.delete_timestamp < cutoff

    async def _remove(self, db: LocalDb) -> None:
        self.node.changed_dbs.drop(db.path)
        if self.brokers is not None:
            self.brokers.forget(db.path)
        await self.node.run(remove_db, db.path)

    # -- one peer ------------------------------------------------------------------------

    async def _call(self, peer: Node, db: LocalDb,
                    body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        url = (f"http://{peer['ip']}:{peer['port']}{REPLICATE_PREFIX}/{db.kind.dir}/"
               f"{quote(peer['device'], safe='')}/{db.part}/{db.hash}")
        try:
            async with self.node.session.post(url, json=body,
                                              timeout=self.node.call_timeout) as r:
                data = await r.json() if r.status == 200 else None
                if not isinstance(data, dict):
                    data = None
                return r.status, data
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            log.warning("replication to %s failed: %s", url, exc)
            return 0, None

    async def push(self, broker: DatabaseBroker, db: LocalDb, peer: Node,
                   stats: ReplicationStats) -> int | None:
        """Bring ``peer`` up to date with ``broker``; the sync point reached, None on failure."""
        try:
            info = await self.node.run(broker.get_info)
        except DatabaseError as exc:
            log.warning("cannot read %s: %s", db.path, exc)
            return None
        status, remote = await self._call(peer, db, {"op": "sync", "remote_id": info.id})
        if status == 404:
            point, missing = -1, True
        elif status == 200 and remote is not None:
            point, missing = int(remote.get("sync_point", -1)), False
            if point >= info.max_row and not _differs(info.put_timestamp,
                                                      info.delete_timestamp,
                                                      info.metadata, remote):
                return max(point, info.max_row, 0)
        else:
            return None
        state = {"id": info.id, "account": info.account, "container": info.container,
                 "put_timestamp": info.put_timestamp,
                 "delete_timestamp": info.delete_timestamp, "metadata": info.metadata}
        while True:
            rows = await self.node.run(broker.get_items_since, point, self.batch_size)
            last = len(rows) < self.batch_size
            new_point = rows[-1]["row_id"] if rows else point
            if last:
                new_point = max(new_point, info.max_row)
            for r in rows:
                r.pop("row_id", None)
            status, _ = await self._call(peer, db, {"op": "merge", "db": state, "rows": rows,
                                                    "sync_point": new_point})
            if status != 200:
                return None
            if missing:
                stats.created_remote += 1
                missing = False
            stats.rows_pushed += len(rows)
            point = new_point
            if last:
                return max(point, 0)


def _peer(node: Node) -> str:
    return peer_key(node["ip"], node["port"], node["device"])


def results_max_row(results: list[int | None]) -> int | None:
    """The sync point every peer reached (the smallest), None if any failed."""
    if not results or any(r is None for r in results):
        return None
    return min(r for r in results if r is not None)


def _differs(put: str, delete: str, metadata: dict[str, list[str]],
             remote: dict[str, Any]) -> bool:
    """Whether this DB has timestamps or metadata keys newer than the peer's."""
    if put > str(remote.get("put_timestamp", "")) or delete > str(
            remote.get("delete_timestamp", "")):
        return True
    theirs = remote.get("metadata") or {}
    for key, (_value, ts) in metadata.items():
        other = theirs.get(key)
        if not isinstance(other, list) or len(other) != 2 or ts > str(other[1]):
            return True
    return False


# -- running in a storage node ---------------------------------------------------------------


def daemon_ctx(cfg: StrataConfig, node_number: int
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` running the DB replicator when ``replicator_interval`` > 0."""
    osc = cfg.objectstore

    def make(app: web.Application) -> Pass | None:
        rings = {kind.ring: ring for kind in DB_KINDS
                 if (ring := load_ring(cfg, kind.ring)) is not None}
        if not rings:
            return None
        node = app[NODE]
        return DbReplicator(
            node, rings, osc.host, osc.port + node_number - 1,
            brokers=app[DB_RESOURCES].brokers(node) if DB_RESOURCES in app else None,
            reclaim_age=osc.reclaim_age, sweep_interval=osc.replicator_sweep_interval).run_once

    return periodic("db replicator", osc.replicator_interval, make)
