"""Container/account DB replication: the REPLICATE parser alone, then three real nodes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from objectstore.db import ContainerBroker
from objectstore.db_replication_server import BadOp, MergeOp, SyncOp, parse_op
from objectstore.db_replicator import DB_KINDS, DbReplicator, find_dbs, results_max_row
from tests.unit.objectstore.cluster import BASE, Cluster, cluster, ts


def replicator(c: Cluster, i: int, **kw: Any) -> DbReplicator:
    return DbReplicator(c.nodes[i], {"container": c.rings["container"],
                                     "account": c.rings["account"]},
                        "127.0.0.1", c.ports[i], **kw)


def rows(broker: ContainerBroker) -> dict[str, tuple[str, int]]:
    return {r["name"]: (r["created_at"], r["deleted"])
            for r in broker.get_items_since(-1, 100000)}


# -- the parser --------------------------------------------------------------------------


def test_parse_sync_and_merge() -> None:
    assert parse_op("containers", {"op": "sync", "remote_id": "abc"}) == SyncOp("abc")
    op = parse_op("containers", {
        "op": "merge", "sync_point": 7,
        "db": {"id": "x", "account": "a", "container": "c", "put_timestamp": "1700000000.1",
               "delete_timestamp": "0", "metadata": {"X-Container-Meta-K": ["v", "1.5"]}},
        "rows": [{"name": "o", "created_at": "1700000001", "size": 3, "content_type": "t",
                  "etag": "e", "deleted": 0, "row_id": 4}]})
    assert isinstance(op, MergeOp)
    assert op.db.put_timestamp == "1700000000.10000"
    assert op.db.delete_timestamp == "0000000000.00000"
    assert op.db.metadata == {"X-Container-Meta-K": ["v", "0000000001.50000"]}
    assert op.rows == [{"name": "o", "created_at": "1700000001.00000", "size": 3,
                        "content_type": "t", "etag": "e", "deleted": 0}]
    assert op.sync_point == 7
    acct = parse_op("accounts", {
        "op": "merge", "sync_point": -1,
        "db": {"id": "x", "account": "a", "put_timestamp": "1"},
        "rows": [{"name": "c", "put_timestamp": "2", "delete_timestamp": "0",
                  "object_count": 1, "bytes_used": 5, "deleted": 0}]})
    assert isinstance(acct, MergeOp) and acct.db.container is None
    assert acct.rows[0]["object_count"] == 1


@pytest.mark.parametrize("body", [
    [], {"op": "nope"}, {"op": "sync"}, {"op": "sync", "remote_id": ""},
    {"op": "merge", "sync_point": 1, "db": {"id": "x", "account": "a", "put_timestamp": "1"}},
    {"op": "merge", "sync_point": 1,
     "db": {"id": "x", "account": "a", "container": "c", "put_timestamp": "soon"}},
    {"op": "merge", "sync_point": "1",
     "db": {"id": "x", "account": "a", "container": "c", "put_timestamp": "1"}},
    {"op": "merge", "sync_point": 1, "rows": [{"name": ""}],
     "db": {"id": "x", "account": "a", "container": "c", "put_timestamp": "1"}},
    {"op": "merge", "sync_point": 1, "rows": "x",
     "db": {"id": "x", "account": "a", "container": "c", "put_timestamp": "1"}},
    {"op": "merge", "sync_point": 1,
     "db": {"id": "x", "account": "a", "container": "c", "put_timestamp": "1",
            "metadata": {"k": "v"}}},
])
def test_parse_refuses_malformed(body: Any) -> None:
    with pytest.raises(BadOp):
        parse_op("containers", body)


def test_results_max_row() -> None:
    assert results_max_row([3, 5]) == 3
    assert results_max_row([3, None]) is None
    assert results_max_row([]) is None


# -- three nodes -----------------------------------------------------------------------------


async def test_new_db_is_created_on_peers_in_batches(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b = c.container(0, "AUTH_a", "photos")
        b.initialize(ts(1), "AUTH_a", "photos", {"X-Container-Meta-Color": ("blue", ts(1))})
        for n in range(25):
            b.put_object(f"o{n:02d}", ts(10 + n), n, "text/plain", "etag")
        b.delete_object("o03", ts(100))
        stats = await replicator(c, 0, batch_size=7).run_once()
        assert stats.failures == 0 and stats.created_remote == 2
        for i in (1, 2):
            peer = c.container(i, "AUTH_a", "photos")
            assert rows(peer) == rows(b)
            info = peer.get_info()
            assert (info.object_count, info.bytes_used) == (24, sum(range(25)) - 3)
            assert info.put_timestamp == ts(1)
            assert peer.metadata["X-Container-Meta-Color"] == ["blue", ts(1)]
            assert peer.get_sync(b.get_info().id) == b.max_row()
        # In sync: the next pass sends nothing.
        again = await replicator(c, 0, batch_size=7).run_once()
        assert again.rows_pushed == 0 and again.failures == 0
        # New rows and metadata go out from the recorded sync point only.
        b.put_object("late", ts(200), 1, "t", "e")
        b.update_metadata({"X-Container-Meta-Color": ("red", ts(201))})
        third = await replicator(c, 0).run_once()
        assert third.rows_pushed == 2  # one row for each of the two peers
        for i in (1, 2):
            peer = c.container(i, "AUTH_a", "photos")
            assert "late" in rows(peer)
            assert peer.metadata["X-Container-Meta-Color"] == ["red", ts(201)]


async def test_peers_exchange_rows_both_ways_and_settle(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        brokers = [c.container(i, "AUTH_a", "c") for i in range(3)]
        for i, b in enumerate(brokers):
            b.initialize(ts(1), "AUTH_a", "c")
            b.put_object(f"only-on-{i}", ts(10 + i), 1, "t", "e")
            b.put_object("shared", ts(20 + i), i, "t", f"e{i}")
        for _ in range(2):
            for i in range(3):
                await replicator(c, i).run_once()
        expected = rows(brokers[0])
        assert set(expected) == {"only-on-0", "only-on-1", "only-on-2", "shared"}
        assert expected["shared"] == (ts(22), 0)
        for b in brokers:
            assert rows(b) == expected
            assert b.get_info().object_count == 4
        # Settled: another round pushes nothing anywhere.
        for i in range(3):
            assert (await replicator(c, i).run_once()).rows_pushed == 0


async def test_delete_wins_over_stale_replica(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        brokers = [c.container(i, "AUTH_a", "gone") for i in range(3)]
        for b in brokers:
            b.initialize(ts(1), "AUTH_a", "gone")
        brokers[0].put_object("o", ts(2), 1, "t", "e")
        brokers[0].delete_object("o", ts(3))
        brokers[0].mark_deleted(ts(4))
        brokers[1].mark_deleted(ts(4))
        # Replica 3 missed the delete (and the object); it pushes first, then learns.
        await replicator(c, 2).run_once()
        assert brokers[0].is_deleted() and brokers[1].is_deleted()
        await replicator(c, 0).run_once()
        assert brokers[2].is_deleted()
        assert brokers[2].get_info().delete_timestamp == ts(4)
        for i in range(3):
            await replicator(c, i).run_once()
        assert all(b.is_deleted() for b in brokers)
        status, _ = await c.request("HEAD", 2, f"/containers/d3/"
                                    f"{c.rings['container'].get_part('AUTH_a', 'gone')}"
                                    "/AUTH_a/gone")
        assert status == 404


async def test_account_dbs_replicate(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a = c.account(0, "AUTH_a")
        a.initialize(ts(1), "AUTH_a", None, {"X-Account-Meta-Q": ("1", ts(1))})
        a.put_container("c1", ts(2), "0", 3, 30)
        a.put_container("c2", ts(3), "0", 1, 10)
        a.put_container("c2", ts(3), ts(4), 0, 0)
        await replicator(c, 0).run_once()
        for i in (1, 2):
            info = c.account(i, "AUTH_a").get_info()
            assert (info.container_count, info.object_count, info.bytes_used) == (1, 3, 30)
            assert info.metadata["X-Account-Meta-Q"] == ["1", ts(1)]


async def test_handoff_db_goes_to_primaries_and_is_removed(tmp_path: Path) -> None:
    async with cluster(tmp_path, extra_devices=("spare",)) as c:
        h = c.container(0, "AUTH_a", "c", device="spare")
        h.initialize(ts(1), "AUTH_a", "c")
        h.put_object("o", ts(2), 5, "t", "e")
        h.close()
        assert len(find_dbs(c.nodes[0].devices, "spare", DB_KINDS[0])) == 1
        stats = await replicator(c, 0).run_once()
        assert stats.handoffs_removed == 1 and stats.failures == 0
        assert not h.path.exists()
        for i in range(3):
            assert "o" in rows(c.container(i, "AUTH_a", "c"))


async def test_handoff_kept_while_a_primary_is_unreachable(tmp_path: Path) -> None:
    async with cluster(tmp_path, extra_devices=("spare",)) as c:
        h = c.container(0, "AUTH_a", "c", device="spare")
        h.initialize(ts(1), "AUTH_a", "c")
        h.close()
        await c.servers[2].close()  # one primary is down
        stats = await replicator(c, 0).run_once()
        assert stats.failures >= 1 and stats.handoffs_removed == 0
        assert h.path.exists()


async def test_reclaim_old_tombstones_and_deleted_dbs(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b = c.container(0, "AUTH_a", "c")
        b.initialize(ts(1), "AUTH_a", "c")
        b.put_object("keep", ts(2), 1, "t", "e")
        b.delete_object("old", ts(3))
        dead = c.container(0, "AUTH_a", "dead")
        dead.initialize(ts(1), "AUTH_a", "dead")
        dead.mark_deleted(ts(2))
        age = time.time() - BASE - 50  # ts(3) and older are past it
        stats = await replicator(c, 0, reclaim_age=age).run_once()
        assert stats.reclaimed_dbs == 1
        assert not dead.path.exists()
        assert set(rows(b)) == {"keep"}
        assert not c.container(1, "AUTH_a", "dead").path.exists()
