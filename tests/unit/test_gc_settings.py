"""Every service runs with the cyclic collector settled (common.http.settle_gc):
what it holds at start and once it listens is frozen out of the collector's walks,
and young collections run at GC_THRESHOLDS. Checked in a child process, so this
test's own interpreter keeps its defaults."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio, gc, json, socket
from aiohttp import web
from common.http import GC_THRESHOLDS, run_app, run_service

async def main():
    at_start = gc.get_freeze_count()
    held = [[i] for i in range(5000)]  # what an app builds as it starts
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    server = asyncio.create_task(run_app(web.Application(), "127.0.0.1", port))
    for _ in range(500):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            break
        except OSError:
            await asyncio.sleep(0.01)
    listening = gc.get_freeze_count()
    server.cancel()
    print(json.dumps({"threshold": list(gc.get_threshold()), "expected": list(GC_THRESHOLDS),
                      "at_start": at_start, "listening": listening, "held": len(held)}))

run_service(main())
"""


def test_services_freeze_what_they_hold_and_collect_young_objects_less_often() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["threshold"] == got["expected"]
    assert got["expected"][0] > 700  # above the interpreter's default
    assert got["at_start"] > 10_000  # the modules the service imported
    # the objects the app built before it listened were frozen with it
    assert got["listening"] >= got["at_start"] + got["held"]
