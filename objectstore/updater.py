"""The updater: replays undelivered updates and reports container stats to accounts.

Every ``updater_interval`` seconds, on each local device:

1. **Async pending records** (:mod:`objectstore.async_pending`) are replayed.
   ``container-rows`` records bound for the same container replica are sent
   together (``POST /containers/<dev>/<part>/<a>/<c>?batch``, up to
   ``BATCH_SIZE`` rows a request); ``account-update`` records are sent as
   recorded (method, host + path, headers). A record is removed once its
   target answered 2xx, and kept otherwise -- including 404: the DB may not
   have reached that replica yet (DB replication creates it), so a 404 is
   retried like a failure. Only a record older than ``reclaim_age`` is
   dropped whatever the answer, since by then tombstones it could have
   mattered to are purged everywhere and DB replication has long converged.
   Unreadable records are left in place and logged.

2. **Container stats** (Swift's container updater): each local container DB
   whose put/delete timestamps, object count or bytes differ from what it
   last reported (``reported_*``) sends ``PUT /accounts/<dev>/<part>/<a>/<c>``
   with ``X-Put-Timestamp``, ``X-Delete-Timestamp``, ``X-Object-Count`` and
   ``X-Bytes-Used`` to every account primary; once a majority accepted it,
   the report is recorded (``set_reported``). This is what makes an account's
   HEAD and listing show the objects and bytes of its containers.

   A pass reads only the container DBs written since the last pass (the
   servers note them in ``NodeContext.stats_changed``) and those whose report
   failed; the first pass, and one every ``updater_sweep_interval`` seconds,
   is a *sweep* over every container DB (what a restart forgot, what a crash
   lost). So a node holding many containers costs nothing at rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from common import timestamp as tsmod
from common.config import StrataConfig
from objectstore.async_pending import iter_async_pending, read_async_pending
from objectstore.changes import Sweeps
from objectstore.container_server import account_row_headers
from objectstore.db import ContainerBroker
from objectstore.db.base import DatabaseError
from objectstore.db_replicator import DB_KINDS, find_dbs
from objectstore.node import NODE, NodeContext, Pass, load_ring, periodic
from objectstore.protocol import ACCOUNTS, CONTAINERS, node_path
from rings.ring import Ring

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
CONCURRENCY = 8

__all__ = ["Updater", "UpdaterStats", "daemon_ctx"]


@dataclass
class UpdaterStats:
    records: int = 0
    delivered: int = 0
    kept: int = 0
    dropped: int = 0
    reports: int = 0
    report_failures: int = 0
    sweep: bool = False  # this pass read every container DB, not only the written ones


@dataclass
class _Pending:
    path: Path
    record: dict[str, Any]
    age: float  # seconds since the record was written


def _load(paths: list[Path]) -> list[_Pending]:
    out: list[_Pending] = []
    now = time.time()
    for p in paths:
        try:
            record = read_async_pending(p)
            age = now - p.stat().st_mtime
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            log.error("unreadable async pending record %s: %s", p, exc)
            continue
        out.append(_Pending(p, record, age))
    return out


def _unlink(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)
        try:
            p.parent.rmdir()  # the suffix directory, once empty
        except OSError:
            pass


def _existing(paths: list[Path]) -> list[Path]:
    """Those of ``paths`` still on disk (a DB may have been removed since its write)."""
    return [p for p in paths if p.is_file()]


def _target_key(record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(record.get(k, "")) for k in
                 ("host", "device", "partition", "account", "container"))


class Updater:
    def __init__(self, node: NodeContext, account_ring: Ring | None, *,
                 reclaim_age: float = 604800, batch_size: int = BATCH_SIZE,
                 concurrency: int = CONCURRENCY, sweep_interval: float = 14400.0) -> None:
        self.node = node
        self.account_ring = account_ring
        self.reclaim_age = reclaim_age
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.sweeps = Sweeps(sweep_interval)  # 0: every pass sweeps

    async def _request(self, method: str, url: str, headers: dict[str, str],
                       data: bytes | None = None) -> int:
        """The answer's status; 0 when the target could not be reached in time."""
        try:
            async with self.node.session.request(method, url, headers=headers, data=data,
                                                 timeout=self.node.call_timeout) as r:
                await r.read()
                return r.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("%s %s failed: %s", method, url, exc)
            return 0

    async def run_once(self) -> UpdaterStats:
        stats = UpdaterStats(sweep=self.sweeps.due())
        if stats.sweep:
            self.sweeps.started()
        # Taken whole: what is written from now on is the next pass's.
        written, self.node.stats_changed = self.node.stats_changed, set()
        for device in self.node.local_devices():
            await self.replay_device(device, stats)
            if self.account_ring is not None:
                await self.report_device(device, stats, None if stats.sweep else written)
        if stats.records or stats.reports or stats.report_failures:
            log.info("updater: %s", stats)
        return stats

    # -- async pending ---------------------------------------------------------------------

    async def replay_device(self, device: str, stats: UpdaterStats) -> None:
        dev_path = self.node.devices / device

        def listing() -> list[_Pending]:
            return _load(list(iter_async_pending(dev_path)))

        pending = await self.node.run(listing)
        stats.records += len(pending)
        groups: dict[tuple[str, ...], list[_Pending]] = {}
        singles: list[_Pending] = []
        for p in pending:
            if p.record.get("kind") == "container-rows":
                groups.setdefault(_target_key(p.record), []).append(p)
            elif p.record.get("kind") == "account-update":
                singles.append(p)
            else:
                log.error("async pending %s: unknown kind %r", p.path, p.record.get("kind"))
        sem = asyncio.Semaphore(self.concurrency)

        async def guarded(group: list[_Pending], send: Callable[[list[_Pending]], Any]) -> None:
            async with sem:
                status = await send(group)
            await self._settle(group, status, stats)

        await asyncio.gather(
            *(guarded(g, self._send_rows) for g in groups.values()),
            *(guarded([p], self._send_account_update) for p in singles))

    async def _settle(self, group: list[_Pending], status: int, stats: UpdaterStats) -> None:
        if 200 <= status < 300:
            done = [p.path for p in group]
            stats.delivered += len(group)
        else:
            done = [p.path for p in group if p.age > self.reclaim_age]
            stats.dropped += len(done)
            stats.kept += len(group) - len(done)
        if done:
            await self.node.run(_unlink, done)

    async def _send_rows(self, group: list[_Pending]) -> int:
        """POST every row of ``group`` (one target) in batches; the worst status."""
        rec = group[0].record
        rows = [row for p in group for row in p.record.get("rows", [])]
        path = node_path(CONTAINERS, *(str(rec.get(k, "")) for k in
                                       ("device", "partition", "account", "container")))
        url = f"http://{rec.get('host')}{path}?batch"
        for i in range(0, max(len(rows), 1), self.batch_size):
            status = await self._request("POST", url, {"Content-Type": "application/json"},
                                         json.dumps(rows[i:i + self.batch_size]).encode())
            if not 200 <= status < 300:
                return status
        return 200

    async def _send_account_update(self, group: list[_Pending]) -> int:
        rec = group[0].record
        headers = rec.get("headers") or {}
        if not isinstance(headers, dict):
            return 400
        url = f"http://{rec.get('host')}{rec.get('path')}"
        return await self._request(str(rec.get("method", "PUT")), url,
                                   {str(k): str(v) for k, v in headers.items()})

    # -- container stats -> account ---------------------------------------------------------

    async def report_device(self, device: str, stats: UpdaterStats,
                            written: set[Path] | None = None) -> None:
        """Report the container DBs of ``device`` whose stats changed: among ``written``
        (the DBs written since the last pass), or among all of them (None: a sweep)."""
        kind = next(k for k in DB_KINDS if k.dir == "containers")
        if written is None:
            paths = [db.path for db in
                     await self.node.run(find_dbs, self.node.devices, device, kind)]
        else:
            root = self.node.devices / device / kind.dir
            mine = [p for p in written if p.is_relative_to(root)]
            paths = await self.node.run(_existing, mine) if mine else []
        sem = asyncio.Semaphore(self.concurrency)

        async def one(path: Path) -> None:
            async with sem:
                await self.report_container(path, stats)

        await asyncio.gather(*(one(p) for p in paths))

    async def report_container(self, path: Path, stats: UpdaterStats) -> bool:
        """Report one container DB's stats if they changed; True when reported."""
        assert self.account_ring is not None
        broker = ContainerBroker(path)
        try:
            try:
                info = await self.node.run(broker.get_info)
            except DatabaseError as exc:
                log.warning("cannot read %s: %s", path, exc)
                return False
            if (info.put_timestamp <= info.reported_put_timestamp
                    and info.delete_timestamp <= info.reported_delete_timestamp
                    and info.object_count == info.reported_object_count
                    and info.bytes_used == info.reported_bytes_used):
                return False
            assert info.container is not None
            part, nodes = self.account_ring.get_nodes(info.account)
            headers = account_row_headers(info, tsmod.now())
            statuses = await asyncio.gather(*(
                self._request("PUT", f"http://{n['ip']}:{n['port']}" + node_path(
                    ACCOUNTS, n["device"], part, info.account, info.container), headers)
                for n in nodes))
            ok = sum(1 for s in statuses if 200 <= s < 300)
            if ok * 2 <= len(nodes):
                stats.report_failures += 1
                self.node.stats_changed.add(path)  # tried again next pass, not next sweep
                return False
            await self.node.run(broker.set_reported, info.put_timestamp,
                                info.delete_timestamp, info.object_count, info.bytes_used)
            stats.reports += 1
            return True
        finally:
            await self.node.run(broker.close)


def daemon_ctx(cfg: StrataConfig, node_number: int
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` running the updater when ``updater_interval`` > 0."""
    osc = cfg.objectstore

    def make(app: web.Application) -> Pass:
        return Updater(app[NODE], load_ring(cfg, "account"), reclaim_age=osc.reclaim_age,
                       sweep_interval=osc.updater_sweep_interval).run_once

    return periodic("updater", osc.updater_interval, make)

