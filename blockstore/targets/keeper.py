"""Keeping the block store's own tgtd running (``[blockstore] manage_tgtd``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from blockstore.targets.base import TargetDriver, TargetError
from blockstore.targets.tgt import TgtDaemon

log = logging.getLogger(__name__)


class TgtdKeeper:
    """Keeps one tgtd running for the block store (when ``manage_tgtd``).

    A tgtd already answering on the control port (left by a manager that was
    killed) is adopted; ``stop`` asks whichever tgtd it runs to exit.
    """

    def __init__(self, daemon: TgtDaemon, driver: TargetDriver) -> None:
        self.daemon = daemon
        self.driver = driver
        self.adopted = False

    async def answers(self) -> bool:
        try:
            await self.driver.list_exports()
            return True
        except TargetError:
            return False

    async def ensure(self) -> bool:
        """Start tgtd when nothing answers; True when it was (re)started."""
        if self.daemon.pid is not None or await self.answers():
            if self.daemon.pid is None:
                self.adopted = True
            return False
        self.adopted = False
        await self.daemon.start()
        log.info("tgtd started (pid %s) on portal %s:%d", self.daemon.pid,
                 self.daemon.portal_address, self.daemon.portal_port)
        return True

    async def stop(self) -> None:
        if self.daemon.pid is not None:
            await self.daemon.stop()
        elif self.adopted:
            with contextlib.suppress(TargetError, OSError):
                proc = await asyncio.create_subprocess_exec(
                    "tgtadm", "-C", str(self.daemon.control_port), "--mode", "system",
                    "--op", "delete", stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL)
                await proc.wait()
