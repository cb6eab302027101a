"""The expirer: its on-disk index alone, then expiring objects on three real nodes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from common import timestamp as tsmod
from objectstore.expirer import Expirer, due_entries, entry_path, record_expiring
from tests.unit.objectstore.cluster import Cluster, cluster, settled, ts


def test_index_entries_come_due_in_time_order(tmp_path: Path) -> None:
    dev = tmp_path / "d1"
    dev.mkdir()
    for when, name in ((5000, "late"), (1000, "early"), (4000, "mid"), (90000, "future")):
        assert record_expiring(dev, "AUTH_a", "c", name, f"{when:032x}", str(when))
    assert record_expiring(dev, "AUTH_a", "c", "bad", "0" * 32, "soon") is None
    due = due_entries(dev, now=4500)
    assert [e.obj for e in due] == ["early", "mid"]
    assert due[0].delete_at == "1000" and due[0].account == "AUTH_a"
    assert [e.obj for e in due_entries(dev, now=100000)] == ["early", "mid", "late", "future"]
    assert [e.obj for e in due_entries(dev, now=100000, limit=1)] == ["early"]
    path = entry_path(dev, 1000, f"{1000:032x}")
    assert json.loads(path.read_bytes())["object"] == "early"
    assert path.parent.name == "0000000000"  # bucket: the hour it falls in
    # Emptied past buckets are pruned; unreadable entries are skipped.
    path.unlink()
    (entry_path(dev, 4000, f"{4000:032x}")).write_text("not json")
    assert [e.obj for e in due_entries(dev, now=7300)] == ["late"]
    assert not path.parent.exists()


def object_path(c: Cluster, i: int, name: str) -> str:
    part = c.rings["object"].get_part("AUTH_a", "c", name)
    return f"/objects/{c.device(i)}/{part}/AUTH_a/c/{name}"


async def put(c: Cluster, name: str, delete_at: int | None, stamp: str) -> None:
    cpart, cnodes = c.rings["container"].get_nodes("AUTH_a", "c")
    for i in range(3):
        node = cnodes[i]
        headers = {"X-Timestamp": stamp, "Content-Type": "text/plain",
                   "X-Backend-Container-Host": f"{node['ip']}:{node['port']}",
                   "X-Backend-Container-Device": node["device"],
                   "X-Backend-Container-Partition": str(cpart)}
        if delete_at is not None:
            headers["X-Delete-At"] = str(delete_at)
        status, _ = await c.request("PUT", i, object_path(c, i, name), headers, b"data")
        assert status == 201


def files(c: Cluster, suffix: str) -> list[Path]:
    return [p for i in range(3) for p in (c.device_path(i) / "objects").rglob(f"*{suffix}")]


async def test_expired_objects_are_deleted_everywhere(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        for i in range(3):
            c.container(i, "AUTH_a", "c").initialize(ts(1), "AUTH_a", "c")
        delete_at = int(time.time()) + 100
        await put(c, "doomed", delete_at, tsmod.now())
        await put(c, "kept", None, tsmod.now())
        assert all(len(due_entries(c.device_path(i), delete_at)) == 1 for i in range(3))
        assert len(files(c, ".data")) == 6
        # Not yet due: nothing happens.
        assert (await Expirer(c.nodes[0], c.rings["object"],
                              c.rings["container"]).run_once(now=delete_at - 1)).due == 0
        stats = await Expirer(c.nodes[0], c.rings["object"],
                              c.rings["container"]).run_once(now=delete_at)
        assert (stats.due, stats.expired) == (1, 1)
        assert due_entries(c.device_path(0), delete_at) == []
        for i in range(3):
            status, _ = await c.request("HEAD", i, object_path(c, i, "doomed"))
            assert status == 404
            names = [o["name"] for o in c.container(i, "AUTH_a", "c").list_objects(10)]
            assert names == ["kept"]
        # (each node removes the .data its tombstone made obsolete soon after, not
        # before it answers: NodeContext.sync)
        assert await settled(lambda: len(files(c, ".data")) == 3)
        assert len(files(c, ".ts")) == 3
        # The other replicas' entries find nothing left to do (412) and go away.
        for i in (1, 2):
            stats = await Expirer(c.nodes[i], c.rings["object"],
                                  c.rings["container"]).run_once(now=delete_at)
            assert stats.expired == 1
            assert due_entries(c.device_path(i), delete_at) == []
        assert len(files(c, ".ts")) == 3


async def test_overwritten_object_is_not_expired(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        for i in range(3):
            c.container(i, "AUTH_a", "c").initialize(ts(1), "AUTH_a", "c")
        delete_at = int(time.time()) + 100
        await put(c, "o", delete_at, tsmod.now())
        await put(c, "o", None, tsmod.now())  # re-uploaded without an expiry
        stats = await Expirer(c.nodes[0], c.rings["object"],
                              c.rings["container"]).run_once(now=delete_at)
        assert stats.expired == 1  # the entry is done with (412 everywhere) ...
        for i in range(3):  # ... and the object lives on
            status, _ = await c.request("GET", i, object_path(c, i, "o"))
            assert status == 200


async def test_post_setting_delete_at_is_indexed(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        await put(c, "o", None, ts(10))
        delete_at = int(time.time()) + 50
        status, _ = await c.request("POST", 0, object_path(c, 0, "o"),
                                    {"X-Timestamp": tsmod.now(),
                                     "X-Delete-At": str(delete_at)})
        assert status == 202
        assert [e.obj for e in due_entries(c.device_path(0), delete_at)] == ["o"]


async def test_unreachable_primary_keeps_the_entry(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        delete_at = int(time.time()) + 100
        await put(c, "o", delete_at, tsmod.now())
        await c.servers[2].close()
        stats = await Expirer(c.nodes[0], c.rings["object"],
                              c.rings["container"]).run_once(now=delete_at)
        assert (stats.expired, stats.retried) == (0, 1)
        assert len(due_entries(c.device_path(0), delete_at)) == 1
