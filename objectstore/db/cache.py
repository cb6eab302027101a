"""Open brokers kept per path, and group commit of item rows per DB.

:class:`BrokerCache` is a small LRU of brokers (each with its open
connection), so busy DBs are not reopened on every request. An evicted
broker is closed on the node's thread pool, after whatever uses it finishes.

:class:`GroupCommitter` coalesces concurrent row updates to one DB: rows
queue while a merge of that DB is in flight and all go in the next merge, one
transaction for the lot. Each caller returns only after the transaction that
holds its rows has committed, so a lone update waits for nothing and a burst
of N updates costs a handful of fsyncs instead of N.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from objectstore.db.base import DatabaseBroker
from objectstore.node import NodeContext

B = TypeVar("B", bound=DatabaseBroker)

MAX_ROWS_PER_COMMIT = 10000


class BrokerCache:
    """Up to ``size`` open brokers, least recently used evicted first. Thread-safe."""

    def __init__(self, node: NodeContext, size: int = 256) -> None:
        self.node = node
        self.size = size
        self._brokers: OrderedDict[tuple[type[DatabaseBroker], Path], DatabaseBroker] = (
            OrderedDict())
        self._lock = threading.Lock()

    def get(self, cls: type[B], path: Path) -> B:
        key = (cls, path)
        evicted: list[DatabaseBroker] = []
        with self._lock:
            broker = self._brokers.get(key)
            if broker is None:
                broker = cls(path)
                self._brokers[key] = broker
                while len(self._brokers) > self.size:
                    evicted.append(self._brokers.popitem(last=False)[1])
            else:
                self._brokers.move_to_end(key)
        for old in evicted:
            self.node.executor.submit(old.close)
        assert isinstance(broker, cls)
        return broker

    def forget(self, path: Path) -> None:
        """Drop (and close) any broker of ``path``, e.g. before the file is removed."""
        with self._lock:
            gone = [k for k in self._brokers if k[1] == path]
            brokers = [self._brokers.pop(k) for k in gone]
        for b in brokers:
            self.node.executor.submit(b.close)

    def close_all(self) -> None:
        """Close every broker (blocking; at shutdown)."""
        with self._lock:
            brokers = list(self._brokers.values())
            self._brokers.clear()
        for b in brokers:
            b.close()

    def __len__(self) -> int:
        return len(self._brokers)


@dataclass
class _Queue:
    broker: DatabaseBroker
    rows: list[dict[str, Any]] = field(default_factory=list)
    waiters: list[tuple[int, asyncio.Future[bool]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class GroupCommitter:
    """Merges rows bound for the same DB in shared transactions (one flusher per DB)."""

    def __init__(self, run: Callable[..., Any]) -> None:
        # ``run`` is NodeContext.run: awaits a blocking call on the thread pool.
        self._run = run
        self._queues: dict[Path, _Queue] = {}
        self.commits = 0

    async def submit(self, broker: DatabaseBroker, rows: list[dict[str, Any]]) -> bool:
        """Merge ``rows`` into ``broker``'s DB; True once committed, False if the DB is
        deleted (nothing merged). Broker errors (e.g. DatabaseNotFound) are raised."""
        q = self._queues.get(broker.path)
        if q is None:
            q = self._queues[broker.path] = _Queue(broker)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        q.rows.extend(rows)
        fut.add_done_callback(_consume)
        q.waiters.append((len(rows), fut))
        if q.task is None:
            q.task = asyncio.create_task(self._flush(broker.path, q))
        return await asyncio.shield(fut)

    async def _flush(self, path: Path, q: _Queue) -> None:
        try:
            while q.waiters:
                rows: list[dict[str, Any]] = []
                batch: list[asyncio.Future[bool]] = []
                taken = 0
                for n, fut in q.waiters:
                    if batch and len(rows) + n > MAX_ROWS_PER_COMMIT:
                        break
                    rows.extend(q.rows[len(rows):len(rows) + n])
                    batch.append(fut)
                    taken += 1
                del q.waiters[:taken]
                del q.rows[:len(rows)]
                try:
                    ok = await self._run(
                        functools.partial(q.broker.merge_items, rows, only_if_live=True))
                except asyncio.CancelledError:
                    for fut in [*batch, *(f for _, f in q.waiters)]:
                        if not fut.done():
                            fut.cancel()
                    q.waiters.clear()
                    q.rows.clear()
                    raise
                except Exception as exc:  # the broker's error goes to every waiter
                    for fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.commits += 1
                for fut in batch:
                    if not fut.done():
                        fut.set_result(bool(ok))
        finally:
            q.task = None
            if self._queues.get(path) is q and not q.waiters:
                del self._queues[path]

    async def close(self) -> None:
        """Wait for queued merges to finish."""
        tasks = [q.task for q in self._queues.values() if q.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _consume(fut: asyncio.Future[bool]) -> None:
    """Mark an outcome as seen, so a waiter that went away leaves no warning."""
    if not fut.cancelled():
        fut.exception()
