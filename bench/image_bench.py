#!/usr/bin/env python3
"""Image upload throughput and memory: the image API against the object store's own PUT.

Starts a private Strata (``strata up -d``, state in a temporary directory) and,
alternating ``--rounds`` times, streams ``--gib`` GiB of random bytes
(1) straight into the object store as one object over the Swift API, and
(2) into a new image over the Images API (``PUT /v2/images/{id}/file``, which
hashes, inspects and stores it in the object store as segments), both with
chunked transfer encoding. While (2) runs, the image service's resident memory
is sampled every 50 ms. Prints both rates, their ratio (best round of each)
and the peak RSS. The issue wants a ratio of at least 0.7 and RSS under 200 MB.

    .venv/bin/python bench/image_bench.py [--gib 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from private_strata import private_strata  # beside this file

CHUNK = 1 << 20


def log(msg: str) -> None:
    print(f"[image-bench] {msg}", file=sys.stderr, flush=True)


async def body(total: int, pattern: bytes) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(CHUNK, total - sent)
        yield pattern[:n]
        sent += n


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pid_listening(port: int) -> int:
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True,
                         text=True, check=True).stdout
    for part in out.split("pid=")[1:]:
        return int(part.split(",", 1)[0])
    raise SystemExit(f"nothing listens on port {port}")


async def token(session: aiohttp.ClientSession, auth_url: str, password: str) -> str:
    req = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
    async with session.post(auth_url + "/v3/auth/tokens", json=req) as r:
        assert r.status == 201, await r.text()
        return r.headers["X-Subject-Token"]


async def object_put(session: aiohttp.ClientSession, storage_url: str, tok: str,
                     total: int, pattern: bytes, name: str) -> float:
    h = {"X-Auth-Token": tok}
    async with session.put(f"{storage_url}/bench", headers=h) as r:
        assert r.status in (201, 202), await r.text()
    start = time.perf_counter()
    async with session.put(f"{storage_url}/bench/{name}", headers=h,
                           data=body(total, pattern)) as r:
        assert r.status == 201, await r.text()
    elapsed = time.perf_counter() - start
    async with session.delete(f"{storage_url}/bench/{name}", headers=h) as r:
        pass
    return total / elapsed / 1e6


async def image_put(session: aiohttp.ClientSession, image_url: str, tok: str, total: int,
                    pattern: bytes, pid: int) -> tuple[float, int]:
    h = {"X-Auth-Token": tok}
    async with session.post(f"{image_url}/v2/images", headers=h, json={
            "name": "bench", "disk_format": "raw", "container_format": "bare"}) as r:
        assert r.status == 201, await r.text()
        image_id = (await r.json())["id"]
    peak = rss_of(pid)
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_of(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    start = time.perf_counter()
    async with session.put(f"{image_url}/v2/images/{image_id}/file", data=body(total, pattern),
                           headers={**h, "Content-Type": "application/octet-stream"}) as r:
        assert r.status == 204, await r.text()
    elapsed = time.perf_counter() - start
    done.set()
    await sampler
    async with session.get(f"{image_url}/v2/images/{image_id}", headers=h) as r:
        image = await r.json()
        assert image["status"] == "active" and image["size"] == total, image
    async with session.delete(f"{image_url}/v2/images/{image_id}", headers=h) as r:
        assert r.status == 204
    return total / elapsed / 1e6, peak


async def run(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    env_file = home / "var" / "demo-openrc"
    rc = dict(line[len("export "):].split("=", 1) for line in env_file.read_text().splitlines()
              if line.startswith("export "))
    password = rc["OS_PASSWORD"].strip("'\"")
    auth_url = rc["OS_AUTH_URL"].strip("'\"").rsplit("/v3", 1)[0]
    total = int(args.gib * (1 << 30))
    pattern = os.urandom(CHUNK)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        tok = await token(session, auth_url, password)
        async with session.get(auth_url + "/v3/auth/tokens",
                               headers={"X-Auth-Token": tok, "X-Subject-Token": tok}) as r:
            catalog = (await r.json())["token"]["catalog"]
        urls = {s["type"]: next(e["url"] for e in s["endpoints"] if e["interface"] == "public")
                for s in catalog}
        pid = pid_listening(int(urls["image"].rsplit(":", 1)[1].split("/")[0]))
        base_rss = rss_of(pid)
        objects, images, peaks = [], [], []
        for i in range(args.rounds):
            log(f"round {i + 1}/{args.rounds}: object store PUT of {args.gib} GiB")
            objects.append(await object_put(session, urls["object-store"], tok, total,
                                            pattern, f"big-{i}"))
            log(f"round {i + 1}/{args.rounds}: image upload of {args.gib} GiB")
            rate, peak = await image_put(session, urls["image"], tok, total, pattern, pid)
            images.append(rate)
            peaks.append(peak)
    return {"gib": args.gib, "object_put_MB_s": max(objects), "image_upload_MB_s": max(images),
            "ratio": round(max(images) / max(objects), 2),
            "image_service_rss_MB_before": round(base_rss / 1e6, 1),
            "image_service_peak_rss_MB": round(max(peaks) / 1e6, 1),
            "rounds": {"object": objects, "image": images}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gib", type=float, default=2.0, help="size of each upload, GiB")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="leave Strata running afterwards")
    args = p.parse_args()
    with private_strata("image", args.keep,
                        STRATA_NETWORK_ENABLED="false",  # images are measured, not networks
                        STRATA_DASHBOARD_ENABLED="false", STRATA_COMPUTE_ENABLED="false",
                        STRATA_EC2_ENABLED="false") as (home, _):
        result = asyncio.run(run(args, home))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
