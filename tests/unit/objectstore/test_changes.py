"""Replicating what changed: the marks (objectstore/changes.py), and the DB and object
replicators taking only marked items between sweeps, on real in-process nodes."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from objectstore.changes import Changes, Sweeps, peer_key
from objectstore.db_replicator import DbReplicator, local_db
from objectstore.protocol import POLICY_INDEX
from objectstore.replicator import ObjectReplicator
from tests.unit.objectstore.cluster import Cluster, cluster, ts
from tests.unit.objectstore.test_object_replicator import nodes
from tests.unit.objectstore.test_object_replicator import ts as ots

HOURS = 3600.0 * 4


def test_a_mark_goes_once_every_peer_took_that_change() -> None:
    c: Changes[str] = Changes()
    c.mark("db")
    gen = c.generation("db")
    assert gen is not None
    c.reached("db", gen, {"p1"}, {"p1", "p2"})
    assert [(k, m.reached) for k, m in c.pending()] == [("db", {"p1"})]
    c.reached("db", gen, {"p2"}, {"p1", "p2"})
    assert len(c) == 0 and c.generation("db") is None


def test_a_newer_change_keeps_its_mark_and_forgets_who_had_the_old_one() -> None:
    c: Changes[str] = Changes()
    c.mark("db")
    old = c.generation("db")
    assert old is not None
    c.reached("db", old, {"p1"}, {"p1", "p2"})
    c.mark("db")  # changed again while the pass was pushing
    c.reached("db", old, {"p2"}, {"p1", "p2"})  # the old change reached p2: not enough
    [(key, mark)] = c.pending()
    assert key == "db" and mark.reached == set() and mark.generation != old
    c.drop("db")
    assert len(c) == 0


def test_sweeps_first_pass_then_every_interval() -> None:
    s = Sweeps(3600)
    assert s.due()
    s.started()
    assert not s.due()
    s._last = time.monotonic() - 3601
    assert s.due()
    every = Sweeps(0)
    every.started()
    assert every.due()


def db_replicator(c: Cluster, i: int, sweep: float = HOURS) -> DbReplicator:
    return DbReplicator(c.nodes[i], {"container": c.rings["container"],
                                     "account": c.rings["account"]},
                        "127.0.0.1", c.ports[i], sweep_interval=sweep)


def container_url(c: Cluster, i: int, container: str) -> str:
    part = c.rings["container"].get_part("AUTH_a", container)
    return f"/containers/{c.device(i)}/{part}/AUTH_a/{container}"


async def test_db_passes_take_only_changed_dbs_and_the_sweep_restores_a_lost_one(
        tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        r0 = db_replicator(c, 0)
        assert (await r0.run_once()).sweep  # the first pass sweeps (nothing here yet)
        # a write on node 0 alone: the server marks the DB, the next pass pushes it
        status, _ = await c.request("PUT", 0, container_url(c, 0, "one"),
                                    {"X-Timestamp": ts(1)})
        assert status == 201
        path = c.container_path(0, "AUTH_a", "one")
        assert [k for k, _ in c.nodes[0].changed_dbs.pending()] == [path]
        stats = await r0.run_once()
        assert not stats.sweep and stats.dbs == 1 and stats.created_remote == 2
        assert len(c.nodes[0].changed_dbs) == 0
        for i in (1, 2):
            assert c.container(i, "AUTH_a", "one").get_info().put_timestamp == ts(1)
        # at rest: a pass opens no DB at all
        assert (await r0.run_once()).dbs == 0
        # a replica lost on node 2 is not seen by passes, only by the sweep
        c.container_path(2, "AUTH_a", "one").unlink()
        assert (await r0.run_once()).dbs == 0
        assert not c.container_path(2, "AUTH_a", "one").exists()
        sweeper = db_replicator(c, 0)  # a restarted node: its first pass sweeps
        stats = await sweeper.run_once()
        assert stats.sweep and stats.created_remote == 1
        assert c.container(2, "AUTH_a", "one").get_info().put_timestamp == ts(1)


async def test_db_mark_stays_for_the_peer_that_failed(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        r0 = db_replicator(c, 0)
        await r0.run_once()
        await c.servers[2].close()  # one peer is down
        status, _ = await c.request("PUT", 0, container_url(c, 0, "two"),
                                    {"X-Timestamp": ts(1)})
        assert status == 201
        stats = await r0.run_once()
        assert stats.failures == 1 and stats.created_remote == 1
        [(path, mark)] = c.nodes[0].changed_dbs.pending()
        assert local_db(c.nodes[0].devices, path) is not None
        peers = c.rings["container"].get_part_nodes(c.rings["container"].get_part("AUTH_a",
                                                                                  "two"))
        up = next(n for n in peers if n["port"] == c.ports[1])
        assert mark.reached == {peer_key(up["ip"], up["port"], up["device"])}


def test_local_db_reads_only_db_paths(tmp_path: Path) -> None:
    h = "0" * 29 + "abc"
    good = tmp_path / "d1" / "containers" / "12" / "abc" / h / f"{h}.db"
    db = local_db(tmp_path, good)
    assert db is not None and (db.device, db.part, db.hash, db.kind.dir) == \
        ("d1", 12, h, "containers")
    for bad in (tmp_path / "d1" / "objects" / "12" / "abc" / h / f"{h}.db",
                tmp_path / "d1" / "containers" / "x" / "abc" / h / f"{h}.db",
                tmp_path.parent / "elsewhere.db"):
        assert local_db(tmp_path, bad) is None


async def test_object_passes_take_changed_partitions_and_a_quarantine_is_refilled(
        tmp_path: Path) -> None:
    async with nodes(tmp_path) as n:
        def replicator(i: int) -> ObjectReplicator:
            return ObjectReplicator(n.ctxs[i], n.ring, ip="127.0.0.1", port=n.ports[i],
                                    sweep_interval=HOURS)

        reps = [replicator(i) for i in range(4)]
        for r in reps:
            assert (await r.replicate_once()).sweep
        name = "a/c/obj"
        part, h, prim, _ = n.place(name)
        src, peer1, peer2 = prim
        body = b"x" * 1000
        url = f"/objects/{n.dev(src)}/{part}/a/c/obj"
        async with n.session.put(f"http://127.0.0.1:{n.ports[src]}{url}", data=body, headers={
                "X-Timestamp": ots(1), "Content-Type": "text/plain"}) as resp:
            assert resp.status == 201
        stats = await reps[src].replicate_once()
        assert not stats.sweep and stats.partitions == 1 and stats.files_pushed == 2
        assert n.files(peer1, part, h) == n.files(peer2, part, h) == [f"{ots(1)}.data"]
        assert (await reps[src].replicate_once()).partitions == 0  # at rest
        # peer1 loses its copy to quarantine (a GET finds it corrupt): it marks the
        # partition, asks a peer holding the object to push, and gets it back
        data = n.ctxs[peer1].devices / n.dev(peer1) / "objects" / part / h[-3:] / h / \
            f"{ots(1)}.data"
        data.write_bytes(b"y" * 1000)
        get = f"http://127.0.0.1:{n.ports[peer1]}/objects/{n.dev(peer1)}/{part}/a/c/obj"
        async with n.session.get(get) as resp:
            assert resp.status == 404
        assert n.files(peer1, part, h) == []
        await reps[peer1].replicate_once()  # asks the others to push
        assert any(len(n.ctxs[i].changed_parts) for i in (src, peer2))
        for i in (src, peer2):
            await reps[i].replicate_once()
        assert n.files(peer1, part, h) == [f"{ots(1)}.data"]
        assert hashlib.md5(data.read_bytes()).hexdigest() == hashlib.md5(body).hexdigest()


async def test_a_write_under_another_policy_is_pushed_by_its_replicators_pass(
        tmp_path: Path) -> None:
    async with nodes(tmp_path, policies=("Policy-0", "silver")) as n:
        def replicator(i: int, policy: int) -> ObjectReplicator:
            return ObjectReplicator(n.ctxs[i], n.ring, ip="127.0.0.1", port=n.ports[i],
                                    policy=policy, sweep_interval=HOURS)

        reps = [[replicator(i, p) for p in (0, 1)] for i in range(4)]
        for by_policy in reps:
            for r in by_policy:
                assert (await r.replicate_once()).sweep
        part, h, prim, _ = n.place("a/c/obj")
        src, peer1, peer2 = prim
        url = f"http://127.0.0.1:{n.ports[src]}/objects/{n.dev(src)}/{part}/a/c/obj"
        async with n.session.put(url, data=b"x" * 100, headers={
                "X-Timestamp": ots(1), "Content-Type": "text/plain",
                POLICY_INDEX: "1"}) as resp:
            assert resp.status == 201
        assert [p for p, _ in n.ctxs[src].changed_parts.pending()] == \
            [n.ctxs[src].devices / n.dev(src) / "objects-1" / part]
        # policy 0's replicator leaves policy 1's mark alone
        stats = await reps[src][0].replicate_once()
        assert not stats.sweep and stats.partitions == 0
        assert len(n.ctxs[src].changed_parts) == 1
        stats = await reps[src][1].replicate_once()
        assert not stats.sweep and stats.partitions == 1 and stats.files_pushed == 2
        for peer in (peer1, peer2):
            assert n.files(peer, part, h, "objects-1") == [f"{ots(1)}.data"]
            assert n.files(peer, part, h) == []
        assert len(n.ctxs[src].changed_parts) == 0
        assert (await reps[src][1].replicate_once()).partitions == 0  # at rest


@pytest.mark.parametrize("sweep", [0.0])
async def test_sweep_interval_zero_sweeps_every_pass(tmp_path: Path, sweep: float) -> None:
    async with cluster(tmp_path) as c:
        b = c.container(0, "AUTH_a", "c")
        b.initialize(ts(1), "AUTH_a", "c")  # not through a server: no mark
        r0 = db_replicator(c, 0, sweep)
        for _ in range(2):
            stats = await r0.run_once()
            assert stats.sweep and stats.dbs == 1
