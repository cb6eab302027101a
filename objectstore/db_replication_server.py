"""The receiving side of container and account DB replication.

Routes (one per kind of DB, addressed by partition and name hash)::

    POST /replicate/containers/<device>/<part>/<hash>
    POST /replicate/accounts/<device>/<part>/<hash>

(Swift says ``REPLICATE /containers/...``; aiohttp's HTTP parser refuses
methods it does not know, so the verb is POST under its own ``/replicate``
prefix -- the operation travels in the body.)

The body is a JSON object whose ``op`` says what is asked; it is parsed into
a typed operation (:func:`parse_op`) before anything touches a DB:

``{"op": "sync", "remote_id": "<caller's DB id>"}``
    200 with the local DB's state (:func:`db_state`): ``id``, ``account``,
    ``container``, ``created_at``, ``put_timestamp``, ``delete_timestamp``,
    ``status_changed_at``, ``metadata``, ``max_row``, ``object_count``,
    ``bytes_used``, ``container_count``, ``deleted`` and ``sync_point``: the
    newest row of the caller's DB already merged here (-1: none). 404 when
    there is no DB here.

``{"op": "merge", "db": {...}, "rows": [...], "sync_point": N}``
    ``db`` is the sender's state (``id``, ``account``, ``container``,
    ``put_timestamp``, ``delete_timestamp``, ``metadata``). The DB is created
    from it when absent (its name must hash to the path's hash); then the
    put/delete timestamps and metadata are merged (newest wins), the rows are
    merged (``merge_items``, deleted DBs included: tombstones replicate too),
    and ``sync_point`` is recorded for the sender's id. 200 with
    ``{"max_row", "sync_point"}``.

Errors: 400 malformed body, 507 unknown device, 404 as above.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from common import timestamp as tsmod
from common.errors import BadRequest, NotFound
from objectstore.container_server import validate_row
from objectstore.db import (
    AccountBroker,
    ContainerBroker,
    DatabaseAlreadyExists,
    DatabaseBroker,
    Metadata,
)
from objectstore.db.base import ZERO_TS
from objectstore.listing import DB_RESOURCES, db_handler, setup_db_resources
from objectstore.node import NODE
from objectstore.protocol import REPLICATE_PREFIX
from rings.hashing import hash_path

MAX_ROWS = 10000  # per merge request
HASH_RE = re.compile(r"^[0-9a-f]{32}$")
KINDS: dict[str, type[DatabaseBroker]] = {"containers": ContainerBroker,
                                          "accounts": AccountBroker}

__all__ = ["MergeOp", "RemoteDb", "SyncOp", "add_routes", "apply_merge", "db_state",
           "parse_op", "validate_account_row"]


class BadOp(ValueError):
    """A REPLICATE body that is not a well-formed operation."""


@dataclass(frozen=True)
class RemoteDb:
    """What a sender says about its own DB."""

    id: str
    account: str
    container: str | None
    put_timestamp: str
    delete_timestamp: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True)
class SyncOp:
    remote_id: str


@dataclass(frozen=True)
class MergeOp:
    db: RemoteDb
    rows: list[dict[str, Any]]
    sync_point: int


def _str(raw: dict[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = raw.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or "\x00" in value:
        raise BadOp(f"bad {key}")
    return value


def _ts(value: Any, key: str) -> str:
    try:
        return tsmod.normalize(value)
    except (tsmod.BadTimestamp, TypeError, ValueError):
        raise BadOp(f"bad {key}") from None


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadOp(f"bad {key}")
    return value


def _metadata(raw: Any) -> Metadata:
    if not isinstance(raw, dict):
        raise BadOp("bad metadata")
    out: Metadata = {}
    for key, pair in raw.items():
        if (not isinstance(key, str) or not isinstance(pair, list) or len(pair) != 2
                or not isinstance(pair[0], str)):
            raise BadOp(f"bad metadata item {key!r}")
        out[key] = [pair[0], _ts(pair[1], f"metadata {key}")]
    return out


def validate_account_row(raw: Any) -> dict[str, Any]:
    """One account (container) row from a peer, checked and normalized."""
    if not isinstance(raw, dict):
        raise BadOp("row is not an object")
    return {"name": _str(raw, "name"),
            "put_timestamp": _ts(raw.get("put_timestamp"), "put_timestamp"),
            "delete_timestamp": _ts(raw.get("delete_timestamp"), "delete_timestamp"),
            "object_count": _count(raw.get("object_count", 0), "object_count"),
            "bytes_used": _count(raw.get("bytes_used", 0), "bytes_used"),
            "storage_policy_index": _count(raw.get("storage_policy_index", 0),
                                           "storage_policy_index")}


def _container_row(raw: Any) -> dict[str, Any]:
    try:
        return validate_row(raw)
    except BadRequest as exc:
        raise BadOp(exc.message or "bad row") from None


def parse_op(kind: str, body: Any) -> SyncOp | MergeOp:
    """The operation a REPLICATE body asks for; :class:`BadOp` when malformed."""
    if not isinstance(body, dict):
        raise BadOp("body must be a JSON object")
    op = body.get("op")
    if op == "sync":
        remote_id = _str(body, "remote_id")
        assert remote_id is not None
        return SyncOp(remote_id)
    if op != "merge":
        raise BadOp(f"unknown op {op!r}")
    raw_db = body.get("db")
    if not isinstance(raw_db, dict):
        raise BadOp("bad db")
    db_id, account = _str(raw_db, "id"), _str(raw_db, "account")
    container = _str(raw_db, "container", optional=True)
    assert db_id is not None and account is not None
    if (kind == "containers") != (container is not None):
        raise BadOp("container name required for container DBs only")
    db = RemoteDb(db_id, account, container,
                  _ts(raw_db.get("put_timestamp"), "put_timestamp"),
                  _ts(raw_db.get("delete_timestamp", ZERO_TS), "delete_timestamp"),
                  _metadata(raw_db.get("metadata", {})))
    rows = body.get("rows", [])
    if not isinstance(rows, list) or len(rows) > MAX_ROWS:
        raise BadOp(f"rows must be a list of at most {MAX_ROWS}")
    check = _container_row if kind == "containers" else validate_account_row
    point = body.get("sync_point")
    if isinstance(point, bool) or not isinstance(point, int) or point < -1:
        raise BadOp("bad sync_point")
    return MergeOp(db, [check(r) for r in rows], point)


# -- what the operations do (blocking: run on the node's pool) -----------------------------


def db_state(broker: DatabaseBroker, remote_id: str | None = None) -> dict[str, Any] | None:
    """The DB's state as the ``sync`` op answers it; None when there is no DB."""
    if not broker.exists():
        return None
    info = broker.get_info()
    return {
        "id": info.id, "account": info.account, "container": info.container,
        "created_at": info.created_at, "put_timestamp": info.put_timestamp,
        "delete_timestamp": info.delete_timestamp,
        "status_changed_at": info.status_changed_at, "metadata": info.metadata,
        "max_row": info.max_row, "object_count": info.object_count,
        "bytes_used": info.bytes_used, "container_count": info.container_count,
        "deleted": broker.info_deleted(info),
        "sync_point": broker.get_sync(remote_id) if remote_id else -1,
    }


