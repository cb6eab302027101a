"""What container and account databases share: one SQLite file per DB.

A broker owns one file (``<hash>.db``) and one connection to it, opened on
first use and guarded by a lock, so a broker can be shared by the threads of
a node's pool. Every method is synchronous and blocking: servers call them
through ``NodeContext.run``.

Each file holds a one-row ``info`` table (schema version, names, id,
timestamps, metadata, running stats) and an item table (``object`` rows for a
container, ``container`` rows for an account). Item rows carry an
``AUTOINCREMENT`` ``row_id`` that grows on every insert or change, the sync
point replication uses; stats are updated in the same transaction as the
rows, so reading them never scans. Deletes are rows with ``deleted = 1``
(tombstones), purged by :meth:`DatabaseBroker.reclaim` once old enough.

Files are created complete or not at all: the schema is written to a
temporary file beside the DB and hard-linked into place (which fails if the
DB appeared meanwhile). Journal: WAL, ``synchronous=FULL``: a commit is on
disk when the method returns.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.request import pathname2url

from common import timestamp as tsmod
from objectstore.node import fsync_dir
from objectstore.protocol import valid_utf8

SCHEMA_VERSION = 2  # 2: account rows and stats by storage policy
ZERO_TS = "0000000000.00000"
BUSY_TIMEOUT = 25.0  # seconds a writer waits for another connection's lock

INFO_SCHEMA = """
CREATE TABLE info (
    schema_version INTEGER NOT NULL,
    db_type TEXT NOT NULL,
    account TEXT NOT NULL,
    container TEXT,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    put_timestamp TEXT NOT NULL,
    delete_timestamp TEXT NOT NULL,
    status_changed_at TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    object_count INTEGER NOT NULL DEFAULT 0,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    container_count INTEGER NOT NULL DEFAULT 0,
    reported_put_timestamp TEXT NOT NULL DEFAULT '0',
    reported_delete_timestamp TEXT NOT NULL DEFAULT '0',
    reported_object_count INTEGER NOT NULL DEFAULT 0,
    reported_bytes_used INTEGER NOT NULL DEFAULT 0
);
"""


class DatabaseError(Exception):
    """Base of the broker's domain errors."""


class DatabaseNotFound(DatabaseError):
    """The DB file does not exist."""


class DatabaseAlreadyExists(DatabaseError):
    """``initialize`` found the DB already there."""


class UnsupportedSchema(DatabaseError):
    """The file was written by a newer schema than this code knows."""


class InvalidMetadata(DatabaseError):
    """A metadata change would break Swift's limits; the message says which."""


@dataclass(frozen=True)
class MetadataLimits:
    """Swift's limits on a DB's user metadata (``X-<Kind>-Meta-*``), counted over
    what is stored and what a request adds, as ``/info`` advertises them."""

    max_count: int = 90
    max_overall_size: int = 4096
    user_prefixes: tuple[str, ...] = ("x-account-meta-", "x-container-meta-")

    def check(self, metadata: Metadata) -> None:
        """:class:`InvalidMetadata` (with Swift's words) when ``metadata`` breaks them."""
        count = size = 0
        for key, (value, _ts) in metadata.items():
            if not (valid_utf8(key) and valid_utf8(value)):
                raise InvalidMetadata("Metadata must be valid UTF-8")
            low = key.lower()
            prefix = next((p for p in self.user_prefixes if low.startswith(p)), None)
            if prefix is None or value == "":
                continue
            count += 1
            size += len(key[len(prefix):].encode()) + len(value.encode())
        if count > self.max_count:
            raise InvalidMetadata(f"Too many metadata items; max {self.max_count}")
        if size > self.max_overall_size:
            raise InvalidMetadata(f"Total metadata too large; max {self.max_overall_size}")


Metadata = dict[str, list[str]]  # key -> [value, timestamp]; value "" = deleted key


