"""The host agent: keeps this host's data path equal to the database.

It runs as a background task of the networking service (the embedded default,
as the block store runs its volume manager in-process). Each pass reads the
desired state (:func:`network.core.desired.build`) in one transaction and awaits
the data path's ``apply`` with it, then marks the ports bound to this host
``ACTIVE`` (``DOWN`` while administratively down), each unless it changed since
it was read (that change has a pass of its own). A pass runs at start, soon
after every change the API makes (:meth:`HostAgent.wake`; wakes that arrive
during a pass coalesce into one more pass), every ``resync_interval`` seconds,
and again after a failure, backing off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from sqlalchemy.orm import Session

from common.db import Database
from network import hostcheck
from network.core import desired
from network.dataplane import DataPlane, check
from network.dataplane.model import DataPath, DesiredState

log = logging.getLogger(__name__)

RETRY_FIRST = 1.0
RETRY_MAX = 30.0


async def load_dataplane(instance: str, state_dir: Path) -> DataPath | None:
    """This host's data path, or None (logged: what is missing) when it cannot run."""
    preflight = await check()
    if not preflight.ok:
        log.warning("%s", hostcheck.describe(list(preflight.missing)))
        return None
    await asyncio.to_thread(state_dir.mkdir, parents=True, exist_ok=True)
    return DataPlane(instance, state_dir)


class HostAgent:
    def __init__(self, db: Database, plane: DataPath, *, instance: str, host: str,
                 resync_interval: float, metadata_socket: str = "") -> None:
        self._db = db
        self._plane = plane
        self._instance = instance
        self._host = host
        self._interval = resync_interval
        self._metadata = metadata_socket
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # completed passes (read by tests and the benchmark)
        self.failures = 0
        self.last_error = ""
        self.idle = asyncio.Event()  # set while no pass is due or running

    async def start(self) -> None:
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="network-host-agent")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._plane.close()

    def wake(self) -> None:
        """Something the data path carries changed: run a pass soon."""
        self.idle.clear()
        self._wake.set()

    async def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            self.idle.clear()
            if await self.sync():
                delay = RETRY_FIRST
                if not self._wake.is_set():
                    self.idle.set()
                continue
            await asyncio.sleep(delay)  # then try again, whatever woke us meanwhile
            delay = min(delay * 2, RETRY_MAX)
            self._wake.set()

    def _read(self, s: Session) -> tuple[DesiredState, list[desired.StatusChange]]:
        """The desired state, and the ports whose status a successful pass settles."""
        state = desired.build(s, instance=self._instance, host=self._host,
                              metadata_socket=self._metadata)
        return state, desired.status_changes(s, self._host)

    async def sync(self) -> bool:
        """One pass; False when it failed (logged)."""
        started = time.monotonic()
        try:
            state, changes = await self._db.run(self._read)
            await self._plane.apply(state)
            if changes:
                await self._db.run(lambda s: desired.settle_status(s, changes))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.exception("network data path: applying the desired state failed")
            return False
        self.passes += 1
        log.debug("network data path applied: %d networks, %d ports, %d routers in %.3fs",
                  len(state.networks), len(state.ports), len(state.routers),
                  time.monotonic() - started)
        return True
