"""The object replication endpoints of a storage node (internal: replicators only).

Each storage policy's objects have their own routes, ``objects`` standing for
``objects-<N>`` for policy N (the data directory they live in).

``GET /replicate/objects/<device>/<part>``
    JSON ``{suffix: hash}`` of the partition (objectstore/hashes.py), dirty
    suffixes recomputed; ``?recalculate=abc,f00`` forces those suffixes.
``GET /replicate/objects/<device>/<part>/<suffix>``
    JSON ``{hash: [file names]}``: the files the suffix keeps, so a peer can
    tell which of its own files this node lacks.
``POST /replicate/objects/<device>/<part>``
    The caller lacks files of this partition that this node holds: the
    partition is marked changed here (objectstore/changes.py), so this node's
    next replication pass pushes them. 204.
``PUT /replicate/objects/<device>/<part>/<hash>/<timestamp>.<data|meta|ts>``
    Stores one file under its exact name: ``X-Backend-Replication: true``,
    ``X-Backend-Metadata-Length: N``; the body is N bytes of JSON metadata
    (exactly the sender's xattr metadata) followed by the file's bytes (only a
    ``.data`` has any). A ``.data`` must match its metadata's ``ETag`` and
    ``Content-Length`` (422 otherwise). 201 when stored, 200 when the node
    already keeps that file, 409 when something newer here supersedes it
    (a newer tombstone or data: nothing resurrects). No container update is
    ever sent: the listing learnt about the object when it was first written.

Swift says ``REPLICATE /objects/...``; aiohttp's HTTP parser refuses methods
it does not know, so these live under their own ``/replicate`` prefix (as
the DB replication routes do), apart from the object server's
``/objects/d/p/a/c/o``: normal object requests never reach these handlers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from common.errors import (
    BadRequest,
    ClientDisconnected,
    Conflict,
    InsufficientStorage,
    NotImplementedYet,
    Unprocessable,
)
from objectstore import hashes
from objectstore.diskfile import DiskBackend, DiskWriter, live_files
from objectstore.node import NODE, DeviceError, NodeContext
from objectstore.object_server import backend_for
from objectstore.protocol import METADATA_LENGTH, OBJECTS, REPLICATE_PREFIX, REPLICATION, datadir
from rings.hashing import hash_path

log = logging.getLogger(__name__)

PREFIX = f"{REPLICATE_PREFIX}/{OBJECTS}"  # policy 0's (:func:`prefix` for the others)
MAX_METADATA = 1 << 20
CHUNK = 1 << 20


def data_dir_policy(name: str) -> int:
    """The storage policy of a data directory (``objects``: 0, ``objects-<N>``: N);
    400 for any other name."""
    if name == OBJECTS:
        return 0
    head, _, number = name.partition("-")
    if head != OBJECTS or not number.isdigit() or number.startswith("0"):
        raise BadRequest(f"bad data directory {name!r}")
    return int(number)


def _partition_dir(request: web.Request) -> tuple[NodeContext, Path]:
    node = request.app[NODE]
    part = request.match_info["part"]
    if not hashes.is_partition(part):
        raise BadRequest("partition must be a number")
    policy = data_dir_policy(request.match_info["datadir"])
    backend_for(request.app, policy)  # 503 for a policy this node does not know
    try:
        dev = node.device_path(request.match_info["device"])
    except DeviceError as exc:
        raise InsufficientStorage(str(exc)) from None
    return node, dev / datadir(policy) / part


async def replicate_partition(request: web.Request) -> web.Response:
    node, part_dir = _partition_dir(request)
    recalc = [s for s in request.query.get("recalculate", "").split(",") if s]
    if any(not hashes.is_suffix(s) for s in recalc):
        raise BadRequest("recalculate takes suffixes (three hex digits)")
    result = await node.run(hashes.get_hashes, part_dir, recalc, hashes.DEFAULT_MAX_AGE,
                            None, node.reclaim_age)
    return web.json_response(result)


async def push_wanted(request: web.Request) -> web.Response:
    """A peer lacks files of this partition: mark it changed, so this node's next
    replication pass pushes them."""
    node, part_dir = _partition_dir(request)
    node.partition_changed(part_dir.parent.parent.name, part_dir.name, part_dir.parent.name)
    return web.Response(status=204)


async def replicate_suffix(request: web.Request) -> web.Response:
    node, part_dir = _partition_dir(request)
    suffix = request.match_info["suffix"]
    if not hashes.is_suffix(suffix):
        raise BadRequest("bad suffix")
    result = await node.run(hashes.list_suffix, part_dir / suffix,
                            time.time() - node.reclaim_age)
    return web.json_response(result)


def _check_name(metadata: dict[str, Any], obj_hash: str, node: NodeContext) -> bool:
    """A metadata ``name`` (``/a/c/o``), when there is one, must hash to ``obj_hash``."""
    name = metadata.get("name")
    if name is None:
        return True
    parts = str(name).split("/", 3)
    if len(parts) != 4 or parts[0]:
        return False
    return hash_path(parts[1], parts[2], parts[3], hash_prefix=node.hash_prefix,
                     hash_suffix=node.hash_suffix) == obj_hash


def _kept(part_dir: Path, obj_hash: str, name: str) -> bool:
    """True when the file is already kept here; Conflict (409) when it would not be."""
    current = hashes.live_names(part_dir / obj_hash[-3:] / obj_hash)
    if name in current:
        return True
    if name not in live_files([*current, name]):
        raise Conflict("")
    return False


async def push_file(request: web.Request) -> web.Response:
    node, part_dir = _partition_dir(request)
    backend = backend_for(request.app, data_dir_policy(request.match_info["datadir"]))
    if not isinstance(backend, DiskBackend):
        raise NotImplementedYet("replication needs the disk backend")
    if request.headers.get(REPLICATION, "").lower() != "true":
        raise BadRequest("X-Backend-Replication: true is required")
    obj_hash, name = request.match_info["hash"], request.match_info["name"]
    if not hashes.is_hash(obj_hash) or not hashes.valid_file_name(name):
        raise BadRequest("bad object hash or file name")
    try:
        meta_len = int(request.headers[METADATA_LENGTH])
    except (KeyError, ValueError):
        raise BadRequest("X-Backend-Metadata-Length is required") from None
    if not 0 < meta_len <= MAX_METADATA:
        raise BadRequest("metadata too large")
    try:
        raw = await request.content.readexactly(meta_len)
    except asyncio.IncompleteReadError:
        raise ClientDisconnected("client disconnected before the end") from None
    try:
        metadata = json.loads(raw)
    except ValueError:
        raise BadRequest("metadata is not JSON") from None
    if not isinstance(metadata, dict) or not _check_name(metadata, obj_hash, node):
        raise BadRequest("metadata does not belong to this object")
    device, part = request.match_info["device"], request.match_info["part"]
    if await node.run(_kept, part_dir, obj_hash, name):
        return web.Response(status=200)
    if not name.endswith(".data"):
        if await request.content.read(1):
            raise BadRequest("only a .data file has bytes")
        await node.run(backend.place_file, None, device, part, obj_hash, name, metadata)
        return web.Response(status=201)
    writer: DiskWriter = await node.run(backend.writer, device)
    placed = False
    try:
        while chunk := await request.content.read(CHUNK):
            await node.run(writer.write, chunk)
        if (writer.etag != str(metadata.get("ETag", ""))
                or str(writer.length) != str(metadata.get("Content-Length", ""))):
            raise Unprocessable("body does not match ETag/Content-Length")
        await node.run(backend.place_file, writer, device, part, obj_hash, name, metadata)
        placed = True
    finally:
        if not placed:
            await node.run(writer.abort)
    log.debug("replicated %s/%s/%s/%s in", device, part, obj_hash, name)
    return web.Response(status=201)


def prefix(policy: int = 0) -> str:
    """The replication routes of policy ``policy``'s objects: ``/replicate/objects``,
    ``/replicate/objects-<N>``."""
    return f"{REPLICATE_PREFIX}/{datadir(policy)}"


def add_routes(app: web.Application) -> None:
    base = f"{REPLICATE_PREFIX}/{{datadir:{OBJECTS}(?:-[0-9]+)?}}"
    app.router.add_get(f"{base}/{{device}}/{{part}}", replicate_partition, allow_head=False)
    app.router.add_get(f"{base}/{{device}}/{{part}}/{{suffix}}", replicate_suffix,
                       allow_head=False)
    app.router.add_post(f"{base}/{{device}}/{{part}}", push_wanted)
    app.router.add_put(f"{base}/{{device}}/{{part}}/{{hash}}/{{name}}", push_file)
