"""The object expirer: deletes objects whose ``X-Delete-At`` time has passed.

GET and HEAD already hide an expired object; this daemon removes it for
real: tombstones on every primary, and the row gone from the container
listing.

The index (one per device, written by the object server)::

    <device>/expiring/<bucket>/<delete_at>-<hash>

``delete_at`` is the object's ``X-Delete-At`` (zero-padded to 10 digits so
names sort by time), ``bucket`` is ``delete_at`` rounded down to the hour (so
no directory grows without bound and a pass lists only due buckets), and
the file holds a JSON object, version 1: ``{"version", "account",
"container", "object", "delete_at"}`` (``delete_at`` exactly as stored on
the object). Written atomically (``<device>/tmp/`` + fsync + rename + fsync
of the directory) after the object's PUT or POST that set ``X-Delete-At``.
An entry that is out of date (the object was overwritten or its
``X-Delete-At`` changed) is harmless: its DELETE carries
``X-If-Delete-At`` and gets 412.

Every ``expirer_interval`` seconds the expirer takes each due entry and
sends ``DELETE`` with ``X-If-Delete-At: <delete_at>``, a fresh
``X-Timestamp`` and the ``X-Backend-Container-*`` headers (computed from
the container ring as the proxy does, so each object server updates one
container replica) to every primary of the object. The entry is removed once
every primary answered 2xx, 404 (nothing there; a tombstone is written all
the same), 409 (something newer is there) or 412 (the delete-at changed);
otherwise it is retried next pass. Every replica's node holds an entry and
acts on it; the first DELETE wins and the others get 412.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from common import timestamp as tsmod
from common.atomicfile import write_atomic
from common.config import StrataConfig
from objectstore.node import NODE, NodeContext, Pass, load_ring, periodic
from objectstore.protocol import (
    CONTAINER_DEVICE,
    CONTAINER_HOST,
    CONTAINER_PARTITION,
    OBJECTS,
    POLICY_INDEX,
    node_path,
    object_ring,
)
from rings.ring import Ring

log = logging.getLogger(__name__)

EXPIRING_DIR = "expiring"
BUCKET = 3600
ENTRY_VERSION = 1
CONCURRENCY = 8
DONE_STATUSES = frozenset({404, 409, 412})

__all__ = ["Entry", "Expirer", "ExpirerStats", "daemon_ctx", "due_entries", "entry_path",
           "note_expiring", "record_expiring"]


@dataclass(frozen=True)
class Entry:
    path: Path
    account: str
    container: str
    obj: str
    delete_at: str  # as stored on the object
    policy: int = 0  # the storage policy the object is in


@dataclass
class ExpirerStats:
    due: int = 0
    expired: int = 0
    retried: int = 0


def entry_path(device_path: Path, delete_at: int, obj_hash: str) -> Path:
    bucket = delete_at - delete_at % BUCKET
    return device_path / EXPIRING_DIR / f"{bucket:010d}" / f"{delete_at:010d}-{obj_hash}"


def record_expiring(device_path: Path, account: str, container: str, obj: str,
                    obj_hash: str, delete_at: str, policy: int = 0) -> Path | None:
    """Write the index entry of an object to delete at ``delete_at`` (blocking: fsync)."""
    try:
        when = int(delete_at)
    except ValueError:
        return None
    if when < 0:
        return None
    final = entry_path(device_path, when, obj_hash)
    entry = {"version": ENTRY_VERSION, "account": account, "container": container,
             "object": obj, "delete_at": delete_at}
    if policy:
        entry["policy"] = policy
    data = json.dumps(entry).encode("utf-8")
    tmp_dir = device_path / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(final, data, tmp_dir=tmp_dir)
    return final


async def note_expiring(node: NodeContext, device_path: Path, account: str, container: str,
                        obj: str, obj_hash: str, metadata: Mapping[str, Any],
                        policy: int = 0) -> None:
    """The object server's hook after a PUT/POST: index ``X-Delete-At`` if it is set."""
    delete_at = metadata.get("X-Delete-At")
    if delete_at:
        await node.run(record_expiring, device_path, account, container, obj, obj_hash,
                       str(delete_at), policy)