def apply_merge(broker: DatabaseBroker, op: MergeOp) -> dict[str, int]:
    """Create the DB if needed, merge timestamps, metadata and rows, record the sync point."""
    meta = {k: (v[0], v[1]) for k, v in op.db.metadata.items()}
    try:
        broker.initialize(op.db.put_timestamp, op.db.account, op.db.container, meta)
    except DatabaseAlreadyExists:
        broker.update_put_timestamp(op.db.put_timestamp)
        broker.update_metadata(meta)
    if op.db.delete_timestamp > ZERO_TS:
        broker.mark_deleted(op.db.delete_timestamp)
    if op.rows:
        broker.merge_items(op.rows)
    broker.set_sync(op.db.id, op.sync_point)
    return {"max_row": broker.max_row(), "sync_point": op.sync_point}


# -- HTTP ------------------------------------------------------------------------------------


def _handler(kind: str) -> Any:
    broker_cls = KINDS[kind]

    @db_handler
    async def replicate(request: web.Request) -> web.StreamResponse:
        node = request.app[NODE]
        mi = request.match_info
        device_path = node.device_path(mi["device"])  # DeviceError -> 507
        part, db_hash = mi["part"], mi["hash"]
        if not part.isdigit() or not HASH_RE.match(db_hash):
            raise BadRequest("bad partition or hash\n")
        try:
            op = parse_op(kind, json.loads(await request.read()))
        except (ValueError, UnicodeDecodeError) as exc:  # BadOp is a ValueError
            raise BadRequest(f"{exc}\n") from None
        path = device_path / kind / part / db_hash[-3:] / db_hash / f"{db_hash}.db"
        broker = request.app[DB_RESOURCES].brokers(node).get(broker_cls, path)
        if isinstance(op, SyncOp):
            state = await node.run(db_state, broker, op.remote_id)
            if state is None:
                raise NotFound("Not Found\n")
            return web.json_response(state)
        expected = hash_path(op.db.account, op.db.container, hash_prefix=node.hash_prefix,
                             hash_suffix=node.hash_suffix)
        if expected != db_hash:
            raise BadRequest("the DB's name does not match the hash\n")
        merged = await node.run(apply_merge, broker, op)
        if kind == "containers":  # a replica's stats may have changed: the updater looks
            node.stats_changed.add(path)  # (not a replication mark: no ping-pong)
        return web.json_response(merged)

    return replicate


def add_routes(app: web.Application) -> None:
    """Register the container and account DB replication routes on ``app``."""
    setup_db_resources(app)
    for kind in KINDS:
        app.router.add_post(f"{REPLICATE_PREFIX}/{kind}/{{device}}/{{part}}/{{hash}}",
                            _handler(kind))