@dataclass
class BrokerInfo:
    """The ``info`` row plus the newest replication sync point."""

    db_type: str
    account: str
    container: str | None
    id: str
    created_at: str
    put_timestamp: str
    delete_timestamp: str
    status_changed_at: str
    object_count: int
    bytes_used: int
    container_count: int
    reported_put_timestamp: str
    reported_delete_timestamp: str
    reported_object_count: int
    reported_bytes_used: int
    max_row: int
    metadata: Metadata = field(default_factory=dict)
    # accounts: {policy index: (containers, objects, bytes)} of every policy used
    policy_stats: dict[int, tuple[int, int, int]] = field(default_factory=dict)


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    for i in range(len(prefix) - 1, -1, -1):
        if ord(prefix[i]) < 0x10FFFF:
            return prefix[:i] + chr(ord(prefix[i]) + 1)
    return None


def merge_metadata(current: Metadata, updates: dict[str, tuple[str, str]]) -> bool:
    """Apply ``{key: (value, timestamp)}``, newer timestamp winning per key; True if changed."""
    changed = False
    for key, (value, ts) in updates.items():
        old = current.get(key)
        if old is None or ts > old[1]:
            current[key] = [value, ts]
            changed = True
    return changed


class DatabaseBroker:
    """One container or account DB file. Subclasses name the item table."""

    db_type: ClassVar[str] = ""
    item_table: ClassVar[str] = ""
    item_schema: ClassVar[str] = ""
    list_columns: ClassVar[tuple[str, ...]] = ()
    item_columns: ClassVar[tuple[str, ...]] = ()
    count_column: ClassVar[str] = "object_count"  # the stat that keeps a DB from deletion

    def __init__(self, path: Path | str, *, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        # Write transactions committed through this broker (tests, group-commit metrics).
        self.transactions = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # -- connection ---------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def _connect(self, path: Path, *, create: bool = False) -> sqlite3.Connection:
        mode = "rwc" if create else "rw"
        uri = f"file:{pathname2url(str(path))}?mode={mode}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            if not path.exists():
                raise DatabaseNotFound(str(path)) from None
            raise DatabaseError(f"{path}: {exc}") from exc
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        return conn

    def _connection(self) -> sqlite3.Connection:
        """The open connection (caller holds ``_lock``); checks the schema on first open."""
        if self._conn is None:
            conn = self._connect(self.path)
            try:
                row = conn.execute("SELECT schema_version, db_type FROM info").fetchone()
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise DatabaseError(f"{self.path}: not a {self.db_type} DB: {exc}") from exc
            if row is None or row[1] != self.db_type:
                conn.close()
                raise DatabaseError(f"{self.path}: not a {self.db_type} DB")
            if row[0] > SCHEMA_VERSION:
                conn.close()
                raise UnsupportedSchema(f"{self.path}: schema {row[0]} > {SCHEMA_VERSION}")
            if row[0] < SCHEMA_VERSION:
                self._upgrade(conn)
            self._conn = conn
        return self._conn

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Bring the file to :data:`SCHEMA_VERSION` in one transaction (another
        connection may be doing the same: the version is read again inside it)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("SELECT schema_version FROM info").fetchone()[0]
            while version < SCHEMA_VERSION:
                self._migrate(conn, version)
                version += 1
            conn.execute("UPDATE info SET schema_version = ?", (SCHEMA_VERSION,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        """Bring a file from schema ``version`` to the next; a kind adds its steps."""

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed durably on exit."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            self.transactions += 1

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connection()

    # -- creation -----------------------------------------------------------

    def initialize(self, put_timestamp: str, account: str, container: str | None = None,
                   metadata: dict[str, tuple[str, str]] | None = None,
                   limits: MetadataLimits | None = None) -> None:
        """Create the DB file; :class:`DatabaseAlreadyExists` when it is there already,
        :class:`InvalidMetadata` when ``metadata`` breaks ``limits``."""
        if self.path.exists():
            raise DatabaseAlreadyExists(str(self.path))
        md: Metadata = {}
        merge_metadata(md, metadata or {})
        if limits is not None:
            limits.check(md)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.tmp")
        now = tsmod.now()
        try:
            conn = self._connect(tmp, create=True)
            try:
                conn.execute("BEGIN IMMEDIATE")
                for stmt in (INFO_SCHEMA, self.item_schema):
                    for part in stmt.split(";"):
                        if part.strip():
                            conn.execute(part)
                conn.execute(
                    "INSERT INTO info (schema_version, db_type, account, container, id,"
                    " created_at, put_timestamp, delete_timestamp, status_changed_at, metadata)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (SCHEMA_VERSION, self.db_type, account, container, str(uuid.uuid4()),
                     now, put_timestamp, ZERO_TS, put_timestamp, json.dumps(md)))
                conn.execute("COMMIT")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                raise DatabaseAlreadyExists(str(self.path)) from None
            fsync_dir(self.path.parent)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{tmp}{suffix}").unlink(missing_ok=True)

    # -- info, status and metadata -------------------------------------------

    def get_info(self) -> BrokerInfo:
        with self._read() as conn:
            row = conn.execute(
                "SELECT db_type, account, container, id, created_at, put_timestamp,"
                " delete_timestamp, status_changed_at, object_count, bytes_used,"
                " container_count, reported_put_timestamp, reported_delete_timestamp,"
                " reported_object_count, reported_bytes_used, metadata FROM info").fetchone()
            max_row = self._max_row(conn)
            policies = self._policy_stats(conn)
        values: list[Any] = [*row[:15], max_row, json.loads(row[15]), policies]
        return BrokerInfo(*values)

    def _policy_stats(self, conn: sqlite3.Connection) -> dict[int, tuple[int, int, int]]:
        """Per-policy stats, for the kinds that keep them."""
        return {}

    def _max_row(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                           (self.item_table,)).fetchone()
        return int(row[0]) if row else 0

    def max_row(self) -> int:
        """The newest ``row_id`` ever given out (0 for an empty DB)."""
        with self._read() as conn:
            return self._max_row(conn)

    def _status_deleted(self, put_timestamp: str, delete_timestamp: str, count: int) -> bool:
        """Deleted: the delete is newer than the put and (containers) nothing is left."""
        return delete_timestamp > put_timestamp and count == 0

    def info_deleted(self, info: BrokerInfo) -> bool:
        """:meth:`is_deleted` for an ``info`` already read."""
        count = getattr(info, self.count_column)
        return self._status_deleted(info.put_timestamp, info.delete_timestamp, count)

    def is_deleted(self) -> bool:
        return self.info_deleted(self.get_info())

    def update_put_timestamp(self, timestamp: str) -> bool:
        """Record a (re)creation at ``timestamp`` if newer; True if it was."""
        return self._advance("put_timestamp", timestamp, "delete_timestamp > put_timestamp"
                             " AND ? > delete_timestamp")

    def mark_deleted(self, timestamp: str) -> bool:
        """Record a delete at ``timestamp`` if newer; True if it was."""
        return self._advance("delete_timestamp", timestamp, "? > put_timestamp"
                             " AND delete_timestamp <= put_timestamp")

    def _advance(self, column: str, timestamp: str, flips: str) -> bool:
        """Set ``column`` (put_timestamp or delete_timestamp) to ``timestamp`` if that is
        newer, and ``status_changed_at`` too when ``flips`` (SQL over the old values,
        ``?`` standing for ``timestamp``) says the DB goes between live and deleted."""
        with self._write() as conn:
            cur = conn.execute(
                f"UPDATE info SET {column} = ?, status_changed_at = CASE WHEN {flips}"
                f" THEN ? ELSE status_changed_at END WHERE {column} < ?",
                (timestamp, timestamp, timestamp, timestamp))
            return cur.rowcount > 0

    @property
    def metadata(self) -> Metadata:
        """Every stored key, including deleted ones (empty value) kept as tombstones."""
        with self._read() as conn:
            result: Metadata = json.loads(conn.execute("SELECT metadata FROM info")
                                          .fetchone()[0])
            return result

    def update_metadata(self, updates: dict[str, tuple[str, str]],
                        limits: MetadataLimits | None = None) -> bool:
        """Merge ``{key: (value, timestamp)}``; per key the newer timestamp wins.
        With ``limits``, a merge that would break them changes nothing and raises
        :class:`InvalidMetadata` (Swift's ``validate_metadata``)."""
        if not updates:
            return False
        with self._write() as conn:
            current: Metadata = json.loads(conn.execute("SELECT metadata FROM info")
                                           .fetchone()[0])
            if not merge_metadata(current, updates):
                return False
            if limits is not None:
                limits.check(current)
            conn.execute("UPDATE info SET metadata = ?", (json.dumps(current),))
            return True

    def reclaim_metadata(self, older_than: str) -> int:
        """Drop deleted metadata keys whose tombstone is older than ``older_than``."""
        with self._write() as conn:
            current: Metadata = json.loads(conn.execute("SELECT metadata FROM info")
                                           .fetchone()[0])
            gone = [k for k, (v, ts) in current.items() if v == "" and ts < older_than]
            for k in gone:
                del current[k]
            if gone:
                conn.execute("UPDATE info SET metadata = ?", (json.dumps(current),))
            return len(gone)

    # -- items ----------------------------------------------------------------

    def merge_items(self, rows: Sequence[dict[str, Any]], *, only_if_live: bool = False) -> bool:
        """Merge item rows in one transaction, newest winning per name.

        With ``only_if_live`` nothing is merged (and False returned) when the
        DB is deleted. Rows must already be validated (normalized timestamps).
        """
        with self._write() as conn:
            if only_if_live:
                put_ts, del_ts, count = conn.execute(
                    f"SELECT put_timestamp, delete_timestamp, {self.count_column} FROM info"
                ).fetchone()
                if self._status_deleted(put_ts, del_ts, count):
                    return False
            if rows:
                self._merge(conn, rows)
            return True

    def _merge(self, conn: sqlite3.Connection, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _existing(self, conn: sqlite3.Connection, names: list[str],
                  columns: str) -> dict[str, tuple[Any, ...]]:
        """Current rows by name (``name`` first in ``columns``), looked up in chunks."""
        found: dict[str, tuple[Any, ...]] = {}
        for i in range(0, len(names), 500):
            chunk = names[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(
                    f"SELECT {columns} FROM {self.item_table} WHERE name IN ({marks})", chunk):
                found[row[0]] = row
        return found

    def _replace_rows(self, conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert or replace by name; a replaced row gets a new (higher) ``row_id``."""
        cols = ", ".join(self.item_columns)
        marks = ", ".join("?" * len(self.item_columns))
        conn.executemany(
            f"INSERT OR REPLACE INTO {self.item_table} ({cols}) VALUES ({marks})", rows)

    def get_items_since(self, row_id: int, count: int) -> list[dict[str, Any]]:
        """Up to ``count`` rows changed after sync point ``row_id``, oldest change first."""
        cols = ("row_id", *self.item_columns)
        with self._read() as conn:
            cur = conn.execute(
                f"SELECT {', '.join(cols)} FROM {self.item_table}"
                " WHERE row_id > ? ORDER BY row_id LIMIT ?", (row_id, count))
            return [dict(zip(cols, row, strict=True)) for row in cur]

    # -- replication sync points ------------------------------------------------
    # ``incoming_sync`` (created on first use, so older files need no migration):
    # for each peer DB id, the newest of that DB's ``row_id``s merged here.

    def get_sync(self, remote_id: str) -> int:
        """The sync point recorded for peer DB ``remote_id``; -1 when none."""
        with self._read() as conn:
            try:
                row = conn.execute("SELECT sync_point FROM incoming_sync WHERE remote_id = ?",
                                   (remote_id,)).fetchone()
            except sqlite3.OperationalError:  # no table yet: nothing ever synced
                return -1
        return int(row[0]) if row else -1

    def set_sync(self, remote_id: str, sync_point: int) -> None:
        """Record that every row of peer DB ``remote_id`` up to ``sync_point`` is merged."""
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS incoming_sync ("
                         " remote_id TEXT PRIMARY KEY, sync_point INTEGER NOT NULL)")
            conn.execute("INSERT OR REPLACE INTO incoming_sync (remote_id, sync_point)"
                         " VALUES (?, ?)", (remote_id, sync_point))

    def reclaim(self, older_than: str) -> int:
        """Purge tombstone rows whose timestamp is older than ``older_than``; the count."""
        with self._write() as conn:
            cur = conn.execute(self._reclaim_sql(), (older_than,))
            return cur.rowcount

    def _reclaim_sql(self) -> str:
        raise NotImplementedError

    # -- listing ----------------------------------------------------------------

    def _list(self, *, limit: int, marker: str, end_marker: str, prefix: str,
              delimiter: str, reverse: bool, path: str | None = None) -> list[dict[str, Any]]:
        """Live rows (``list_columns``) and ``{"subdir"}`` roll-ups, in name order.

        Forward: names > ``marker`` and < ``end_marker``. Reverse (descending):
        names < ``marker`` and > ``end_marker``. With a ``delimiter`` (any
        length), a name holding it after ``prefix`` is rolled up into one
        ``subdir`` entry and the next query starts past everything under that
        subdir. ``path`` (Swift's pseudo-directory listing) stands for prefix
        ``path/`` and delimiter ``/``, and lists only what is directly in it:
        deeper names are skipped, not rolled up, and the directory's own marker
        object is left out.
        """
        if path is not None:
            prefix = path.rstrip("/") + "/" if path else ""
            delimiter = "/"
        results: list[dict[str, Any]] = []
        if limit <= 0:
            return results
        cols = self.list_columns
        select = f"SELECT {', '.join(cols)} FROM {self.item_table} WHERE deleted = 0"
        prefix_end = prefix_upper_bound(prefix) if prefix else None
        lo, hi = listing_bounds(marker, end_marker, prefix, prefix_end, reverse)
        order = " ORDER BY name DESC" if reverse else " ORDER BY name"
        plen, dlen = len(prefix), len(delimiter)
        with self._read() as conn:
            while len(results) < limit:
                where, args = bounds_sql(lo, hi)
                want = limit - len(results)
                args.append(want)
                cur = conn.execute(select + where + order + " LIMIT ?", args)
                rolled_up = False
                try:
                    for row in cur:
                        name: str = row[0]
                        if prefix and prefix_end is None and not name.startswith(prefix):
                            break
                        if path is not None and name == prefix:
                            continue  # the directory marker itself
                        end = name.find(delimiter, plen) if delimiter else -1
                        if end >= 0 and (path is None or len(name) > end + dlen):
                            dir_name = name[:end + dlen]
                            if path is None and dir_name != marker:
                                results.append({"subdir": dir_name})
                            if reverse:
                                hi = (dir_name, False)
                            else:
                                lo = (past_subdir(name[:end], delimiter), True)
                            rolled_up = True
                            break
                        results.append(dict(zip(cols, row, strict=True)))
                finally:
                    cur.close()
                if not rolled_up:
                    break  # every row asked for came back, or the range ran out
        return results


def past_subdir(stem: str, delimiter: str) -> str:
    """The first name after every name starting ``stem + delimiter`` (the delimiter's
    last character moved one on, as Swift's listings skip a rolled-up subdir)."""
    last = delimiter[-1]
    if ord(last) >= 0x10FFFF:
        raise ValueError("a delimiter cannot end with U+10FFFF")
    return stem + delimiter[:-1] + chr(ord(last) + 1)


Bound = tuple[str, bool] | None  # (value, inclusive); None = unbounded


def listing_bounds(marker: str, end_marker: str, prefix: str, prefix_end: str | None,
                   reverse: bool) -> tuple[Bound, Bound]:
    """The (low, high) name bounds a listing's marker, end_marker and prefix make."""
    if reverse:
        hi = _tighter_hi((marker, False) if marker else None,
                         (prefix_end, False) if prefix_end else None)
        lo = _tighter_lo((end_marker, False) if end_marker else None,
                         (prefix, True) if prefix else None)
    else:
        lo = _tighter_lo((marker, False) if marker else None,
                         (prefix, True) if prefix else None)
        hi = _tighter_hi((end_marker, False) if end_marker else None,
                         (prefix_end, False) if prefix_end else None)
    return lo, hi


def bounds_sql(lo: Bound, hi: Bound) -> tuple[str, list[Any]]:
    where, args = "", []
    if lo is not None:
        where += " AND name >= ?" if lo[1] else " AND name > ?"
        args.append(lo[0])
    if hi is not None:
        where += " AND name <= ?" if hi[1] else " AND name < ?"
        args.append(hi[0])
    return where, args


def _tighter_lo(a: tuple[str, bool] | None,
                b: tuple[str, bool] | None) -> tuple[str, bool] | None:
    if a is None or b is None:
        return a or b
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return a if not a[1] else b  # same value: exclusive is tighter


def _tighter_hi(a: tuple[str, bool] | None,
                b: tuple[str, bool] | None) -> tuple[str, bool] | None:
    if a is None or b is None:
        return a or b
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return a if not a[1] else b