def due_entries(device_path: Path, now: float, limit: int = 10000) -> list[Entry]:
    """Entries whose time has come, oldest first (blocking). Empty past buckets are
    removed; unreadable entries are logged and skipped."""
    root = device_path / EXPIRING_DIR
    try:
        buckets = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out: list[Entry] = []
    for bucket in buckets:
        if not bucket.isdigit() or int(bucket) > now:
            break
        names = sorted(os.listdir(root / bucket))
        if not names and int(bucket) + BUCKET <= now:
            try:
                (root / bucket).rmdir()
            except OSError:
                pass
            continue
        for name in names:
            stamp = name.split("-", 1)[0]
            if not stamp.isdigit() or int(stamp) > now:
                break
            path = root / bucket / name
            try:
                raw = json.loads(path.read_bytes())
                if raw.get("version") != ENTRY_VERSION:
                    raise ValueError(f"unknown version {raw.get('version')!r}")
                out.append(Entry(path, str(raw["account"]), str(raw["container"]),
                                 str(raw["object"]), str(raw["delete_at"]),
                                 int(raw.get("policy", 0))))
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, AttributeError) as exc:
                log.error("bad expiring entry %s: %s", path, exc)
                continue
            if len(out) >= limit:
                return out
    return out


class Expirer:
    """Deletes the objects whose time has come; ``object_rings`` by storage policy
    (one ring alone is policy 0's)."""

    def __init__(self, node: NodeContext, object_rings: Ring | dict[int, Ring],
                 container_ring: Ring, *, concurrency: int = CONCURRENCY) -> None:
        self.node = node
        self.object_rings = object_rings if isinstance(object_rings, dict) else {
            0: object_rings}
        self.container_ring = container_ring
        self.concurrency = concurrency

    async def run_once(self, now: float | None = None) -> ExpirerStats:
        stats = ExpirerStats()
        when = time.time() if now is None else now
        sem = asyncio.Semaphore(self.concurrency)

        async def one(entry: Entry) -> None:
            async with sem:
                done = await self.expire(entry)
            if done:
                await self.node.run(_remove_entry, entry.path)
                stats.expired += 1
            else:
                stats.retried += 1

        for device in self.node.local_devices():
            entries = await self.node.run(due_entries, self.node.devices / device, when)
            stats.due += len(entries)
            await asyncio.gather(*(one(e) for e in entries))
        if stats.due:
            log.info("expirer: %s", stats)
        return stats

    async def expire(self, entry: Entry) -> bool:
        """DELETE the object on every primary; True once none needs a retry."""
        ring = self.object_rings.get(entry.policy)
        if ring is None:
            log.error("expirer: %s/%s/%s is in policy %d, which has no ring here",
                      entry.account, entry.container, entry.obj, entry.policy)
            return False
        part, nodes = ring.get_nodes(entry.account, entry.container, entry.obj)
        cpart, cnodes = self.container_ring.get_nodes(entry.account, entry.container)
        ts = tsmod.now()

        async def delete(i: int, node: Any) -> int:
            c = cnodes[i % len(cnodes)]
            headers = {"X-Timestamp": ts, "X-If-Delete-At": entry.delete_at,
                       CONTAINER_HOST: f"{c['ip']}:{c['port']}",
                       CONTAINER_DEVICE: c["device"],
                       CONTAINER_PARTITION: str(cpart), POLICY_INDEX: str(entry.policy)}
            url = f"http://{node['ip']}:{node['port']}" + node_path(
                OBJECTS, node["device"], part, entry.account, entry.container, entry.obj)
            try:
                async with self.node.session.delete(url, headers=headers,
                                                    timeout=self.node.call_timeout) as r:
                    await r.read()
                    return r.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.debug("expirer DELETE %s failed: %s", url, exc)
                return 0

        statuses = await asyncio.gather(*(delete(i, n) for i, n in enumerate(nodes)))
        return all(200 <= s < 300 or s in DONE_STATUSES for s in statuses)


def _remove_entry(path: Path) -> None:
    path.unlink(missing_ok=True)


def daemon_ctx(cfg: StrataConfig, node_number: int
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` running the expirer when ``expirer_interval`` > 0."""
    osc = cfg.objectstore

    def make(app: web.Application) -> Pass | None:
        container_ring = load_ring(cfg, "container")
        object_rings = {p.index: ring for p in osc.policies()
                        if (ring := load_ring(cfg, object_ring(p.index))) is not None}
        if 0 not in object_rings or container_ring is None:
            return None
        return Expirer(app[NODE], object_rings, container_ring).run_once

    return periodic("expirer", osc.expirer_interval, make)
