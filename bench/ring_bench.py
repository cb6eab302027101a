#!/usr/bin/env python3
"""Strata's ring builder beside OpenStack Swift's, same machine, same run.

For each size (part power x devices, then more devices added) each builder
runs in a process of its own, one after the other:

1. the first rebalance of a new ring (timed: wall clock and CPU);
2. a rebalance right after it, with nothing changed;
3. the new devices added and a rebalance right away (min_part_hours is 1,
   so this shows what each builder lets move within the hour);
4. ``pretend_min_part_hours_passed`` and a rebalance (timed): the hour has
   passed;
5. one more rebalance right after that.

Every figure is computed here, the same way for both builders, from the
tables each one produced: moved % (partition-replicas whose device changed,
of all), ideal % (the least that must move for every device to hold its
share by weight), balance (the worst device's % off its share by weight)
and dispersion (Swift's definition: the replicas above what the topology
allows in a tier, as a % of all, counted at each partition's worst tier).

Swift comes from PyPI as the peer's ``start.sh`` installs it (``swift`` in a
virtualenv of its own, ``--swift-venv``; made on first use); it is driven
only from this benchmark.

    .venv/bin/python bench/ring_bench.py                     # the issue's two sizes
    .venv/bin/python bench/ring_bench.py --sizes 12:300:30   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SWIFT_VERSION = os.environ.get("SWIFT_VERSION", "2.38.3")  # the peer's version
WEIGHTS = (100.0, 150.0, 200.0, 250.0)
REGIONS, ZONES, DEVS_PER_HOST = 3, 5, 10
REPLICAS, MIN_PART_HOURS = 3, 1
DEFAULT_SIZES = ("16:1000:100", "20:4000:400")


def log(msg: str) -> None:
    print(f"[ring-bench] {msg}", file=sys.stderr, flush=True)


def device(index: int) -> dict[str, Any]:
    """Device ``index`` of the benchmark cluster: 3 regions x 5 zones, 10 devices a host.

    Devices go round the regions, then the zones; each zone fills its hosts
    ten devices at a time, so added devices land on new and existing hosts.
    """
    region = index % REGIONS + 1
    zone = (index // REGIONS) % ZONES + 1
    host = index // (REGIONS * ZONES) // DEVS_PER_HOST
    return {
        "region": region,
        "zone": zone,
        "ip": f"10.{region}.{zone}.{host + 1}",
        "port": 6200,
        "device": f"d{index}",
        "weight": WEIGHTS[index % len(WEIGHTS)],
    }


# -- the worker: runs inside the builder's own interpreter (stdlib only) ----------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _dump(tables: Any, path: Path) -> None:
    with open(path, "wb") as fh:
        for table in tables:
            fh.write(array("i", [int(x) for x in table]).tobytes())


def worker(kind: str, part_power: int, devices: int, added: int, out: Path) -> None:
    if kind == "swift":
        from swift.common.ring import RingBuilder as SwiftBuilder

        builder: Any = SwiftBuilder(part_power, REPLICAS, MIN_PART_HOURS)

        def add(dev: dict[str, Any]) -> int:
            return int(builder.add_dev(dict(dev)))

        def tables() -> Any:
            return builder._replica2part2dev

        def rebalance(seed: int) -> int:
            return int(builder.rebalance(seed=seed)[0])
    else:
        sys.path.insert(0, str(REPO))
        from rings.builder import RingBuilder

        builder = RingBuilder(part_power, REPLICAS, MIN_PART_HOURS)

        def add(dev: dict[str, Any]) -> int:
            return builder.add_dev(**dev)

        def tables() -> Any:
            return builder.replica2part2dev

        def rebalance(seed: int) -> int:
            return builder.rebalance(seed=seed).parts_moved

    result: dict[str, Any] = {"devs": {}}

    def timed(name: str, seed: int) -> None:
        wall, cpu = time.perf_counter(), _cpu()
        moved = rebalance(seed)
        result[name] = {
            "moved": moved,
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(_cpu() - cpu, 2),
        }

    for index in range(devices):
        result["devs"][add(device(index))] = device(index)
    timed("first", 1)
    _dump(tables(), out / "first.bin")
    result["again"] = {"moved": rebalance(2)}
    for index in range(devices, devices + added):
        result["devs"][add(device(index))] = device(index)
    result["added_at_once"] = {"moved": rebalance(3)}
    builder.pretend_min_part_hours_passed()
    timed("added", 4)
    _dump(tables(), out / "added.bin")
    result["added_again"] = {"moved": rebalance(5)}
    (out / "result.json").write_text(json.dumps(result))


# -- the figures (numpy, in the bench's own interpreter) ------------------------------


def load_table(path: Path, parts: int) -> Any:
    import numpy as np

    return np.fromfile(path, dtype=np.int32).reshape(-1, parts)


def figures(table: Any, before: Any, devs: dict[int, dict[str, Any]]) -> dict[str, float]:
    """Balance, dispersion and (against ``before``) moved % and ideal % of one table."""
    import numpy as np

    replicas, parts = table.shape
    total = replicas * parts
    ids = np.array(sorted(devs), dtype=np.int64)
    size = int(ids.max()) + 1
    weight = np.zeros(size)
    weight[ids] = [devs[i]["weight"] for i in ids]
    share = weight / weight.sum() * total
    counts = np.bincount(table.ravel(), minlength=size).astype(float)
    used = weight > 0
    balance = float(np.abs(counts[used] / share[used] - 1).max() * 100)
    result = {"balance": balance, "dispersion": dispersion(table, devs)}
    if before is not None:
        held = np.bincount(before.ravel(), minlength=size).astype(float)
        result["moved_pct"] = float((table != before).sum() / total * 100)
        result["ideal_pct"] = float(np.clip(share - held, 0, None).sum() / total * 100)
    return result


def dispersion(table: Any, devs: dict[int, dict[str, Any]]) -> float:
    """Swift's dispersion figure: replicas above the tier maxima, % of all."""
    import numpy as np

    replicas, parts = table.shape
    keys = {i: (d["region"], d["zone"], f"{d['ip']}:{d['port']}", i) for i, d in devs.items()}
    size = max(devs) + 1
    worst = np.zeros(parts, dtype=np.int64)
    for depth in range(1, 5):
        tiers: dict[tuple[Any, ...], int] = {}
        children: dict[tuple[Any, ...], set[tuple[Any, ...]]] = {}
        for key in keys.values():
            for d in range(1, depth + 1):
                children.setdefault(key[: d - 1], set()).add(key[:d])
        maxima: dict[tuple[Any, ...], float] = {(): float(replicas)}
        for d in range(1, depth + 1):
            for parent, kids in children.items():
                if len(parent) == d - 1:
                    for kid in kids:
                        most = float(-(-maxima[parent] // len(kids)))
                        maxima[kid] = min(1.0, most) if d == 4 else most
        node = np.zeros(size, dtype=np.int64)
        cap = []
        for i, key in keys.items():
            tiers.setdefault(key[:depth], len(tiers))
            node[i] = tiers[key[:depth]]
        cap = np.zeros(len(tiers))
        for tier, n in tiers.items():
            cap[n] = maxima[tier]
        nodes = node[table]  # replicas x parts
        excess = np.zeros(parts, dtype=np.int64)
        for r in range(replicas):
            same = (nodes == nodes[r]).sum(axis=0)
            first = np.ones(parts, dtype=bool)
            for q in range(r):
                first &= nodes[q] != nodes[r]
            over = np.clip(same - cap[nodes[r]], 0, None).astype(np.int64)
            excess += np.where(first, over, 0)
        worst = np.maximum(worst, excess)
    return float(worst.sum() / (replicas * parts) * 100)


# -- driving both ------------------------------------------------------------------


def swift_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "swift-ring-builder").exists():
        log(f"installing swift=={SWIFT_VERSION} into {venv} (as the Swift peer does)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"swift=={SWIFT_VERSION}"], check=True
        )
    return python


def run_one(python: Path, kind: str, size: tuple[int, int, int], tmp: Path) -> dict[str, Any]:
    part_power, devices, added = size
    out = tmp / f"{kind}-{part_power}-{devices}"
    out.mkdir()
    log(f"{kind}: part power {part_power}, {devices} devices, then +{added}")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--worker", kind,
         "--size", f"{part_power}:{devices}:{added}", "--out", str(out)],
        check=True, cwd=REPO, env=env,
    )
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    devs = {int(i): d for i, d in result["devs"].items()}
    first_devs = dict(list(devs.items())[:devices])
    parts = 1 << part_power
    first = load_table(out / "first.bin", parts)
    after = load_table(out / "added.bin", parts)
    result["first"].update(figures(first, None, first_devs))
    result["added"].update(figures(after, first, devs))
    return result


