#!/usr/bin/env python3
"""Load generator for an S3 endpoint: small-object PUT/GET rates and multipart throughput.

Signs every request with SigV4 as boto3 does over plain HTTP (the body's
SHA-256 in ``x-amz-content-sha256``), path-style, with ``--concurrency``
requests in flight: PUT, GET, HEAD and DELETE of small objects, the operations
(and order) of ../shared/bench/swiftload.py. Large objects go up as multipart
uploads (``--part-mb`` parts, ``--part-concurrency`` of them at once per object)
and come down with one GET each, streamed and counted, up to four objects at
once, as swiftload.py does.
Run it against two endpoints in one sitting for a ratio.

  python3 bench/s3load.py --endpoint http://127.0.0.1:8080 --access AK --secret SK \\
      [--objects 2000] [--size 4096] [--concurrency 32] [--large-mb 64] [--json]

Needs only aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree as ET

import aiohttp

EMPTY = hashlib.sha256(b"").hexdigest()


class Signer:
    def __init__(self, endpoint: str, access: str, secret: str, region: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.host = urlsplit(self.endpoint).netloc
        self.access, self.secret, self.region = access, secret, region
        self._keys: dict[str, bytes] = {}
        self._second, self._amz_date = -1, ""

    def _key(self, day: str) -> bytes:
        if day not in self._keys:
            key = ("AWS4" + self.secret).encode()
            for part in (day, self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys[day] = key
        return self._keys[day]

    def headers(self, method: str, path: str, query: str = "", body: bytes = b"",
                extra: dict[str, str] | None = None) -> dict[str, str]:
        second = int(time.time())
        if second != self._second:  # the date strings change once a second
            self._second = second
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        amz_date, day = self._amz_date, self._amz_date[:8]
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY
        h = {"host": self.host, "x-amz-date": amz_date, "x-amz-content-sha256": payload,
             **{k.lower(): v for k, v in (extra or {}).items()}}
        names = sorted(h)
        pairs = sorted(p.split("=", 1) if "=" in p else [p, ""]
                       for p in query.split("&") if p)
        canonical = "\n".join([
            method, quote(path, safe="/~"), "&".join(f"{k}={v}" for k, v in pairs),
            "".join(f"{n}:{h[n].strip()}\n" for n in names), ";".join(names), payload])
        scope = f"{day}/{self.region}/s3/aws4_request"
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
        sig = hmac.new(self._key(day), sts.encode(), hashlib.sha256).hexdigest()
        h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access}/{scope}, "
                              f"SignedHeaders={';'.join(names)}, Signature={sig}")
        del h["host"]
        return h

    async def call(self, session: aiohttp.ClientSession, method: str, path: str,
                   query: str = "", body: bytes = b"",
                   extra: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
        url = self.endpoint + quote(path, safe="/~") + (f"?{query}" if query else "")
        async with session.request(method, url, data=body or None,
                                   headers=self.headers(method, path, query, body, extra)) as r:
            data = await r.read()
            return r.status, data, r.headers


def summary(phase: str, latencies: list[float], errors: int, elapsed: float,
            nbytes: int = 0) -> dict[str, Any]:
    lat = sorted(latencies) or [0.0]
    out: dict[str, Any] = {
        "phase": phase, "count": len(latencies), "errors": errors,
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2)}
    if nbytes:
        out["MB_per_s"] = round(nbytes / elapsed / 1e6, 1)
    else:
        out["ops_per_s"] = round(len(latencies) / elapsed, 1)
    return out


async def small(s: Signer, session: aiohttp.ClientSession, bucket: str, method: str,
                names: list[str], payload: bytes, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    queue = list(names)

    async def worker() -> None:
        nonlocal errors
        while queue:
            name = queue.pop()
            t = time.perf_counter()
            status, data, _ = await s.call(session, method, f"/{bucket}/{name}",
                                           body=payload if method == "PUT" else b"")
            latencies.append(time.perf_counter() - t)
            if status // 100 != 2 or (method == "GET" and data != payload):
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summary(f"s3_{method.lower()}", latencies, errors, time.perf_counter() - start)


async def stream_get(s: Signer, session: aiohttp.ClientSession, path: str) -> int:
    """GET ``path`` reading the body in 1 MiB pieces; the bytes received (-1: not 200)."""
    url = s.endpoint + quote(path, safe="/~")
    async with session.get(url, headers=s.headers("GET", path)) as r:
        n = 0
        async for chunk in r.content.iter_chunked(1 << 20):
            n += len(chunk)
        return n if r.status == 200 else -1


async def multipart_put(s: Signer, session: aiohttp.ClientSession, bucket: str, key: str,
                        data: bytes, part: int, part_concurrency: int) -> bool:
    path = f"/{bucket}/{key}"
    status, body, _ = await s.call(session, "POST", path, "uploads=")
    if status != 200:
        return False
    upload = ET.fromstring(body).findtext("{*}UploadId") or ""
    chunks = [data[i:i + part] for i in range(0, len(data), part)]
    etags: dict[int, str] = {}
    sem = asyncio.Semaphore(part_concurrency)

    async def one(n: int, chunk: bytes) -> None:
        async with sem:
            st, _, headers = await s.call(session, "PUT", path,
                                          f"partNumber={n}&uploadId={quote(upload, safe='')}",
                                          chunk)
            if st == 200:
                etags[n] = headers["ETag"]

    await asyncio.gather(*(one(i + 1, c) for i, c in enumerate(chunks)))
    if len(etags) != len(chunks):
        return False
    doc = "<CompleteMultipartUpload>" + "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etags[n]}</ETag></Part>"
        for n in sorted(etags)) + "</CompleteMultipartUpload>"
    status, body, _ = await s.call(session, "POST", path,
                                   f"uploadId={quote(upload, safe='')}", doc.encode())
    return status == 200 and b"<Error>" not in body


def bench_policy(bucket: str) -> bytes:
    """A bucket policy of three statements as applications write them: reads from
    loopback allowed by an IP condition, a prefix nobody may delete, and another
    project kept out; none of them changes what the GETs may do."""
    arn = f"arn:aws:s3:::{bucket}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "LoopbackReads", "Effect": "Allow", "Principal": "*",
         "Action": ["s3:GetObject"], "Resource": f"{arn}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}},
        {"Sid": "KeepArchives", "Effect": "Deny", "Principal": "*",
         "Action": "s3:DeleteObject", "Resource": f"{arn}/archive/*"},
        {"Sid": "NotThem", "Effect": "Deny",
         "Principal": {"AWS": ["arn:aws:iam::0123456789abcdef0123456789abcdef:root"]},
         "Action": "s3:*", "Resource": [arn, f"{arn}/*"]},
    ]}).encode()


async def with_policy(s: Signer, session: aiohttp.ClientSession, bucket: str,
                      names: list[str], payload: bytes,
                      concurrency: int) -> list[dict[str, Any]]:
    """The GETs again under a bucket policy (``s3_get_policy``: what evaluating it on
    every request costs), then once more without it; nothing where the front has no
    bucket policies."""
    status, _, _ = await s.call(session, "PUT", f"/{bucket}", "policy",
                                bench_policy(bucket))
    if status not in (200, 204):
        return []
    timed = await small(s, session, bucket, "GET", names, payload, concurrency)
    timed["phase"] = "s3_get_policy"
    await s.call(session, "DELETE", f"/{bucket}", "policy")
    again = await small(s, session, bucket, "GET", names, payload, concurrency)
    return [timed, again]


async def _got(read: Awaitable[int], size: int) -> bool:
    return await read == size


async def large(phase: str, count: int, size: int,
                op: Callable[[int], Awaitable[bool]]) -> dict[str, Any]:
    """``op(i)`` for each of ``count`` objects of ``size`` bytes, at most four at once
    (swiftload.py's large phases); the phase's throughput."""
    latencies: list[float] = []
    errors = 0
    todo = iter(range(count))

    async def worker() -> None:
        nonlocal errors
        for i in todo:
            t = time.perf_counter()
            if not await op(i):
                errors += 1
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(count, 4))))
    return summary(phase, latencies, errors, time.perf_counter() - start, size * count)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    s = Signer(args.endpoint, args.access, args.secret, args.region)
    conn = aiohttp.TCPConnector(limit=args.concurrency * 2)
    timeout = aiohttp.ClientTimeout(total=600)
    results = []
    async with aiohttp.ClientSession(connector=conn, timeout=timeout,
                                     auto_decompress=False) as session:
        bucket = "s3load-" + uuid.uuid4().hex[:12]
        status, body, _ = await s.call(session, "PUT", f"/{bucket}")
        if status != 200:
            raise SystemExit(f"cannot create bucket: {status} {body[:300]!r}")
        names = [f"obj-{i:06d}" for i in range(args.objects)]
        payload = os.urandom(args.size)
        # the operations swiftload.py measures through the Swift API, in its order
        for method in ("PUT", "GET", "HEAD"):
            results.append(await small(s, session, bucket, method, names, payload,
                                       args.concurrency))
            if method == "GET":
                results += await with_policy(s, session, bucket, names, payload,
                                             args.concurrency)
        results.append(await small(s, session, bucket, "DELETE", names, payload,
                                   args.concurrency))
        if args.large_count:
            # As swiftload.py does its large PUTs and GETs: up to four objects at once
            # (each multipart upload sending --part-concurrency parts at a time).
            data = os.urandom(args.large_mb << 20)
            results.append(await large(
                "s3_mpu_put", args.large_count, len(data),
                lambda i: multipart_put(s, session, bucket, f"large-{i}", data,
                                        args.part_mb << 20, args.part_concurrency)))
            # As swiftload.py reads a large object: streamed and counted, not kept or
            # hashed while timed (an MD5 of 64 MiB costs the client more than the
            # transfer); one more GET, untimed, checks the bytes.
            results.append(await large(
                "s3_get_large", args.large_count, len(data),
                lambda i: _got(stream_get(s, session, f"/{bucket}/large-{i}"), len(data))))
            st, got, _ = await s.call(session, "GET", f"/{bucket}/large-0")
            if st != 200 or hashlib.md5(got).digest() != hashlib.md5(data).digest():
                results[-1]["errors"] += 1
        # clean up, few at a time
        queue = [f"large-{i}" for i in range(args.large_count)]

        async def deleter() -> None:
            while queue:
                await s.call(session, "DELETE", f"/{bucket}/{queue.pop()}")

        await asyncio.gather(*(deleter() for _ in range(8)))
        await s.call(session, "DELETE", f"/{bucket}")
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--objects", type=int, default=2000)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--large-mb", type=int, default=64)
    p.add_argument("--large-count", type=int, default=4)
    p.add_argument("--part-mb", type=int, default=8, help="part size (boto3's default)")
    p.add_argument("--part-concurrency", type=int, default=4)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(r)


if __name__ == "__main__":
    main()
