"""Waiting for a quiet machine before a measurement (bench/run.py, bench/s3pair.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def cpu_busy_idle() -> tuple[int, int]:
    """Busy and idle jiffies of all CPUs since boot (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, idle


def settle(limit: float = 30.0, quiet: float = 0.15) -> float:
    """Before a load: write dirty pages back (the last load's, whichever server
    made them) and wait, at most ``limit`` seconds, until the machine's CPUs are
    below ``quiet`` busy over half a second, so that no load starts while the one
    before it is still being flushed or finished. The seconds waited."""
    start = time.monotonic()
    os.sync()
    while time.monotonic() - start < limit:
        b0, i0 = cpu_busy_idle()
        time.sleep(0.5)
        b1, i1 = cpu_busy_idle()
        if (b1 - b0) <= quiet * max(1, (b1 - b0) + (i1 - i0)):
            break
    return time.monotonic() - start
