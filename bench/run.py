#!/usr/bin/env python3
"""Strata against the real OpenStack Swift, same machine, same run, same load.

Starts the Swift peer (../shared/peers/swift/start.sh) and a private Strata
(``strata up -d`` with its state in a temporary directory), then runs
../shared/bench/swiftload.py against each, alternating, ``--rounds`` times
(every other round in reverse order, each load started on a settled machine),
and prints every figure with the ratio Strata/Swift (best round of each, so a
noisy neighbour on the machine hurts both alike) and, with ``--s3``, each S3
phase against the Swift-API phase of Strata it maps to (S3/API). Then it measures the first
page of a 1,000,000-object container listing (``--listing-objects``).

    .venv/bin/python bench/run.py                    # the issue's settings
    .venv/bin/python bench/run.py --objects 500 --rounds 1 --large-count 2   # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quiet import settle

REPO = Path(__file__).resolve().parents[1]
# The shared tree holding the Swift peer and swiftload.py: --shared, else
# $STRATA_BENCH_SHARED, else ``shared`` beside the repository.
DEFAULT_SHARED = Path(os.environ.get("STRATA_BENCH_SHARED") or REPO.parent / "shared")
S3LOAD = REPO / "bench" / "s3load.py"
S3PAIR = REPO / "bench" / "s3pair.py"
# Each phase of s3pair.py and the S3 phase of the table it pairs.
PAIRED = {"put": "s3_put", "get": "s3_get", "head": "s3_head", "delete": "s3_delete",
          "get_large": "s3_get_large",
          # (no phase of its own: the multipart object through both fronts)
          "get_large_same": "s3_get_large_same"}
PY = sys.executable
# One load: its name in the log and what runs it (its figures, phase by phase).
Load = tuple[str, Callable[[], list[dict[str, Any]]]]
HIGHER_IS_BETTER = ("ops_per_s", "MB_per_s")
# Each S3 phase of s3load.py and the Swift-API phase of swiftload.py it translates to.
S3_TO_SWIFT = {"s3_put": "put", "s3_get": "get", "s3_head": "head", "s3_delete": "delete",
               "s3_mpu_put": "put_large", "s3_get_large": "get_large",
               "s3_get_policy": "get"}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def swift_running() -> bool:
    try:
        with urllib.request.urlopen("http://127.0.0.1:8280/healthcheck", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def swiftload_script(shared: Path) -> Path:
    return shared / "bench" / "swiftload.py"


def peer_script(shared: Path, name: str) -> Path:
    return shared / "peers" / "swift" / name


def start_swift(workdir: Path, shared: Path) -> bool:
    """Start the Swift peer unless one already answers; True when this call started it."""
    if swift_running():
        log("a Swift peer already answers on :8280; using it (and leaving it running)")
        return False
    if shutil.which("memcached") is None:
        log("installing memcached (the Swift peer keeps its tokens there)")
        subprocess.run(["apt-get", "install", "-y", "-q", "memcached"], check=True,
                       stdout=subprocess.DEVNULL)
    log(f"starting the Swift peer in {workdir}")
    subprocess.run(["bash", str(peer_script(shared, "start.sh")), str(workdir)], check=True)
    return True


# The Swift peer runs only its servers: no replicator, auditor or updater. Strata's
# storage nodes run theirs in-process, and after a burst of writes a replication pass
# rehashes and compares every partition with both peers (a sixth of a node's time).
# To give both the same load, the bench holds those two off unless --daemons.
QUIET_DAEMONS = {"STRATA_OBJECTSTORE_REPLICATOR_INTERVAL": "86400",
                 "STRATA_OBJECTSTORE_AUDITOR_INTERVAL": "86400"}


def start_strata(home: Path, daemons: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRATA_", "OS_"))}
    env["STRATA_HOME"] = str(home)
    env["STRATA_NETWORK_ENABLED"] = "false"  # the object store is measured, not networks
    env["STRATA_DASHBOARD_ENABLED"] = "false"
    env["STRATA_COMPUTE_ENABLED"] = "false"
    env["STRATA_EC2_ENABLED"] = "false"
    if not daemons:
        env.update(QUIET_DAEMONS)
    log(f"starting Strata with its state in {home}")
    subprocess.run([str(REPO / ".venv" / "bin" / "strata"), "up", "-d"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return env


def demo_password(home: Path) -> str:
    for line in (home / "var" / "demo-openrc").read_text().splitlines():
        if line.startswith("export OS_PASSWORD="):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise SystemExit("no OS_PASSWORD in demo-openrc")


def swiftload(args: argparse.Namespace, auth: str, user: str, key: str) -> list[dict[str, Any]]:
    cmd = [PY, str(swiftload_script(args.shared)), "--auth", auth, f"--user={user}",
           f"--key={key}",
           "--objects", str(args.objects), "--size", str(args.size),
           "--concurrency", str(args.concurrency), "--large-mb", str(args.large_mb),
           "--large-count", str(args.large_count), "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    return result


def _post(url: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **headers})
    return urllib.request.urlopen(request, timeout=30)


def ec2_credential(home: Path, password: str) -> tuple[str, str]:
    """An EC2 access/secret pair of the demo user (``openstack ec2 credentials create``)."""
    auth_url = ""
    for line in (home / "var" / "demo-openrc").read_text().splitlines():
        if line.startswith("export OS_AUTH_URL="):
            auth_url = line.split("=", 1)[1].strip().strip("'\"").rstrip("/")
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
    r = _post(auth_url + "/auth/tokens", {}, body)
    token, tok = r.headers["X-Subject-Token"], json.loads(r.read())["token"]
    r = _post(f"{auth_url}/users/{tok['user']['id']}/credentials/OS-EC2",
              {"X-Auth-Token": token}, {"tenant_id": tok["project"]["id"]})
    cred = json.loads(r.read())["credential"]
    return cred["access"], cred["secret"]


def s3load(args: argparse.Namespace, endpoint: str, access: str,
           secret: str) -> list[dict[str, Any]]:
    cmd = [PY, str(S3LOAD), "--endpoint", endpoint, f"--access={access}",
           f"--secret={secret}", "--objects", str(args.objects), "--size", str(args.size),
           "--concurrency", str(args.concurrency), "--large-mb", str(args.large_mb),
           "--large-count", str(args.large_count), "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    return result


def s3pair(args: argparse.Namespace, key: str, access: str,
           secret: str) -> dict[str, dict[str, Any]]:
    """bench/s3pair.py against Strata: per S3 phase of the table, the Swift-API and S3
    batches it ran back to back and the median of their ratios."""
    cmd = [PY, str(S3PAIR), "--endpoint", "http://127.0.0.1:8080", "--user", "demo:demo",
           f"--key={key}", f"--access={access}", f"--secret={secret}",
           "--pairs", str(args.pairs), "--batch", str(max(1, args.objects // 2)),
           "--size", str(args.size), "--concurrency", str(args.concurrency),
           "--large-mb", str(args.large_mb), "--large-count", str(args.large_count),
           "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {PAIRED[r["op"]]: r for r in json.loads(out.strip().splitlines()[-1])}


def best(rounds: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per phase, the round with the highest rate."""
    out: dict[str, dict[str, Any]] = {}
    for results in rounds:
        for r in results:
            key = "MB_per_s" if "MB_per_s" in r else "ops_per_s"
            if r["phase"] not in out or r[key] > out[r["phase"]][key]:
                out[r["phase"]] = r
    return out


