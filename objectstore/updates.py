"""Object servers tell container servers about new, changed and deleted objects.

Rows bound for the same container database on the same node are batched: a
row queues while a batch to that database is in flight and goes in the next
one, so a burst of PUTs costs one request per batch, not one per object. A
batch to a database that had one within the last ``BUSY_WINDOW`` first waits
``COALESCE`` for more rows; a lone PUT waits for nothing. The caller learns
whether its row was accepted; on failure it records an async pending update
for the updater daemon.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from objectstore.node import NodeContext
from objectstore.protocol import (
    CONTAINER_DEVICE,
    CONTAINER_HOST,
    CONTAINER_PARTITION,
    CONTAINERS,
    node_path,
)

log = logging.getLogger(__name__)

MAX_BATCH = 1000
# Under load a new batch first waits this long for more rows: at 200 PUTs a second
# batches grew from about 2 rows to about 6, a third of the update requests. A
# target that has had no batch for BUSY_WINDOW seconds (a lone PUT) waits for nothing.
COALESCE = 0.003
BUSY_WINDOW = 0.05


@dataclass(frozen=True)
class Target:
    host: str  # ip:port
    device: str
    partition: str
    account: str
    container: str

    def batch_url(self) -> str:
        path = node_path(CONTAINERS, self.device, self.partition, self.account,
                         self.container)
        return f"http://{self.host}{path}?batch"


@dataclass
class _Queue:
    rows: list[tuple[dict[str, Any], asyncio.Future[bool]]] = field(default_factory=list)
    busy: bool = False


class ContainerUpdates:
    def __init__(self, node: NodeContext) -> None:
        self.node = node
        self._queues: dict[Target, _Queue] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_batch: dict[Target, float] = {}  # target -> loop time of its last batch
        self.batches_sent = 0

    async def send(self, target: Target, row: dict[str, Any]) -> bool:
        """Queue ``row`` for ``target``; True once the container server committed it."""
        q = self._queues.setdefault(target, _Queue())
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        q.rows.append((row, fut))
        if not q.busy:
            q.busy = True
            task = asyncio.create_task(self._drain(target, q))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await fut

    async def _drain(self, target: Target, q: _Queue) -> None:
        try:
            loop = asyncio.get_running_loop()
            last = self._last_batch.get(target)
            if last is not None and loop.time() - last < BUSY_WINDOW:
                await asyncio.sleep(COALESCE)
            while q.rows:
                self._last_batch[target] = loop.time()
                batch, q.rows = q.rows[:MAX_BATCH], q.rows[MAX_BATCH:]
                ok = await self._post(target, [row for row, _ in batch])
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(ok)
        finally:
            q.busy = False
            if not q.rows:
                self._queues.pop(target, None)
            if len(self._last_batch) > 4 * MAX_BATCH:  # forget targets gone quiet
                now = asyncio.get_running_loop().time()
                self._last_batch = {t: at for t, at in self._last_batch.items()
                                    if now - at < BUSY_WINDOW}

    async def _post(self, target: Target, rows: list[dict[str, Any]]) -> bool:
        self.batches_sent += 1
        try:
            async with self.node.session.post(
                target.batch_url(), data=json.dumps(rows),
                headers={"Content-Type": "application/json"},
                timeout=self.node.call_timeout,
            ) as r:
                await r.read()
                if r.status // 100 == 2:
                    return True
                log.warning("container update to %s got %d", target.host, r.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("container update to %s failed: %s", target.host, exc)
        return False


def targets_from_headers(headers: Any, account: str, container: str) -> list[Target]:
    """The container replicas the proxy asked this object server to update."""
    hosts = [h.strip() for h in headers.get(CONTAINER_HOST, "").split(",") if h.strip()]
    devices = [d.strip() for d in headers.get(CONTAINER_DEVICE, "").split(",")]
    part = headers.get(CONTAINER_PARTITION, "")
    if not hosts or not part.isdigit() or len(devices) != len(hosts):
        return []
    return [Target(h, d, part, account, container) for h, d in zip(hosts, devices, strict=True)]
