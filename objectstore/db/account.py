"""The account DB: one ``container`` row per container name with its last reported stats."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, ClassVar

from objectstore.db.base import DatabaseBroker

CONTAINER_SCHEMA = """
CREATE TABLE container (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    put_timestamp TEXT NOT NULL,
    delete_timestamp TEXT NOT NULL,
    object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    storage_policy_index INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ix_container_deleted_name ON container (deleted, name);
"""
# The live containers' stats by storage policy, kept with the rows as info's are.
POLICY_STAT_SCHEMA = """
CREATE TABLE policy_stat (
    storage_policy_index INTEGER PRIMARY KEY,
    container_count INTEGER NOT NULL DEFAULT 0,
    object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0
);
"""

# name, put, delete, objects, bytes, deleted, storage policy
_Row = tuple[str, str, str, int, int, int, int]


class AccountBroker(DatabaseBroker):
    """An account's DB.

    Rows (for :meth:`merge_items`) are ``{"name", "put_timestamp",
    "delete_timestamp", "object_count", "bytes_used", "storage_policy_index"}``
    (``deleted`` is derived: the delete timestamp is newer than the put; the
    policy defaults to 0, the newest row's wins). ``info`` keeps the totals and
    the ``policy_stat`` table the same by policy. Merging keeps the
    newest put and delete timestamps; the stats come from the row whose newest
    timestamp is the newer (ties: the incoming report). ``info`` counts live
    containers and sums their objects and bytes.

    An account is deleted once its delete timestamp is newer than its put,
    whatever containers it still lists (the reaper empties it).
    """

    db_type: ClassVar[str] = "account"
    item_table: ClassVar[str] = "container"
    item_schema: ClassVar[str] = CONTAINER_SCHEMA + POLICY_STAT_SCHEMA
    item_columns: ClassVar[tuple[str, ...]] = (
        "name", "put_timestamp", "delete_timestamp", "object_count", "bytes_used", "deleted",
        "storage_policy_index")
    list_columns: ClassVar[tuple[str, ...]] = (
        "name", "object_count", "bytes_used", "put_timestamp", "storage_policy_index")
    count_column: ClassVar[str] = "container_count"

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        if version == 1:  # rows and stats by storage policy: all were policy 0's
            conn.execute("ALTER TABLE container ADD COLUMN"
                         " storage_policy_index INTEGER NOT NULL DEFAULT 0")
            conn.execute(POLICY_STAT_SCHEMA)
            conn.execute("INSERT INTO policy_stat SELECT 0, container_count, object_count,"
                         " bytes_used FROM info WHERE container_count > 0")

    def _policy_stats(self, conn: sqlite3.Connection) -> dict[int, tuple[int, int, int]]:
        return {int(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(
            "SELECT storage_policy_index, container_count, object_count, bytes_used"
            " FROM policy_stat ORDER BY storage_policy_index")}

    def _status_deleted(self, put_timestamp: str, delete_timestamp: str, count: int) -> bool:
        return delete_timestamp > put_timestamp

    def _merge(self, conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
        names = list(dict.fromkeys(r["name"] for r in rows))
        found = self._existing(conn, names, ", ".join(self.item_columns))
        original: dict[str, _Row] = {k: tuple(v) for k, v in found.items()}
        state = dict(original)
        for r in rows:
            name = r["name"]
            put, dele = r["put_timestamp"], r["delete_timestamp"]
            count, used = int(r["object_count"]), int(r["bytes_used"])
            policy = int(r.get("storage_policy_index") or 0)
            old = state.get(name)
            if old is not None:
                if max(old[1], old[2]) > max(put, dele):
                    count, used, policy = old[3], old[4], old[6]
                put, dele = max(put, old[1]), max(dele, old[2])
            state[name] = (name, put, dele, count, used, 1 if dele > put else 0, policy)
        # (containers, objects, bytes) changes, in all and by policy
        deltas: dict[int | None, list[int]] = {}

        def add(row: _Row, sign: int) -> None:
            for key in (None, row[6]):
                d = deltas.setdefault(key, [0, 0, 0])
                d[0] += sign
                d[1] += sign * row[3]
                d[2] += sign * row[4]

        out: list[_Row] = []
        for name, new in state.items():
            old = original.get(name)
            if old == new:
                continue
            out.append(new)
            if old is not None and not old[5]:
                add(old, -1)
            if not new[5]:
                add(new, 1)
        if out:
            self._replace_rows(conn, out)
        for key, (d_containers, d_objects, d_bytes) in deltas.items():
            if not (d_containers or d_objects or d_bytes):
                continue
            if key is None:
                conn.execute("UPDATE info SET container_count = container_count + ?,"
                             " object_count = object_count + ?, bytes_used = bytes_used + ?",
                             (d_containers, d_objects, d_bytes))
                continue
            conn.execute("INSERT OR IGNORE INTO policy_stat (storage_policy_index)"
                         " VALUES (?)", (key,))
            conn.execute("UPDATE policy_stat SET container_count = container_count + ?,"
                         " object_count = object_count + ?, bytes_used = bytes_used + ?"
                         " WHERE storage_policy_index = ?",
                         (d_containers, d_objects, d_bytes, key))

    def put_container(self, name: str, put_timestamp: str, delete_timestamp: str,
                      object_count: int, bytes_used: int, storage_policy_index: int = 0) -> None:
        """Merge one container row."""
        self.merge_items([{"name": name, "put_timestamp": put_timestamp,
                           "delete_timestamp": delete_timestamp,
                           "object_count": object_count, "bytes_used": bytes_used,
                           "storage_policy_index": storage_policy_index}])

    def _reclaim_sql(self) -> str:
        return "DELETE FROM container WHERE deleted = 1 AND delete_timestamp < ?"

    def list_containers(self, limit: int, marker: str = "", end_marker: str = "",
                        prefix: str = "", delimiter: str = "",
                        reverse: bool = False) -> list[dict[str, Any]]:
        """Live containers ``{"name", "object_count", "bytes_used", "put_timestamp",
        "storage_policy_index"}`` and
        ``{"subdir"}`` roll-ups, like :meth:`ContainerBroker.list_objects`."""
        return self._list(limit=limit, marker=marker, end_marker=end_marker, prefix=prefix,
                          delimiter=delimiter, reverse=reverse)