def listing_benchmark(home: Path, env: dict[str, str], n: int, key: str) -> float:
    """Median ms for the first 10,000 names of an n-object container, through the proxy."""
    code = f"""
import json, sys, time, statistics, urllib.request
from pathlib import Path
from common import config
from objectstore.db import ContainerBroker
from objectstore.node import node_root
from objectstore.protocol import ring_file
from rings.hashing import hash_path
from rings.ring import Ring
cfg = config.load()
def req(method, url, headers):
    r = urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers))
    return r
proxy = cfg.proxy_url()
r = req("GET", proxy + "/auth/v1.0", {{"X-Auth-User": "demo:demo", "X-Auth-Key": {key!r}}})
token, url = r.headers["X-Auth-Token"], r.headers["X-Storage-Url"]
account = url.rsplit("/", 1)[1]
req("PUT", url + "/big", {{"X-Auth-Token": token}})
ring = Ring(ring_file(cfg, "container"), cfg.hash_prefix(), cfg.hash_suffix())
part, nodes = ring.get_nodes(account, "big")
h = hash_path(account, "big", hash_prefix=cfg.hash_prefix(), hash_suffix=cfg.hash_suffix())
rows = [dict(name=f"obj-{{i:09d}}", created_at="1700000000.00000", size=4096,
             content_type="application/octet-stream", etag="d41d8cd98f00b204e9800998ecf8427e",
             deleted=0) for i in range({n})]
brokers = []
for node in nodes:
    n_no = node["port"] - cfg.objectstore.port + 1
    db = node_root(cfg, n_no) / node["device"] / "containers" / str(part) / h[-3:] / h / (h + ".db")
    b = ContainerBroker(db)
    for i in range(0, len(rows), 100000):
        b.merge_items(rows[i:i + 100000])
    brokers.append(b)
# The rows went into every replica directly: record that each replica has
# every other's rows, as DB replication would have, so the replicator does
# not re-send a million rows while the listing is being timed.
for b in brokers:
    for other in brokers:
        if other is not b:
            other.set_sync(b.get_info().id, b.max_row())
for b in brokers:
    b.close()
times = []
for _ in range(7):
    t0 = time.perf_counter()
    body = req("GET", url + "/big?format=json&limit=10000", {{"X-Auth-Token": token}}).read()
    times.append((time.perf_counter() - t0) * 1000)
    assert len(json.loads(body)) == 10000
print(statistics.median(times))
"""
    out = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-c", code], env=env,
                         cwd=REPO, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=2000)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--large-mb", type=int, default=64)
    p.add_argument("--large-count", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    p.add_argument("--listing-objects", type=int, default=1_000_000,
                   help="container size for the listing benchmark (0 to skip)")
    p.add_argument("--s3", action="store_true",
                   help="also drive both S3 fronts with bench/s3load.py (4 KiB PUT/GET, "
                        "multipart upload of --large-mb objects)")
    p.add_argument("--pairs", type=int, default=5,
                   help="with --s3: pairs of back-to-back batches (Swift API, S3) of "
                        "bench/s3pair.py for the paired S3/API column (0 to skip)")
    p.add_argument("--swift-only", action="store_true", help="skip the Swift API load")
    p.add_argument("--swift-dir", default="/tmp/swift-peer")
    p.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                   help="the tree holding peers/swift/ and bench/swiftload.py (default: "
                        "$STRATA_BENCH_SHARED, else 'shared' beside the repository)")
    p.add_argument("--daemons", action="store_true",
                   help="keep Strata's replicator and auditor on their default intervals "
                        "(by default they are held off, as the Swift peer runs none)")
    p.add_argument("--keep", action="store_true", help="leave both running afterwards")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    swift_dir = Path(args.swift_dir)
    started_swift = start_swift(swift_dir, args.shared)
    env = start_strata(home, args.daemons)
    try:
        key = demo_password(home)
        strata_runs, swift_runs = [], []
        access, secret = ec2_credential(home, key) if args.s3 else ("", "")
        strata_api: Load = ("Strata", lambda: swiftload(
            args, "http://127.0.0.1:8080/auth/v1.0", "demo:demo", key))
        strata_s3: Load = ("Strata S3", lambda: s3load(
            args, "http://127.0.0.1:8080", access, secret))
        swift_api: Load = ("Swift", lambda: swiftload(
            args, "http://127.0.0.1:8280/auth/v1.0", "test:tester", "testing"))
        swift_s3: Load = ("Swift s3api", lambda: s3load(
            args, "http://127.0.0.1:8280", "test:tester", "testing"))
        # Strata's two fronts run back to back (the S3/API column compares them), and
        # every other round runs the four in reverse order, so that neither side is
        # always the one that starts on a quiet machine or the one that follows the
        # other's load.
        strata_loads = [x for x, on in ((strata_api, not args.swift_only),
                                        (strata_s3, args.s3)) if on]
        swift_loads = [x for x, on in ((swift_api, not args.swift_only),
                                       (swift_s3, args.s3)) if on]
        for i in range(args.rounds):
            strata_round: list[dict[str, Any]] = []
            swift_round: list[dict[str, Any]] = []
            loads = [(strata_round, *x) for x in strata_loads]
            loads += [(swift_round, *x) for x in swift_loads]
            for results, name, load in loads if i % 2 == 0 else loads[::-1]:
                waited = settle()
                log(f"round {i + 1}/{args.rounds}: {name} (after {waited:.1f} s settling)")
                results += load()
            strata_runs.append(strata_round)
            swift_runs.append(swift_round)
        ours, theirs = best(strata_runs), best(swift_runs)
        paired: dict[str, dict[str, Any]] = {}
        if args.s3 and args.pairs and not args.swift_only:
            waited = settle()
            log(f"S3 against Strata's Swift API, {args.pairs} pairs of batches back to "
                f"back (after {waited:.1f} s settling)")
            paired = s3pair(args, key, access, secret)
        listing_ms = None
        if args.listing_objects:
            log(f"listing: filling a container with {args.listing_objects} rows")
            listing_ms = listing_benchmark(home, env, args.listing_objects, key)
    finally:
        if not args.keep:
            subprocess.run([str(REPO / ".venv" / "bin" / "strata"), "down"], env=env,
                           stdout=subprocess.DEVNULL, check=False)
            if started_swift:
                subprocess.run(["bash", str(peer_script(args.shared, "stop.sh")), str(swift_dir)],
                               check=False)
            shutil.rmtree(home, ignore_errors=True)

    rows = []
    for phase, mine in ours.items():
        other = theirs.get(phase, {})
        unit = "MB_per_s" if "MB_per_s" in mine else "ops_per_s"
        ratio = mine[unit] / other[unit] if other.get(unit) else float("nan")
        # an S3 phase against Strata's own Swift-API phase it maps to
        own = ours.get(S3_TO_SWIFT.get(phase, ""), {})
        s3_ratio = round(mine[unit] / own[unit], 2) if own.get(unit) else None
        pair = paired.get(phase)
        rows.append({"phase": phase, "unit": unit, "strata": mine[unit],
                     "swift": other.get(unit), "ratio": round(ratio, 2),
                     "s3_over_swift_api": s3_ratio,
                     "s3_over_swift_api_paired": pair["median_ratio"] if pair else None,
                     "strata_p99_ms": mine["p99_ms"], "swift_p99_ms": other.get("p99_ms"),
                     "errors": mine["errors"] + other.get("errors", 0)})
    if args.json:
        print(json.dumps({"phases": rows, "listing_first_page_ms": listing_ms,
                          "strata_daemons": args.daemons, "s3_pairs": paired}))
        return
    print("Strata's replicator and auditor: " + ("on (default intervals)" if args.daemons
          else "held off, as the Swift peer runs none (--daemons to keep them)"))
    print("ratio: Strata/Swift; S3/API: Strata's S3 front against its own Swift API "
          "(the phase it maps to), from the rounds' best rates; paired: the median of "
          "S3/API over bench/s3pair.py's batches run back to back")
    print(f"{'phase':<12} {'unit':<9} {'strata':>9} {'swift':>9} {'ratio':>6} {'S3/API':>7} "
          f"{'paired':>7} {'p99 ms (strata/swift)':>22} errors")
    for r in rows:
        s3, pair = r["s3_over_swift_api"], r["s3_over_swift_api_paired"]
        print(f"{r['phase']:<12} {r['unit']:<9} {r['strata']:>9} {r['swift']!s:>9} "
              f"{r['ratio']:>6} {'' if s3 is None else s3:>7} {'' if pair is None else pair:>7} "
              f"{r['strata_p99_ms']:>10}/{r['swift_p99_ms']!s:<11} {r['errors']}")
    for phase, pair in paired.items():
        print(f"paired {phase}: S3/API per pair {pair['ratios']} (Swift API {pair['api']}, "
              f"S3 {pair['s3']} {pair['unit']})")
    if "s3_get_policy" in ours and "s3_get" in ours:
        cost = ours["s3_get"]["ops_per_s"] / ours["s3_get_policy"]["ops_per_s"] - 1
        print(f"S3 4 KiB GET under a three-statement bucket policy: {cost:+.1%} time "
              "per GET against none (s3_get_policy against the best s3_get)")
    if listing_ms is not None:
        print(f"listing: first 10,000 of {args.listing_objects:,} objects in "
              f"{listing_ms:.1f} ms (median of 7)")


if __name__ == "__main__":
    main()
