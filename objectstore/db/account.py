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
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ix_container_deleted_name ON container (deleted, name);
"""

_Row = tuple[str, str, str, int, int, int]  # name, put, delete, objects, bytes, deleted


class AccountBroker(DatabaseBroker):
    """An account's DB.

    Rows (for :meth:`merge_items`) are ``{"name", "put_timestamp",
    "delete_timestamp", "object_count", "bytes_used"}`` (``deleted`` is
    derived: the delete timestamp is newer than the put). Merging keeps the
    newest put and delete timestamps; the stats come from the row whose newest
    timestamp is the newer (ties: the incoming report). ``info`` counts live
    containers and sums their objects and bytes.

    An account is deleted once its delete timestamp is newer than its put,
    whatever containers it still lists (the reaper empties it).
    """

    db_type: ClassVar[str] = "account"
    item_table: ClassVar[str] = "container"
    item_schema: ClassVar[str] = CONTAINER_SCHEMA
    item_columns: ClassVar[tuple[str, ...]] = (
        "name", "put_timestamp", "delete_timestamp", "object_count", "bytes_used", "deleted")
    list_columns: ClassVar[tuple[str, ...]] = (
        "name", "object_count", "bytes_used", "put_timestamp")
    count_column: ClassVar[str] = "container_count"

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
            old = state.get(name)
            if old is not None:
                if max(old[1], old[2]) > max(put, dele):
                    count, used = old[3], old[4]
                put, dele = max(put, old[1]), max(dele, old[2])
            state[name] = (name, put, dele, count, used, 1 if dele > put else 0)
        d_containers = d_objects = d_bytes = 0
        out: list[_Row] = []
        for name, new in state.items():
            old = original.get(name)
            if old == new:
                continue
            out.append(new)
            if old is not None and not old[5]:
                d_containers -= 1
                d_objects -= old[3]
                d_bytes -= old[4]
            if not new[5]:
                d_containers += 1
                d_objects += new[3]
                d_bytes += new[4]
        if out:
            self._replace_rows(conn, out)
        if d_containers or d_objects or d_bytes:
            conn.execute("UPDATE info SET container_count = container_count + ?,"
                         " object_count = object_count + ?, bytes_used = bytes_used + ?",
                         (d_containers, d_objects, d_bytes))

    def put_container(self, name: str, put_timestamp: str, delete_timestamp: str,
                      object_count: int, bytes_used: int) -> None:
        """Merge one container row."""
        self.merge_items([{"name": name, "put_timestamp": put_timestamp,
                           "delete_timestamp": delete_timestamp,
                           "object_count": object_count, "bytes_used": bytes_used}])

    def _reclaim_sql(self) -> str:
        return "DELETE FROM container WHERE deleted = 1 AND delete_timestamp < ?"

    def list_containers(self, limit: int, marker: str = "", end_marker: str = "",
                        prefix: str = "", delimiter: str = "",
                        reverse: bool = False) -> list[dict[str, Any]]:
        """Live containers ``{"name", "object_count", "bytes_used", "put_timestamp"}`` and
        ``{"subdir"}`` roll-ups, like :meth:`ContainerBroker.list_objects`."""
        return self._list(limit=limit, marker=marker, end_marker=end_marker, prefix=prefix,
                          delimiter=delimiter, reverse=reverse)
