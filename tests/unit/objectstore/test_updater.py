"""The updater on three real nodes: async pending replay and container -> account stats."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from objectstore.async_pending import iter_async_pending, write_async_pending
from objectstore.updater import Updater
from tests.unit.objectstore.cluster import Cluster, cluster, ts


def updater(c: Cluster, i: int, **kw: int) -> Updater:
    return Updater(c.nodes[i], c.rings["account"], **kw)


def rows_record(c: Cluster, target: int, container: str, *names: str) -> dict[str, object]:
    part = c.rings["container"].get_part("AUTH_a", container)
    return {"kind": "container-rows", "host": f"127.0.0.1:{c.ports[target]}",
            "device": c.device(target), "partition": str(part), "account": "AUTH_a",
            "container": container,
            "rows": [{"name": n, "created_at": ts(50), "size": 4, "content_type": "t",
                      "etag": "e", "deleted": 0} for n in names]}


async def test_container_rows_are_replayed_in_one_batch_and_removed(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        b = c.container(1, "AUTH_a", "c")
        b.initialize(ts(1), "AUTH_a", "c")
        for name in ("x", "y", "z"):
            write_async_pending(c.device_path(0), rows_record(c, 1, "c", name))
        stats = await updater(c, 0, batch_size=2).run_once()
        assert (stats.records, stats.delivered, stats.kept) == (3, 3, 0)
        assert {r["name"] for r in b.list_objects(10)} == {"x", "y", "z"}
        assert list(iter_async_pending(c.device_path(0))) == []


async def test_404_is_kept_until_reclaim_age(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        write_async_pending(c.device_path(0), rows_record(c, 1, "nowhere", "x"))
        stats = await updater(c, 0).run_once()
        assert (stats.delivered, stats.kept) == (0, 1)
        assert len(list(iter_async_pending(c.device_path(0)))) == 1
        # Once the container exists there (replication caught up), it goes through.
        c.container(1, "AUTH_a", "nowhere").initialize(ts(1), "AUTH_a", "nowhere")
        assert (await updater(c, 0).run_once()).delivered == 1
        # An undeliverable record older than reclaim_age is dropped.
        write_async_pending(c.device_path(0), rows_record(c, 1, "other", "x"))
        stats = await updater(c, 0, reclaim_age=-1).run_once()
        assert stats.dropped == 1
        assert list(iter_async_pending(c.device_path(0))) == []


async def test_unreachable_target_is_kept(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        record = rows_record(c, 2, "c", "x")
        await c.servers[2].close()
        write_async_pending(c.device_path(0), record)
        stats = await updater(c, 0).run_once()
        assert stats.kept == 1 and len(list(iter_async_pending(c.device_path(0)))) == 1


async def test_account_update_record_is_replayed(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        acct = c.account(2, "AUTH_a")
        acct.initialize(ts(1), "AUTH_a")
        part = c.rings["account"].get_part("AUTH_a")
        write_async_pending(c.device_path(0), {
            "kind": "account-update", "host": f"127.0.0.1:{c.ports[2]}", "device": "d3",
            "partition": str(part), "account": "AUTH_a", "container": "c 1",
            "method": "PUT", "path": f"/accounts/d3/{part}/AUTH_a/{quote('c 1')}",
            "headers": {"X-Put-Timestamp": ts(2), "X-Delete-Timestamp": "0",
                        "X-Object-Count": "7", "X-Bytes-Used": "70", "X-Timestamp": ts(2)}})
        assert (await updater(c, 0).run_once()).delivered == 1
        info = acct.get_info()
        assert (info.container_count, info.object_count, info.bytes_used) == (1, 7, 70)
        assert acct.list_containers(10)[0]["name"] == "c 1"


async def test_container_stats_reach_every_account_replica(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        accounts = [c.account(i, "AUTH_a") for i in range(3)]
        for a in accounts:
            a.initialize(ts(1), "AUTH_a")
        b = c.container(0, "AUTH_a", "c")
        b.initialize(ts(2), "AUTH_a", "c")
        b.put_object("o1", ts(3), 10, "t", "e")
        b.put_object("o2", ts(4), 5, "t", "e")
        stats = await updater(c, 0).run_once()
        assert stats.reports == 1
        for a in accounts:
            info = a.get_info()
            assert (info.container_count, info.object_count, info.bytes_used) == (1, 2, 15)
        binfo = b.get_info()
        assert (binfo.reported_object_count, binfo.reported_bytes_used) == (2, 15)
        assert (await updater(c, 0).run_once()).reports == 0  # nothing changed
        b.delete_object("o1", ts(5))
        assert (await updater(c, 0).run_once()).reports == 1
        assert accounts[1].get_info().object_count == 1
        # A deleted container reports its delete: the account row goes away.
        b.delete_object("o2", ts(6))
        b.mark_deleted(ts(7))
        await updater(c, 0).run_once()
        for a in accounts:
            assert a.get_info().container_count == 0


async def test_report_needs_a_majority(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        c.account(0, "AUTH_a").initialize(ts(1), "AUTH_a")  # the others have no account DB
        b = c.container(0, "AUTH_a", "c")
        b.initialize(ts(2), "AUTH_a", "c")
        stats = await updater(c, 0).run_once()
        assert stats.reports == 0 and stats.report_failures == 1
        assert b.get_info().reported_put_timestamp == "0"


async def test_passes_report_only_written_containers_and_the_sweep_finds_the_rest(
        tmp_path: Path) -> None:
    """At rest a pass reads no container DB: only those a client wrote since the last
    pass (the server notes them) or whose report failed; the sweep reads them all."""
    async with cluster(tmp_path) as c:
        for i in range(3):
            c.account(i, "AUTH_a").initialize(ts(1), "AUTH_a")
        u = updater(c, 0)
        assert (await u.run_once()).sweep  # the first pass sweeps
        part = c.rings["container"].get_part("AUTH_a", "w")
        url = f"/containers/{c.device(0)}/{part}/AUTH_a/w"
        status, _ = await c.request("PUT", 0, url, {"X-Timestamp": ts(2)})
        assert status == 201
        status, _ = await c.request("PUT", 0, url + "/o", {
            "X-Timestamp": ts(3), "X-Size": "7", "X-Content-Type": "t", "X-Etag": "e"})
        assert status == 201
        assert c.container_path(0, "AUTH_a", "w") in c.nodes[0].stats_changed
        # A DB changed behind the servers' back is not noted: passes do not see it.
        quiet = c.container(0, "AUTH_a", "q")
        quiet.initialize(ts(4), "AUTH_a", "q")
        stats = await u.run_once()
        assert not stats.sweep and stats.reports == 1
        assert c.nodes[0].stats_changed == set()
        info = c.account(1, "AUTH_a").get_info()
        assert (info.object_count, info.bytes_used) == (1, 7)
        assert (await u.run_once()).reports == 0
        assert quiet.get_info().reported_put_timestamp == "0"
        # The sweep (a restarted node's first pass) reports it.
        stats = await updater(c, 0).run_once()
        assert stats.sweep and stats.reports == 1
        assert quiet.get_info().reported_put_timestamp == ts(4)


async def test_a_failed_report_is_tried_again_next_pass(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        c.account(0, "AUTH_a").initialize(ts(1), "AUTH_a")  # no majority of accounts yet
        u = updater(c, 0)
        await u.run_once()
        b = c.container(0, "AUTH_a", "c")
        b.initialize(ts(2), "AUTH_a", "c")
        c.nodes[0].db_changed(c.container_path(0, "AUTH_a", "c"))
        stats = await u.run_once()
        assert stats.report_failures == 1
        assert c.container_path(0, "AUTH_a", "c") in c.nodes[0].stats_changed
        c.account(1, "AUTH_a").initialize(ts(1), "AUTH_a")
        stats = await u.run_once()
        assert not stats.sweep and stats.reports == 1
