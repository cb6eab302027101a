"""Container and account brokers: merge, tombstones, stats, metadata, replication rows."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from common.timestamp import normalize
from objectstore.db import (
    SCHEMA_VERSION,
    AccountBroker,
    ContainerBroker,
    DatabaseAlreadyExists,
    DatabaseNotFound,
)


def ts(n: float) -> str:
    return normalize(1_700_000_000 + n)


def row(name: str, t: float, size: int = 1, deleted: int = 0, etag: str = "e",
        ctype: str = "text/plain") -> dict[str, Any]:
    return {"name": name, "created_at": ts(t), "size": size, "content_type": ctype,
            "etag": etag, "deleted": deleted}


@pytest.fixture
def cb(tmp_path: Path) -> ContainerBroker:
    b = ContainerBroker(tmp_path / "c" / "c.db")
    b.initialize(ts(0), "AUTH_a", "c")
    return b


def test_initialize_creates_a_versioned_wal_db(tmp_path: Path) -> None:
    path = tmp_path / "x" / "y.db"
    b = ContainerBroker(path)
    assert not b.exists()
    b.initialize(ts(1), "a", "c", {"X-Container-Meta-A": ("1", ts(1))})
    assert b.exists()
    assert [p.name for p in path.parent.iterdir()] == ["y.db"]  # no temp files left
    info = b.get_info()
    assert (info.account, info.container, info.put_timestamp) == ("a", "c", ts(1))
    assert info.delete_timestamp == "0000000000.00000"
    assert len(info.id) == 36 and info.max_row == 0
    assert info.metadata == {"X-Container-Meta-A": ["1", ts(1)]}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT schema_version FROM info").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    with pytest.raises(DatabaseAlreadyExists):
        ContainerBroker(path).initialize(ts(2), "a", "c")


def test_missing_db_raises_not_found_and_is_not_created(tmp_path: Path) -> None:
    b = ContainerBroker(tmp_path / "nope.db")
    with pytest.raises(DatabaseNotFound):
        b.get_info()
    assert not (tmp_path / "nope.db").exists()


def test_wrong_kind_of_db_is_refused(tmp_path: Path) -> None:
    AccountBroker(tmp_path / "a.db").initialize(ts(0), "a")
    with pytest.raises(Exception, match="not a container DB"):
        ContainerBroker(tmp_path / "a.db").get_info()


def test_merge_newest_wins_and_stats(cb: ContainerBroker) -> None:
    cb.merge_items([row("o1", 1, size=10), row("o2", 1, size=20)])
    info = cb.get_info()
    assert (info.object_count, info.bytes_used) == (2, 30)
    cb.merge_items([row("o1", 2, size=5, etag="new")])
    cb.merge_items([row("o1", 1.5, size=999, etag="stale")])  # older: ignored
    cb.merge_items([row("o1", 2, size=777, etag="same-ts")])  # same timestamp: ignored
    objs = cb.list_objects(10)
    assert [(o["name"], o["size"], o["etag"]) for o in objs] == [("o1", 5, "new"),
                                                                ("o2", 20, "e")]
    info = cb.get_info()
    assert (info.object_count, info.bytes_used) == (2, 25)


def test_newest_wins_within_one_batch(cb: ContainerBroker) -> None:
    cb.merge_items([row("o", 3, size=3), row("o", 1, size=1), row("o", 2, size=2)])
    assert cb.list_objects(10)[0]["size"] == 3
    assert cb.get_info().bytes_used == 3


def test_tombstones(cb: ContainerBroker) -> None:
    cb.merge_items([row("o1", 1, size=10), row("o2", 1, size=20)])
    cb.delete_object("o1", ts(2))
    info = cb.get_info()
    assert (info.object_count, info.bytes_used) == (1, 20)
    assert [o["name"] for o in cb.list_objects(10)] == ["o2"]
    # an older PUT replayed from a stale replica does not resurrect it
    cb.merge_items([row("o1", 1.5, size=10)])
    assert [o["name"] for o in cb.list_objects(10)] == ["o2"]
    # the tombstone is a row, visible to replication
    items = cb.get_items_since(0, 10)
    assert {(i["name"], i["deleted"]) for i in items} == {("o1", 1), ("o2", 0)}
    # a newer PUT brings it back
    cb.merge_items([row("o1", 3, size=1)])
    assert cb.get_info().object_count == 2
    # deleting something never seen still leaves a tombstone, stats untouched
    cb.delete_object("ghost", ts(4))
    assert cb.get_info().object_count == 2
    assert any(i["name"] == "ghost" for i in cb.get_items_since(0, 10))


def test_reclaim_purges_only_old_tombstones(cb: ContainerBroker) -> None:
    cb.merge_items([row("live", 1), row("old", 1, deleted=1), row("new", 10, deleted=1)])
    assert cb.reclaim(ts(5)) == 1
    names = {i["name"] for i in cb.get_items_since(0, 10)}
    assert names == {"live", "new"}
    assert cb.get_info().object_count == 1


def test_row_ids_grow_on_every_change(cb: ContainerBroker) -> None:
    cb.merge_items([row("a", 1), row("b", 1)])
    first = cb.get_items_since(0, 10)
    point = cb.max_row()
    assert point == max(i["row_id"] for i in first)
    assert cb.get_items_since(point, 10) == []
    cb.merge_items([row("a", 2)])
    since = cb.get_items_since(point, 10)
    assert [(i["name"], i["created_at"]) for i in since] == [("a", ts(2))]
    assert since[0]["row_id"] > point
    cb.merge_items([row("a", 1)])  # older: no change, no new row id
    assert cb.max_row() == since[0]["row_id"]
    assert [i["name"] for i in cb.get_items_since(0, 1)] == ["b"]  # count limits, oldest first


def test_container_deleted_semantics(cb: ContainerBroker) -> None:
    assert not cb.is_deleted()
    cb.merge_items([row("o", 1)])
    cb.mark_deleted(ts(5))
    assert not cb.is_deleted()  # not empty: a delete does not hold
    cb.delete_object("o", ts(6))
    assert cb.is_deleted()
    assert cb.update_put_timestamp(ts(7))
    assert not cb.is_deleted()
    assert not cb.update_put_timestamp(ts(3))  # older: ignored
    assert cb.get_info().put_timestamp == ts(7)
    assert not cb.mark_deleted(ts(4))
    assert cb.merge_items([row("p", 8)], only_if_live=True)


def test_merge_only_if_live_refuses_deleted_db(cb: ContainerBroker) -> None:
    cb.mark_deleted(ts(5))
    assert not cb.merge_items([row("o", 6)], only_if_live=True)
    assert cb.get_items_since(0, 10) == []
    assert cb.merge_items([row("o", 6)])  # replication still merges into a deleted DB


def test_metadata_newer_wins_and_empty_deletes(cb: ContainerBroker) -> None:
    cb.update_metadata({"X-Container-Meta-A": ("1", ts(1)), "X-Container-Meta-B": ("b", ts(1))})
    cb.update_metadata({"X-Container-Meta-A": ("2", ts(2))})
    assert not cb.update_metadata({"X-Container-Meta-A": ("old", ts(1.5))})
    cb.update_metadata({"X-Container-Meta-B": ("", ts(3))})
    md = cb.metadata
    assert md["X-Container-Meta-A"] == ["2", ts(2)]
    assert md["X-Container-Meta-B"] == ["", ts(3)]  # kept as a tombstone
    cb.update_metadata({"X-Container-Meta-B": ("back", ts(2.5))})  # older than the delete
    assert cb.metadata["X-Container-Meta-B"][0] == ""
    assert cb.reclaim_metadata(ts(4)) == 1
    assert "X-Container-Meta-B" not in cb.metadata


def test_unicode_names_sort_by_code_point(cb: ContainerBroker) -> None:
    names = ["z", "é", "日本", "a", "\U0001f600", "Z"]
    cb.merge_items([row(n, 1) for n in names])
    assert [o["name"] for o in cb.list_objects(100)] == sorted(names)
    cb.close()
    again = ContainerBroker(cb.path)
    assert again.get_info().object_count == len(names)


def test_broker_is_thread_safe(cb: ContainerBroker) -> None:
    def work(k: int) -> None:
        for i in range(20):
            cb.merge_items([row(f"t{k}-{i}", 1)])
            cb.list_objects(5)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cb.get_info().object_count == 160


# -- accounts -----------------------------------------------------------------------


@pytest.fixture
def ab(tmp_path: Path) -> AccountBroker:
    b = AccountBroker(tmp_path / "a.db")
    b.initialize(ts(0), "AUTH_a")
    return b


def test_account_container_rows_and_stats(ab: AccountBroker) -> None:
    ab.put_container("c1", ts(1), "0", 3, 30)
    ab.put_container("c2", ts(1), "0", 1, 10)
    info = ab.get_info()
    assert (info.container_count, info.object_count, info.bytes_used) == (2, 4, 40)
    ab.put_container("c1", ts(1), "0", 5, 50)  # a newer report, same put timestamp
    info = ab.get_info()
    assert (info.container_count, info.object_count, info.bytes_used) == (2, 6, 60)
    listing = ab.list_containers(10)
    assert listing == [
        {"name": "c1", "object_count": 5, "bytes_used": 50, "put_timestamp": ts(1),
         "storage_policy_index": 0},
        {"name": "c2", "object_count": 1, "bytes_used": 10, "put_timestamp": ts(1),
         "storage_policy_index": 0},
    ]


def test_account_stats_by_storage_policy(ab: AccountBroker) -> None:
    """policy_stat keeps each policy's live containers, objects and bytes as rows
    come and go (the totals in info stay the sum)."""
    ab.put_container("gold", ts(1), "0", 3, 30)
    ab.put_container("silver", ts(1), "0", 2, 200, storage_policy_index=1)
    ab.put_container("silver2", ts(1), "0", 1, 100, storage_policy_index=1)
    info = ab.get_info()
    assert info.policy_stats == {0: (1, 3, 30), 1: (2, 3, 300)}
    assert (info.container_count, info.object_count, info.bytes_used) == (3, 6, 330)
    ab.put_container("silver", ts(1), "0", 5, 500, storage_policy_index=1)  # a new report
    ab.put_container("silver2", ts(1), ts(2), 0, 0, storage_policy_index=1)  # deleted
    # recreated with another policy: its stats move with it
    ab.put_container("gold", ts(3), "0", 1, 1, storage_policy_index=1)
    assert ab.get_info().policy_stats == {0: (0, 0, 0), 1: (2, 6, 501)}
    assert [(r["name"], r["storage_policy_index"]) for r in ab.list_containers(10)] == [
        ("gold", 1), ("silver", 1)]


def test_schema_1_files_are_brought_up_to_date(tmp_path: Path) -> None:
    """A DB written before storage policies opens as a policy-0 one, its stats kept."""
    path = tmp_path / "old.db"
    old = AccountBroker(path)
    old.initialize(ts(0), "a")
    old.put_container("c1", ts(1), "0", 3, 30)
    old.close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE policy_stat; UPDATE info SET schema_version = 1;"
                       " ALTER TABLE container DROP COLUMN storage_policy_index;")
    conn.close()
    broker = AccountBroker(path)
    info = broker.get_info()
    assert info.policy_stats == {0: (1, 3, 30)}
    assert broker.list_containers(10)[0]["storage_policy_index"] == 0
    broker.put_container("c2", ts(2), "0", 1, 5, storage_policy_index=1)
    assert broker.get_info().policy_stats == {0: (1, 3, 30), 1: (1, 1, 5)}
    with broker._read() as c:
        assert c.execute("SELECT schema_version FROM info").fetchone()[0] == SCHEMA_VERSION


def test_schema_1_empty_accounts_and_containers_open_too(tmp_path: Path) -> None:
    """An account that had no containers gets no policy rows (nothing to count); a
    container DB, whose schema did not change, keeps its rows and metadata and is
    read as the default policy's (its metadata names none)."""
    from objectstore.container_server import container_policy

    empty = AccountBroker(tmp_path / "empty.db")
    empty.initialize(ts(0), "a")
    empty.close()
    cdb = ContainerBroker(tmp_path / "c.db")
    cdb.initialize(ts(0), "a", "c")
    cdb.merge_items([row("o1", 1, size=10)])
    cdb.update_metadata({"X-Container-Meta-A": ("1", ts(1))})
    cdb.close()
    conn = sqlite3.connect(tmp_path / "empty.db")
    conn.executescript("DROP TABLE policy_stat; UPDATE info SET schema_version = 1;"
                       " ALTER TABLE container DROP COLUMN storage_policy_index;")
    conn.close()
    conn = sqlite3.connect(tmp_path / "c.db")
    conn.executescript("UPDATE info SET schema_version = 1;")
    conn.close()
    account = AccountBroker(tmp_path / "empty.db")
    assert account.get_info().policy_stats == {}
    account.put_container("c", ts(2), "0", 0, 0, storage_policy_index=1)
    assert account.get_info().policy_stats == {1: (1, 0, 0)}
    container = ContainerBroker(tmp_path / "c.db")
    info = container.get_info()
    assert (info.object_count, info.bytes_used) == (1, 10)
    assert [o["name"] for o in container.list_objects(10)] == ["o1"]
    assert container.metadata["X-Container-Meta-A"] == ["1", ts(1)]
    assert container_policy(container.metadata) == 0
    for broker in (account, container):
        with broker._read() as c:
            assert c.execute("SELECT schema_version FROM info").fetchone()[0] == SCHEMA_VERSION