def report(size: tuple[int, int, int], runs: dict[str, dict[str, Any]]) -> None:
    part_power, devices, added = size
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n2^{part_power} partitions x {REPLICAS} replicas, {devices} devices "
          f"({REGIONS} regions x {ZONES} zones, weights {'/'.join(f'{w:g}' for w in WEIGHTS)}), "
          f"min_part_hours {MIN_PART_HOURS}; swift {SWIFT_VERSION}; load average now {load}")
    print(f"{'step':<28} {'builder':<7} {'wall s':>8} {'CPU s':>8} {'moved %':>8} "
          f"{'ideal %':>8} {'balance':>8} {'dispersion':>10}")
    rows = (("first rebalance", "first"), (f"+{added} devices (1 h later)", "added"))
    for label, key in rows:
        for kind, run in runs.items():
            fig = run[key]
            moved = f"{fig['moved_pct']:.2f}" if "moved_pct" in fig else "-"
            ideal = f"{fig['ideal_pct']:.2f}" if "ideal_pct" in fig else "-"
            print(f"{label:<28} {kind:<7} {fig['wall_s']:>8.2f} {fig['cpu_s']:>8.2f} "
                  f"{moved:>8} {ideal:>8} {fig['balance']:>8.3f} {fig['dispersion']:>10.4f}")
    total = (1 << part_power) * REPLICAS
    for label, key in (("rebalance right after the first", "again"),
                       (f"+{added} devices, rebalance at once", "added_at_once"),
                       ("rebalance right after the +devices one", "added_again")):
        moved = ", ".join(
            f"{kind} {run[key]['moved']} ({100 * run[key]['moved'] / total:.2f}%)"
            for kind, run in runs.items()
        )
        print(f"  {label}: moved {moved}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="*", default=list(DEFAULT_SIZES),
                        help="PART_POWER:DEVICES:ADDED (default: the issue's two sizes)")
    parser.add_argument("--builders", default="strata,swift", help="which builders to run")
    parser.add_argument("--swift-venv", type=Path, default=Path("/tmp/swift-ring-bench/venv"))
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        part_power, devices, added = map(int, args.size.split(":"))
        worker(args.worker, part_power, devices, added, args.out)
        return 0
    kinds = args.builders.split(",")
    pythons = {"strata": Path(sys.executable)}
    if "swift" in kinds:
        pythons["swift"] = swift_python(args.swift_venv)
    everything = []
    with tempfile.TemporaryDirectory(prefix="ring-bench-") as tmp:
        for spec in args.sizes:
            size = tuple(map(int, spec.split(":")))
            assert len(size) == 3, "a size is PART_POWER:DEVICES:ADDED"
            part_power, devices, added = size
            runs = {kind: run_one(pythons[kind], kind, (part_power, devices, added), Path(tmp))
                    for kind in kinds}
            report((part_power, devices, added), runs)
            everything.append({"size": spec, "runs": {
                kind: {k: v for k, v in run.items() if k != "devs"} for kind, run in runs.items()
            }})
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
