"""The object replicator, its endpoints and the auditor, on four in-process nodes."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from common import timestamp as tsmod
from objectstore import hashes
from objectstore.auditor import ObjectAuditor, RateLimiter
from objectstore.diskfile import HASHES_INVALID, DiskBackend
from objectstore.node import NodeContext
from objectstore.replicator import ObjectReplicator
from objectstore.server import build_app
from rings.builder import RingBuilder
from rings.hashing import hash_path
from rings.ring import Ring
from tests.conftest import free_port

PREFIX, SUFFIX = b"p", b"s"


# Recent timestamps: tombstones older than the reclaim age (a week) are purged.
T0 = int(time.time()) - 3600


def ts(n: float) -> str:
    return tsmod.normalize(T0 + n)


@dataclass
class Nodes:
    ctxs: list[NodeContext]
    ports: list[int]
    ring: Ring
    servers: list[TestServer | None]
    session: aiohttp.ClientSession

    def dev(self, i: int) -> str:
        return f"d{i + 1}"

    def backend(self, i: int) -> DiskBackend:
        return DiskBackend(self.ctxs[i].devices)

    def index(self, device: str) -> int:
        return int(device[1:]) - 1

    def place(self, name: str) -> tuple[str, str, list[int], int]:
        """(partition, hash, primary node indexes, a handoff node index)."""
        a, c, o = name.split("/", 2)
        part = self.ring.get_part(a, c, o)
        primaries = [self.index(n["device"]) for n in self.ring.get_part_nodes(part)]
        handoff = next(i for i in range(4) if i not in primaries)
        return str(part), hash_path(a, c, o, hash_prefix=PREFIX, hash_suffix=SUFFIX), \
            primaries, handoff

    def replicator(self, i: int) -> ObjectReplicator:
        return ObjectReplicator(self.ctxs[i], self.ring, ip="127.0.0.1", port=self.ports[i])

    def files(self, i: int, part: str, obj_hash: str, data_dir: str = "objects") -> list[str]:
        hdir = self.ctxs[i].devices / self.dev(i) / data_dir / part / obj_hash[-3:] / obj_hash
        return sorted(os.listdir(hdir)) if hdir.is_dir() else []

    def put(self, i: int, name: str, body: bytes, stamp: str) -> tuple[str, str]:
        part, h, _, _ = self.place(name)
        b = self.backend(i)
        w = b.writer(self.dev(i))
        w.write(body)
        b.commit(w, self.dev(i), part, h, stamp, {
            "name": f"/{name}", "X-Timestamp": stamp, "Content-Type": "text/plain",
            "Content-Length": str(len(body)), "ETag": hashlib.md5(body).hexdigest(),
            "X-Object-Meta-Color": "blue"})
        return part, h

    async def stop(self, i: int) -> None:
        server = self.servers[i]
        assert server is not None
        await server.close()
        self.servers[i] = None


@asynccontextmanager
async def nodes(tmp: Path, policies: tuple[str, ...] = ("Policy-0",)
                ) -> AsyncIterator[Nodes]:
    """Four nodes on one ring (the ring of every storage policy in ``policies``)."""
    ports = [free_port() for _ in range(4)]
    builder = RingBuilder(3, 3, 0)
    for i, port in enumerate(ports):
        builder.add_dev(region=1, zone=i + 1, ip="127.0.0.1", port=port, device=f"d{i + 1}",
                        weight=100.0)
    builder.rebalance(seed=1)
    builder.write_ring(tmp / "object.ring.gz")
    ring = Ring(tmp / "object.ring.gz", PREFIX, SUFFIX)
    ctxs: list[NodeContext] = []
    servers: list[TestServer | None] = []
    for i, port in enumerate(ports):
        (tmp / f"node{i + 1}" / f"d{i + 1}").mkdir(parents=True)
        ctx = NodeContext(devices=tmp / f"node{i + 1}", hash_prefix=PREFIX,
                          hash_suffix=SUFFIX, node_timeout=3.0, conn_timeout=1.0, workers=4,
                          policies=policies)
        server = TestServer(build_app(ctx), host="127.0.0.1", port=port)
        await server.start_server()
        ctxs.append(ctx)
        servers.append(server)
    session = aiohttp.ClientSession()
    try:
        yield Nodes(ctxs, ports, ring, servers, session)
    finally:
        await session.close()
        for s in servers:
            if s is not None:
                await s.close()
        for ctx in ctxs:
            await ctx.close()


async def test_primary_pushes_what_peers_miss_and_never_resurrects(tmp_path: Path) -> None:
    async with nodes(tmp_path) as n:
        name = "a/c/obj"
        part, h, prim, _ = n.place(name)
        src, peer1, peer2 = prim
        n.put(src, name, b"hello", ts(1))
        n.backend(src).write_meta(n.dev(src), part, h, ts(2),
                                  {"X-Timestamp": ts(2), "X-Object-Meta-Color": "red"})
        # peer2 has a newer delete: it must win there
        n.backend(peer2).write_tombstone(n.dev(peer2), part, h, ts(3), {"name": f"/{name}"})
        stats = await n.replicator(src).replicate_once()
        assert stats.files_pushed == 2 and stats.failures == 0
        assert n.files(peer1, part, h) == [f"{ts(1)}.data", f"{ts(2)}.meta"]
        assert n.files(peer2, part, h) == [f"{ts(3)}.ts"]
        st = n.backend(peer1).state(n.dev(peer1), part, h)
        assert st.metadata["X-Object-Meta-Color"] == "red" and st.length == 5
        with n.backend(peer1).open(st) as f:
            assert f.read() == b"hello"
        # the tombstone spreads from peer2; then everyone agrees and nothing moves
        await n.replicator(peer2).replicate_once()
        for i in prim:
            assert n.files(i, part, h) == [f"{ts(3)}.ts"]
        again = await n.replicator(src).replicate_once()
        assert again.files_pushed == 0 and again.suffixes_synced == 0


async def test_handoff_drains_home_only_when_every_primary_has_it(tmp_path: Path) -> None:
    async with nodes(tmp_path) as n:
        name = "a/c/handed-off"
        part, h, prim, hand = n.place(name)
        n.put(hand, name, b"data", ts(1))
        n.put(prim[0], name, b"older", ts(0))  # a primary with an older version
        down = prim[2]
        await n.stop(down)
        stats = await n.replicator(hand).replicate_once()
        assert stats.handoffs_removed == 0 and stats.failures >= 1
        assert n.files(hand, part, h) == [f"{ts(1)}.data"]  # kept: a primary is missing
        assert n.files(prim[0], part, h) == [f"{ts(1)}.data"]
        assert n.files(prim[1], part, h) == [f"{ts(1)}.data"]
        old = n.ctxs[down]
        n.ctxs[down] = NodeContext(devices=old.devices, hash_prefix=PREFIX, hash_suffix=SUFFIX,
                                   node_timeout=3.0, conn_timeout=1.0, workers=4)
        server = TestServer(build_app(n.ctxs[down]), host="127.0.0.1", port=n.ports[down])
        await server.start_server()
        n.servers[down] = server
        stats = await n.replicator(hand).replicate_once()
        assert stats.handoffs_removed == 1
        for i in prim:
            assert n.files(i, part, h) == [f"{ts(1)}.data"]
        assert not (n.ctxs[hand].devices / n.dev(hand) / "objects" / part).exists()


async def test_tombstones_past_reclaim_age_are_purged_not_replicated(tmp_path: Path) -> None:
    async with nodes(tmp_path) as n:
        week = 7 * 24 * 3600
        old, young = "a/c/deleted-long-ago", "a/c/deleted-lately"
        part_o, h_o, prim_o, _ = n.place(old)
        part_y, h_y, prim_y, _ = n.place(young)
        src_o, src_y = prim_o[0], prim_y[0]
        n.put(src_o, old, b"x", ts(-week - 7200))
        n.backend(src_o).write_tombstone(n.dev(src_o), part_o, h_o, ts(-week - 3600),
                                         {"name": f"/{old}"})
        n.put(src_y, young, b"y", ts(-7200))
        n.backend(src_y).write_tombstone(n.dev(src_y), part_y, h_y, ts(-3600),
                                         {"name": f"/{young}"})
        await n.replicator(src_o).replicate_once()
        if src_y != src_o:
            await n.replicator(src_y).replicate_once()
        # The week-old delete is gone everywhere and was sent nowhere ...
        for i in prim_o:
            assert n.files(i, part_o, h_o) == []
        # ... the recent one reached every replica.
        for i in prim_y:
            assert n.files(i, part_y, h_y) == [f"{ts(-3600)}.ts"]


async def test_push_endpoint_checks_and_verdicts(tmp_path: Path) -> None:
    async with nodes(tmp_path) as n:
        name = "a/c/pushed"
        part, h, prim, _ = n.place(name)
        i = prim[0]
        base = f"http://127.0.0.1:{n.ports[i]}"
        body = b"payload"
        meta = {"name": f"/{name}", "X-Timestamp": ts(2), "Content-Length": str(len(body)),
                "ETag": hashlib.md5(body).hexdigest(), "Content-Type": "text/plain"}

        async def push(file: str, m: dict[str, str], data: bytes = b"", device: str = "",
                       obj_hash: str = h, repl: bool = True) -> int:
            raw = json.dumps(m).encode()
            url = (f"{base}/replicate/objects/{device or n.dev(i)}/{part}/{obj_hash}/{file}")
            headers = {"X-Backend-Metadata-Length": str(len(raw))}
            if repl:
                headers["X-Backend-Replication"] = "true"
            async with n.session.put(url, data=raw + data, headers=headers) as r:
                return r.status

        assert await push(f"{ts(2)}.data", meta, b"tampered") == 422
        assert await push(f"{ts(2)}.data", meta, body, repl=False) == 400
        assert await push(f"{ts(2)}.data", meta, body, obj_hash="0" * 32) == 400
        assert await push("bogus.data", meta, body) == 400
        assert await push(f"{ts(2)}.data", meta, body, device="nope") == 507
        assert await push(f"{ts(2)}.data", meta, body) == 201
        assert await push(f"{ts(2)}.data", meta, body) == 200  # already there
        assert await push(f"{ts(1)}.ts", {"name": f"/{name}"}) == 409  # superseded
        assert await push(f"{ts(3)}.meta", {"X-Timestamp": ts(3)}) == 201
        assert n.files(i, part, h) == [f"{ts(2)}.data", f"{ts(3)}.meta"]
        # the exact timestamp and metadata were kept; no container update was queued
        st = n.backend(i).state(n.dev(i), part, h)
        assert st.data_timestamp == ts(2) and st.metadata["Content-Type"] == "text/plain"
        assert not (n.ctxs[i].devices / n.dev(i) / "async_pending").exists()
        # the hashes endpoint answers the same hashes the node computes locally
        pdir = n.ctxs[i].devices / n.dev(i) / "objects" / part
        rep = f"{base}/replicate/objects/{n.dev(i)}/{part}"
        async with n.session.get(rep) as r:
            assert r.status == 200 and await r.json() == hashes.get_hashes(pdir)
        async with n.session.get(f"{rep}/{h[-3:]}") as r:
            assert (await r.json())[h] == [f"{ts(2)}.data", f"{ts(3)}.meta"]
        async with n.session.get(f"{rep}?recalculate=zz") as r:
            assert r.status == 400
        # a normal object GET on the same node is untouched by these routes
        async with n.session.get(f"{base}/objects/{n.dev(i)}/{part}/{name}") as r:
            assert r.status == 200 and await r.read() == body


async def test_auditor_quarantines_corruption_and_replication_repairs(tmp_path: Path) -> None:
    async with nodes(tmp_path) as n:
        good_name, bad_name, meta_name = "a/c/good", "a/c/bad", "a/c/badmeta"
        for name in (good_name, bad_name, meta_name):
            _, _, prim, _ = n.place(name)
            for i in prim:
                n.put(i, name, name.encode() * 100, ts(1))
        part, h, prim, _ = n.place(bad_name)
        victim = prim[0]
        path = n.ctxs[victim].devices / n.dev(victim) / "objects" / part / h[-3:] / h / \
            f"{ts(1)}.data"
        with open(path, "r+b") as f:
            f.seek(10)
            byte = f.read(1)
            f.seek(10)
            f.write(bytes([byte[0] ^ 0xFF]))
        mpart, mh, mprim, _ = n.place(meta_name)
        mvictim = mprim[1]
        mpath = n.ctxs[mvictim].devices / n.dev(mvictim) / "objects" / mpart / mh[-3:] / mh / \
            f"{ts(1)}.data"
        os.setxattr(mpath, "user.strata.meta", b"{broken")
        total = 0
        for i in range(4):
            stats = await ObjectAuditor(n.ctxs[i], n.backend(i)).audit_once()
            total += stats.quarantined
        assert total == 2
        qdir = n.ctxs[victim].devices / n.dev(victim) / "quarantined" / "objects"
        assert (qdir / h).is_dir() and not path.exists()
        assert h[-3:] in (path.parent.parent.parent / HASHES_INVALID).read_text().split()
        assert not mpath.exists()
        for i in range(4):
            await n.replicator(i).replicate_once()
        for name in (good_name, bad_name, meta_name):
            p, oh, pr, _ = n.place(name)
            for i in pr:
                hdir = n.ctxs[i].devices / n.dev(i) / "objects" / p / oh[-3:] / oh
                data = (hdir / f"{ts(1)}.data").read_bytes()
                assert data == name.encode() * 100
        again = sum([(await ObjectAuditor(n.ctxs[i], n.backend(i)).audit_once()).quarantined
                     for i in range(4)])
        assert again == 0


async def test_rate_limiter_spreads_work() -> None:
    import time

    limiter = RateLimiter(50.0)
    start = time.monotonic()
    for _ in range(10):
        await limiter.take()
    assert time.monotonic() - start >= 0.15
    unlimited = RateLimiter(0)
    start = time.monotonic()
    for _ in range(1000):
        await unlimited.take()
    assert time.monotonic() - start < 0.5
