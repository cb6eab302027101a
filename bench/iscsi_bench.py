#!/usr/bin/env python3
"""Sequential I/O through a Strata iSCSI export versus the same files directly.

Starts a private tgtd on a free loopback port and runs the same ``qemu-img
bench`` workload (``--size`` bytes in 1 MiB requests, queue depth 8; writes
end with a flush) against two kinds of export, each beside its own baseline:

- a real volume: two volumes made by the file backend (``blockstore.backends.
  FileBackend``, a qcow2 layer each). One is exported exactly as the volume
  manager exports it (the backend's FUSE raw view, served by
  ``blockstore.targets.TgtDriver`` with CHAP) and driven through QEMU's
  ``iscsi://`` driver (libiscsi): ``volume-iscsi``. The other's qcow2 file is
  driven directly: ``volume-file-direct`` (O_DIRECT, ``-t none``: what the
  disk under the volume sustains) and ``volume-file-cached`` (page cache).
- a plain preallocated raw file served by tgt (``raw-iscsi``) against the same
  file with O_DIRECT (``raw-file-direct``): the target's own cost, without the
  backend's FUSE view.

Each is run ``--rounds`` times, alternating, and the best round counts (a
noisy neighbour on a shared machine hurts every path alike). It prints MB/s
for each and the ratios iscsi / file of those bests; the issue asks for at
least 0.6x. Beside them, the paired median: the ratio within each round,
then its median over the rounds. The disk's O_DIRECT rate swings from round
to round far more than the CPU-bound iSCSI path, so a best-of ratio mostly
follows the disk's luckiest round.

    .venv/bin/python bench/iscsi_bench.py                 # 1 GiB, 5 rounds
    .venv/bin/python bench/iscsi_bench.py --size 256M --rounds 1   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from private_strata import free_port  # beside this file

from blockstore.backends import FileBackend
from blockstore.targets import TgtDaemon
from blockstore.targets.base import Export, run_command

REQUEST = 1 << 20
DEPTH = 8
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip().upper())
    if not match:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 1G, 256M)")
    size = int(match.group(1)) * _UNITS[match.group(2)]
    if size < REQUEST or size % REQUEST:
        raise argparse.ArgumentTypeError("size must be a positive multiple of 1 MiB")
    return size


def log(msg: str) -> None:
    print(f"[iscsi-bench] {msg}", file=sys.stderr, flush=True)


async def bench(target: list[str], size: int, write: bool) -> float:
    """Seconds qemu-img bench reports for one sequential pass."""
    count = size // REQUEST
    argv = ["qemu-img", "bench", "-c", str(count), "-s", str(REQUEST),
            "-d", str(DEPTH)]
    if write:
        argv += ["-w", f"--flush-interval={count}", "--pattern=171"]
    result = await run_command([*argv, *target], time_limit=600.0)
    match = re.search(r"Run completed in ([0-9.]+) seconds", result.stdout)
    if result.returncode != 0 or not match:
        raise SystemExit(f"qemu-img bench failed: {result.stderr.strip() or result.stdout}")
    return float(match.group(1))


def iscsi_url(export: Export) -> str:
    return (f"iscsi://{export.auth_username}%{export.auth_password}@{export.portal}/"
            f"{export.target_iqn}/{export.lun}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="bytes (default 1G)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the volumes go (default: a temporary directory "
                        "under /var/tmp, i.e. on disk, not tmpfs)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    size_gib = -(-args.size // (1 << 30))

    with tempfile.TemporaryDirectory(prefix="strata-iscsi-bench-",
                                     dir=args.dir or "/var/tmp") as tmp:
        raw = Path(tmp) / "plain.raw"
        fd = os.open(raw, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, args.size)  # no allocation cost inside any timed run
        finally:
            os.close(fd)
        backend = FileBackend(Path(tmp) / "volumes")
        await backend.open()
        exported, direct = str(uuid.uuid4()), str(uuid.uuid4())
        await backend.create(exported, size_gib)
        await backend.create(direct, size_gib)
        qcow2 = backend.chain(direct)[0]
        daemon = TgtDaemon(portal_port=free_port(), log_path=Path(tmp) / "tgtd.log")
        await daemon.start()
        driver = daemon.driver()
        try:
            view = await backend.export_path(exported)
            volume = await driver.ensure_export(exported, view, chap_user="bench",
                                                chap_password=uuid.uuid4().hex[:16])
            plain_id = str(uuid.uuid4())
            plain = await driver.ensure_export(plain_id, str(raw), chap_user="bench2",
                                               chap_password=uuid.uuid4().hex[:16])
            paths = {
                "volume-iscsi": ["-f", "raw", iscsi_url(volume)],
                "volume-file-direct": ["-f", "qcow2", "-t", "none", qcow2],
                "volume-file-cached": ["-f", "qcow2", "-t", "writeback", qcow2],
                "raw-iscsi": ["-f", "raw", iscsi_url(plain)],
                "raw-file-direct": ["-f", "raw", "-t", "none", str(raw)],
            }
            best: dict[str, float] = {}
            rounds: list[dict[str, float]] = []
            for rnd in range(1, args.rounds + 1):
                rounds.append({})
                for op in ("write", "read"):
                    for name, target in paths.items():
                        seconds = await bench(target, args.size, op == "write")
                        mbps = args.size / seconds / 1e6
                        log(f"round {rnd} {op:5} {name:18} {seconds:7.3f} s {mbps:8.1f} MB/s")
                        key = f"{op}_{name}_MB_per_s"
                        best[key] = max(best.get(key, 0.0), mbps)
                        rounds[-1][key] = mbps
            await driver.remove_export(plain_id)
            await driver.remove_export(exported)
            await backend.release_export(exported)
        finally:
            await daemon.stop()
            await backend.close()

    figures: dict[str, float] = {k: round(v, 1) for k, v in best.items()}
    ratios = {"volume_vs_file_direct": ("volume-iscsi", "volume-file-direct"),
              "volume_vs_file_cached": ("volume-iscsi", "volume-file-cached"),
              "raw_vs_file_direct": ("raw-iscsi", "raw-file-direct")}
    for op in ("write", "read"):
        for label, (num, den) in ratios.items():
            figures[f"{op}_ratio_{label}"] = round(
                best[f"{op}_{num}_MB_per_s"] / best[f"{op}_{den}_MB_per_s"], 2)
            # the same ratio within each round (both paths under the same neighbours),
            # then the median over the rounds: a disk that bursts in one round moves it less
            figures[f"{op}_paired_median_ratio_{label}"] = round(statistics.median(
                r[f"{op}_{num}_MB_per_s"] / r[f"{op}_{den}_MB_per_s"] for r in rounds), 2)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"sequential {args.size >> 20} MiB, {REQUEST >> 10} KiB requests, depth {DEPTH}, "
          f"best of {args.rounds} (MB/s):")
    for op in ("write", "read"):
        print(f"  {op:5} volume: iscsi {figures[f'{op}_volume-iscsi_MB_per_s']:7.1f}  "
              f"qcow2 O_DIRECT {figures[f'{op}_volume-file-direct_MB_per_s']:7.1f}  "
              f"qcow2 cached {figures[f'{op}_volume-file-cached_MB_per_s']:7.1f}  "
              f"ratio {figures[f'{op}_ratio_volume_vs_file_direct']:.2f}x "
              f"(vs cached {figures[f'{op}_ratio_volume_vs_file_cached']:.2f}x; paired "
              f"median {figures[f'{op}_paired_median_ratio_volume_vs_file_direct']:.2f}x)")
        print(f"  {op:5} raw:    iscsi {figures[f'{op}_raw-iscsi_MB_per_s']:7.1f}  "
              f"file O_DIRECT {figures[f'{op}_raw-file-direct_MB_per_s']:7.1f}  "
              f"ratio {figures[f'{op}_ratio_raw_vs_file_direct']:.2f}x (paired median "
              f"{figures[f'{op}_paired_median_ratio_raw_vs_file_direct']:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
