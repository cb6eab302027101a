#!/usr/bin/env python3
"""Strata's S3 front against its own Swift API, operation by operation, seconds apart.

The S3/API column of bench/run.py divides rates of whole loads run a minute or
more apart, and on a shared machine the rate of the same code moves by a third
from one minute to the next. This measures each pairing on its own: for each
operation (4 KiB PUT, GET, HEAD, DELETE and the 64 MiB GET) it runs a batch
through the Swift API and the same batch through S3, each cut in six slices run
alternately, A B B A A B B A A B B A (``--interleave`` 3: a machine that gets
faster or slower during the pair costs both fronts alike; which front goes first
alternates from pair to pair), ``--pairs`` times, and reports each front's rate
per pair and the median of the per-pair ratios S3/API. Each pair starts on a
quiet machine (the writes before it flushed, its CPUs idle: ``quiet.settle``), and
the GET and HEAD batches read their objects ``--read-passes`` times (3), so that
even the fastest operations are measured over a second or more, not a few tenths.

The S3 requests are signed (SigV4, as bench/s3load.py signs them) and the Swift
requests carry a token, as ../shared/bench/swiftload.py sends them; both use
one client session with ``--concurrency`` requests in flight. Large objects,
read four at once, streamed and counted: ``get_large`` reads a plain object
through the Swift API against a multipart upload of the same bytes
(``--part-mb`` parts, as boto3 and the aws CLI upload 64 MiB) through S3;
``get_large_same`` reads that multipart object through both fronts (through
the Swift API it is the SLO the upload made): the S3 GetObject against the
Swift-API GET it maps to.

    python3 bench/s3pair.py --endpoint http://127.0.0.1:8080 --user demo:demo \\
        --key PASSWORD --access AK --secret SK [--pairs 5] [--batch 1000] [--json]

Needs only aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any

import aiohttp
from quiet import settle
from s3load import Signer, multipart_put, stream_get

SMALL = ("PUT", "GET", "HEAD", "DELETE")
# the large GETs: through the Swift API a plain object, or the same multipart one
LARGE = ("GET_LARGE", "GET_LARGE_SAME")


class Fronts:
    """One request of each kind through either front of the same cloud."""

    def __init__(self, session: aiohttp.ClientSession, storage_url: str, token: str,
                 signer: Signer, bucket: str) -> None:
        self.session, self.url, self.token = session, storage_url, token
        self.signer, self.bucket = signer, bucket

    async def swift(self, method: str, name: str, body: bytes = b"") -> bool:
        async with self.session.request(
                method, f"{self.url}/{self.bucket}/{name}", data=body or None,
                headers={"X-Auth-Token": self.token}) as r:
            await r.read()
            return r.status // 100 == 2

    async def s3(self, method: str, name: str, body: bytes = b"") -> bool:
        status, _, _ = await self.signer.call(self.session, method,
                                              f"/{self.bucket}/{name}", body=body)
        return status // 100 == 2

    async def swift_stream(self, name: str) -> int:
        n = 0
        async with self.session.get(f"{self.url}/{self.bucket}/{name}",
                                    headers={"X-Auth-Token": self.token}) as r:
            async for chunk in r.content.iter_chunked(1 << 20):
                n += len(chunk)
            return n if r.status == 200 else -1


async def timed(ops: Sequence[Callable[[], Awaitable[bool]]], concurrency: int) -> float:
    """Run ``ops`` with ``concurrency`` in flight: the seconds it took (inf on an error)."""
    todo = iter(ops)
    failed = 0

    async def worker() -> None:
        nonlocal failed
        for op in todo:
            if not await op():
                failed += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return math.inf if failed else elapsed


Ops = Sequence[Callable[[], Awaitable[bool]]]


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """``items`` in ``parts`` consecutive slices, as even as they go."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return out


