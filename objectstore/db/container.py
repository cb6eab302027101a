"""The container DB: one ``object`` row per object name, newest timestamp winning."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, ClassVar

from objectstore.db.base import (
    DatabaseBroker,
    bounds_sql,
    listing_bounds,
    prefix_upper_bound,
)

OBJECT_SCHEMA = """
CREATE TABLE object (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    etag TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ix_object_deleted_name ON object (deleted, name);
"""


SWIFT_BYTES_AT = "instr(content_type, ';swift_bytes=')"


class ContainerBroker(DatabaseBroker):
    """A container's DB.

    Rows (for :meth:`merge_items`) are ``{"name", "created_at", "size",
    "content_type", "etag", "deleted"}``; a delete is a row with ``deleted=1``.
    ``info.object_count`` / ``bytes_used`` count the live rows.
    """

    db_type: ClassVar[str] = "container"
    item_table: ClassVar[str] = "object"
    item_schema: ClassVar[str] = OBJECT_SCHEMA
    item_columns: ClassVar[tuple[str, ...]] = (
        "name", "created_at", "size", "content_type", "etag", "deleted")
    list_columns: ClassVar[tuple[str, ...]] = (
        "name", "created_at", "size", "content_type", "etag")
    count_column: ClassVar[str] = "object_count"

    def _merge(self, conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
        best: dict[str, dict[str, Any]] = {}
        for r in rows:
            cur = best.get(r["name"])
            if cur is None or r["created_at"] > cur["created_at"]:
                best[r["name"]] = r
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM object)").fetchone()[0]
        existing = {} if empty else self._existing(
            conn, list(best), "name, created_at, size, deleted")
        d_count = d_bytes = 0
        out: list[tuple[Any, ...]] = []
        for name, r in best.items():
            old = existing.get(name)
            if old is not None:
                if r["created_at"] <= old[1]:
                    continue
                if not old[3]:
                    d_count -= 1
                    d_bytes -= old[2]
            deleted = 1 if r["deleted"] else 0
            if not deleted:
                d_count += 1
                d_bytes += r["size"]
            out.append((name, r["created_at"], r["size"], r["content_type"], r["etag"],
                        deleted))
        if out:
            self._replace_rows(conn, out)
        if d_count or d_bytes:
            conn.execute("UPDATE info SET object_count = object_count + ?,"
                         " bytes_used = bytes_used + ?", (d_count, d_bytes))

    def put_object(self, name: str, created_at: str, size: int, content_type: str,
                   etag: str, deleted: bool = False) -> None:
        """Merge one object row (tests and tools; servers batch through merge_items)."""
        self.merge_items([{"name": name, "created_at": created_at, "size": size,
                           "content_type": content_type, "etag": etag,
                           "deleted": 1 if deleted else 0}])

    def delete_object(self, name: str, timestamp: str) -> None:
        self.put_object(name, timestamp, 0, "", "", deleted=True)

    def _reclaim_sql(self) -> str:
        return "DELETE FROM object WHERE deleted = 1 AND created_at < ?"

    def list_objects(self, limit: int, marker: str = "", end_marker: str = "",
                     prefix: str = "", delimiter: str = "", reverse: bool = False,
                     path: str | None = None) -> list[dict[str, Any]]:
        """Live objects ``{"name", "created_at", "size", "content_type", "etag"}`` and
        ``{"subdir"}`` roll-ups; see :meth:`DatabaseBroker._list` for the rules."""
        return self._list(limit=limit, marker=marker, end_marker=end_marker, prefix=prefix,
                          delimiter=delimiter, reverse=reverse, path=path)

    def list_objects_json(self, limit: int, marker: str = "", end_marker: str = "",
                          prefix: str = "", reverse: bool = False) -> bytes | None:
        """A listing without a delimiter as the JSON the proxy sends, built by SQLite.

        Each row is formatted by SQLite's ``json_object`` (``last_modified`` from
        the normalized timestamp text, exact to the microsecond), so a 10,000-row
        page costs no Python objects per row. None when the prefix has no upper
        bound (then :meth:`list_objects` handles it).
        """
        prefix_end = prefix_upper_bound(prefix) if prefix else None
        if prefix and prefix_end is None:
            return None
        lo, hi = listing_bounds(marker, end_marker, prefix, prefix_end, reverse)
        where, args = bounds_sql(lo, hi)
        sql = (
            "SELECT json_object('name', name, 'hash', etag, 'bytes', "
            # an SLO manifest's type ends ";swift_bytes=<size of the large object>":
            # listed as that size, without the parameter (as Swift's container server)
            f"CASE WHEN {SWIFT_BYTES_AT} > 0 THEN CAST(substr(content_type, "
            f"{SWIFT_BYTES_AT} + 13) AS INTEGER) ELSE size END, "
            f"'content_type', CASE WHEN {SWIFT_BYTES_AT} > 0 THEN substr(content_type, 1, "
            f"{SWIFT_BYTES_AT} - 1) ELSE content_type END, 'last_modified', "
            "strftime('%Y-%m-%dT%H:%M:%S', CAST(created_at AS INTEGER), 'unixepoch')"
            " || '.' || substr(created_at, 12, 5) || '0') "
            f"FROM object WHERE deleted = 0{where} "
            f"ORDER BY name{' DESC' if reverse else ''} LIMIT ?"
        )
        with self._read() as conn:
            rows = conn.execute(sql, [*args, max(0, limit)]).fetchall()
        return b"[" + b",".join(r[0].encode() for r in rows) + b"]"

    def set_reported(self, put_timestamp: str, delete_timestamp: str, object_count: int,
                     bytes_used: int) -> None:
        """Remember what the account server was last told (for the container updater)."""
        with self._write() as conn:
            conn.execute("UPDATE info SET reported_put_timestamp = ?,"
                         " reported_delete_timestamp = ?, reported_object_count = ?,"
                         " reported_bytes_used = ?",
                         (put_timestamp, delete_timestamp, object_count, bytes_used))
