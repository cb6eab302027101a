#!/usr/bin/env python3
"""The object store at rest: CPU of the storage nodes with many containers, no traffic.

Starts a private Strata (``strata up -d``, its state in a temporary directory,
free ports, only identity, the storage nodes and the proxy), creates
``--containers`` containers through the proxy, waits until the storage nodes
have settled (replication of the new DBs done), then measures the CPU time of
the three storage node processes (every daemon runs inside them, at its
default interval) over ``--window`` seconds, from ``/proc/<pid>/stat``. Then it
restarts the storage nodes to time the one full sweep a restart begins with,
and reports that sweep's CPU spread over ``replicator_sweep_interval``.

    .venv/bin/python bench/idle_bench.py                      # 10,000 containers
    .venv/bin/python bench/idle_bench.py --sweep-every-pass   # as before change tracking
    .venv/bin/python bench/idle_bench.py --containers 500 --window 60   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.probe.test_db_daemons import storage_pids  # noqa: E402  (the probes' finder)

STRATA = REPO / ".venv" / "bin" / "strata"
TICK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[idle] {msg}", file=sys.stderr, flush=True)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free TCP ports on 127.0.0.1."""
    for base in range(21000, 60000, 97):
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise SystemExit("no free ports")


def node_pids(home: Path) -> dict[int, int]:
    """node number -> pid of that storage node of this instance."""
    return storage_pids({"STRATA_HOME": str(home)})


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` (every thread of each), in seconds."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def window_cpu(home: Path, seconds: float) -> float:
    """Percent of one core the storage nodes used over the next ``seconds``."""
    pids = list(node_pids(home).values())
    t0, c0 = time.monotonic(), cpu_seconds(pids)
    time.sleep(seconds)
    if sorted(node_pids(home).values()) != sorted(pids):
        raise SystemExit("a storage node restarted during the window")
    return 100 * (cpu_seconds(pids) - c0) / (time.monotonic() - t0)


async def make_containers(proxy: str, password: str, count: int, concurrency: int) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{proxy}/auth/v1.0", headers={
                "X-Auth-User": "demo:demo", "X-Auth-Key": password}) as r:
            url, token = r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]
        names = iter(range(count))
        failures = 0

        async def worker() -> None:
            nonlocal failures
            for i in names:
                async with s.put(f"{url}/idle-{i:06d}", headers={"X-Auth-Token": token}) as r:
                    if r.status not in (201, 202):
                        failures += 1
                if i and i % 1000 == 0:
                    log(f"  {i} containers")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if failures:
            raise SystemExit(f"{failures} container PUTs failed")


def settle(home: Path, below: float, longest: float, step: float = 20.0) -> float:
    """Wait until a ``step``-second window of the nodes' CPU is under ``below`` percent
    (at most ``longest`` seconds); the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < longest:
        pct = window_cpu(home, step)
        log(f"  settling: {pct:.1f}% of a core")
        if pct < below:
            break
    return time.monotonic() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--containers", type=int, default=10_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--window", type=float, default=300.0,
                   help="seconds measured at rest (default: one auditor interval)")
    p.add_argument("--settle-max", type=float, default=900.0,
                   help="longest wait for the new containers' replication to finish")
    p.add_argument("--sweep-every-pass", action="store_true",
                   help="replicator_sweep_interval 0: every pass walks every DB and "
                        "partition, as before change tracking")
    p.add_argument("--no-restart", action="store_true",
                   help="skip timing the sweep a restart begins with")
    p.add_argument("--keep", action="store_true", help="leave it running afterwards")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="strata-idle-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATA_", "OS_"))}
    env.update(STRATA_HOME=str(home), STRATA_IMAGESTORE_ENABLED="false",
               STRATA_BLOCKSTORE_ENABLED="false", STRATA_COMPUTE_ENABLED="false",
               STRATA_NETWORK_ENABLED="false", STRATA_EC2_ENABLED="false",
               STRATA_LOG_LEVEL="WARNING")
    base = free_ports(5)  # identity, proxy, then the three storage nodes
    env.update(STRATA_IDENTITY_PORT=str(base), STRATA_PROXY_PORT=str(base + 1),
               STRATA_OBJECTSTORE_PORT=str(base + 2))
    if args.sweep_every_pass:
        env["STRATA_OBJECTSTORE_REPLICATOR_SWEEP_INTERVAL"] = "0"
    sweep_interval = float(subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-c",
         "from common import config; print(config.load().objectstore.replicator_sweep_interval)"],
        env=env, cwd=REPO, check=True, capture_output=True, text=True).stdout)
    log(f"starting Strata in {home}")
    subprocess.run([str(STRATA), "up", "-d"], env=env, check=True, stdout=subprocess.DEVNULL)
    result: dict[str, object] = {"containers": args.containers, "window_s": args.window,
                                 "sweep_interval_s": sweep_interval}
    try:
        password = ""
        for line in (home / "var" / "demo-openrc").read_text().splitlines():
            if line.startswith("export OS_PASSWORD="):
                password = line.split("=", 1)[1].strip().strip("'\"")
        proxy = f"http://127.0.0.1:{env['STRATA_PROXY_PORT']}"
        log(f"creating {args.containers} containers")
        t0 = time.monotonic()
        asyncio.run(make_containers(proxy, password, args.containers, args.concurrency))
        result["create_s"] = round(time.monotonic() - t0, 1)
        log("settling (replication of the new databases) ...")
        result["settle_s"] = round(settle(home, 5.0, args.settle_max), 1)
        log(f"measuring {args.window:.0f}s at rest")
        result["idle_pct_of_one_core"] = round(window_cpu(home, args.window), 2)
        log(f"at rest: {result['idle_pct_of_one_core']}% of one core")
        if not args.no_restart:
            sweep = sweep_cost(home)
            result.update(sweep)
            if sweep_interval > 0:  # that sweep's CPU spread over the interval between sweeps
                result["sweep_amortized_pct"] = round(
                    100 * sweep["sweep_cpu_s"] / sweep_interval, 2)
        with urllib.request.urlopen(f"{proxy}/healthcheck", timeout=10) as r:
            result["proxy_healthy"] = r.status == 200
    finally:
        if not args.keep:
            subprocess.run([str(STRATA), "down"], env=env, stdout=subprocess.DEVNULL,
                           check=False)
            shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        print(f"{k:<24} {v}")


def sweep_cost(home: Path) -> dict[str, float]:
    """Restart the storage nodes (their first pass is a full sweep) and measure the CPU
    they spend until they are at rest again."""
    old = node_pids(home)
    log("restarting the storage nodes: their first replication pass sweeps everything")
    for pid in old.values():
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = node_pids(home)
        if len(new) == len(old) and not set(new.values()) & set(old.values()):
            break
        time.sleep(0.5)
    else:
        raise SystemExit("the storage nodes did not come back")
    pids = list(new.values())
    start = time.monotonic()
    settle(home, 5.0, 1800.0, step=10.0)
    cpu = cpu_seconds(pids)
    return {"sweep_cpu_s": round(cpu, 1), "sweep_wall_s": round(time.monotonic() - start, 1)}


if __name__ == "__main__":
    main()