async def pair(first: str, second: str, slices: Mapping[str, Sequence[Ops]],
               concurrency: int, units: float = 1.0) -> dict[str, float]:
    """Each front's rate over its operations, given as an even number of slices and
    run in the order first, second, second, first, first, second, ... (ABBA
    repeated): speed the machine gains or loses during the pair, at any pace slower
    than a slice, costs both fronts alike. ``units``: what one operation counts for."""
    spent = {first: 0.0, second: 0.0}
    done = {first: 0, second: 0}
    for k in range(len(slices[first])):
        order = (first, second) if k % 2 == 0 else (second, first)
        for front in order:
            todo = slices[front][k]
            spent[front] += await timed(todo, concurrency)
            done[front] += len(todo)
    return {front: done[front] * units / t if t else 0.0 for front, t in spent.items()}


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout,
                                     auto_decompress=False) as session:
        async with session.get(args.endpoint + "/auth/v1.0", headers={
                "X-Auth-User": args.user, "X-Auth-Key": args.key}) as r:
            r.raise_for_status()
            url, token = r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]
        signer = Signer(args.endpoint, args.access, args.secret, args.region)
        bucket = "s3pair-" + uuid.uuid4().hex[:12]
        status, body, _ = await signer.call(session, "PUT", f"/{bucket}")
        if status != 200:
            raise SystemExit(f"cannot create bucket: {status} {body[:300]!r}")
        f = Fronts(session, url, token, signer, bucket)
        payload = os.urandom(args.size)
        rates: dict[str, dict[str, list[float]]] = {
            op: {"api": [], "s3": []} for op in (*SMALL, *LARGE)}
        # the large objects, once: a plain one for the Swift API, a multipart one for S3
        data = os.urandom(args.large_mb << 20)
        for i in range(args.large_count):
            if not await f.swift("PUT", f"plain-{i}", data) or not await multipart_put(
                    signer, session, bucket, f"mpu-{i}", data, args.part_mb << 20, 4):
                raise SystemExit("could not store the large objects")
        size = len(data)

        counter = itertools.count()

        async def large(front: str, same: bool) -> bool:
            i = next(counter) % args.large_count
            if front == "api":
                return await f.swift_stream(f"mpu-{i}" if same else f"plain-{i}") == size
            return await stream_get(signer, session, f"/{bucket}/mpu-{i}") == size

        for p in range(args.pairs):
            first, second = ("api", "s3") if p % 2 == 0 else ("s3", "api")
            for op in SMALL:
                settle()  # the pair starts once the last one's work is flushed and done
                passes = args.read_passes if op in ("GET", "HEAD") else 1
                slices = {}
                for front in (first, second):
                    call = f.swift if front == "api" else f.s3
                    names = [f"{front}-{p}-{i:06d}" for i in range(args.batch)]
                    body = payload if op == "PUT" else b""
                    # each slice writes (or reads, ``passes`` times over) its own objects
                    slices[front] = [[partial(call, op, n, body) for n in part * passes]
                                     for part in split(names, 2 * args.interleave)]
                for front, rate in (await pair(first, second, slices,
                                               args.concurrency)).items():
                    rates[op][front].append(rate)
            reads = args.large_count * args.large_reads
            for op in LARGE:
                settle()
                large_slices = {front: split([partial(large, front, op == "GET_LARGE_SAME")
                                              for _ in range(reads)], 2 * args.interleave)
                                for front in (first, second)}
                for front, rate in (await pair(first, second, large_slices,
                                               min(4, args.large_count), size / 1e6)).items():
                    rates[op][front].append(rate)
        for i in range(args.large_count):
            await f.swift("DELETE", f"plain-{i}")
            await signer.call(session, "DELETE", f"/{bucket}/mpu-{i}")
        await signer.call(session, "DELETE", f"/{bucket}")
    out = []
    for op, got in rates.items():
        ratios = [s / a if a else 0.0 for a, s in zip(got["api"], got["s3"], strict=True)]
        out.append({"op": op.lower(), "unit": "MB_per_s" if op in LARGE else "ops_per_s",
                    "api": [round(x, 1) for x in got["api"]],
                    "s3": [round(x, 1) for x in got["s3"]],
                    "ratios": [round(x, 2) for x in ratios],
                    "median_ratio": round(statistics.median(ratios), 2)})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True, help="Strata's proxy, e.g. http://127.0.0.1:8080")
    p.add_argument("--user", required=True, help="v1.0 auth user (account:user)")
    p.add_argument("--key", required=True)
    p.add_argument("--access", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--batch", type=int, default=1000, help="4 KiB objects per batch")
    p.add_argument("--read-passes", type=int, default=3,
                   help="GET and HEAD batches read their objects this many times (the "
                        "fastest operations: a batch long enough to measure)")
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--large-mb", type=int, default=64)
    p.add_argument("--large-count", type=int, default=4)
    p.add_argument("--interleave", type=int, default=3,
                   help="ABBA rounds per pair: each front's batch runs as twice this "
                        "many slices, alternating with the other's")
    p.add_argument("--large-reads", type=int, default=6,
                   help="reads of each large object per batch")
    p.add_argument("--part-mb", type=int, default=8)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(f"{r['op']:<10} {r['unit']:<9} S3/API median {r['median_ratio']}  "
              f"pairs {r['ratios']}  api {r['api']}  s3 {r['s3']}")


if __name__ == "__main__":
    main()