def test_account_container_delete_and_stale_reports(ab: AccountBroker) -> None:
    ab.put_container("c1", ts(1), "0", 2, 20)
    ab.put_container("c1", ts(1), ts(2), 0, 0)
    info = ab.get_info()
    assert (info.container_count, info.object_count, info.bytes_used) == (0, 0, 0)
    assert ab.list_containers(10) == []
    # a stale create (older put than the delete) does not bring it back
    ab.put_container("c1", ts(0.5), "0", 9, 90)
    assert ab.list_containers(10) == []
    items = ab.get_items_since(0, 10)
    assert items[0]["put_timestamp"] == ts(1) and items[0]["delete_timestamp"] == ts(2)
    assert items[0]["deleted"] == 1
    # re-created later
    ab.put_container("c1", ts(3), "0", 0, 0)
    assert ab.get_info().container_count == 1
    assert ab.reclaim(ts(10)) == 0  # live now


def test_account_deleted_semantics(ab: AccountBroker) -> None:
    ab.put_container("c1", ts(1), "0", 0, 0)
    assert not ab.is_deleted()
    ab.mark_deleted(ts(2))
    assert ab.is_deleted()  # even with containers listed: the reaper empties it
    assert not ab.merge_items([{"name": "c2", "put_timestamp": ts(3),
                                "delete_timestamp": "0", "object_count": 0,
                                "bytes_used": 0}], only_if_live=True)


def test_account_reclaim(ab: AccountBroker) -> None:
    ab.put_container("old", ts(1), ts(2), 0, 0)
    ab.put_container("new", ts(1), ts(20), 0, 0)
    ab.put_container("live", ts(1), "0", 0, 0)
    assert ab.reclaim(ts(10)) == 1
    assert {i["name"] for i in ab.get_items_since(0, 10)} == {"new", "live"}
