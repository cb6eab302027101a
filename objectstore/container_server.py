"""The container server: container DBs and their object rows on this node's devices.

Routes (docs/storage-protocol.md, "Container server")::

    PUT/HEAD/GET/POST/DELETE /containers/<device>/<part>/<account>/<container>
    POST                     /containers/<device>/<part>/<account>/<container>?batch
    PUT/DELETE               /containers/<device>/<part>/<account>/<container>/<object>

Object rows (single PUT/DELETE and ``?batch``) go through the app's group
committer: concurrent rows for one DB share a transaction, and each request
is answered once its rows are committed. Container PUT and DELETE then tell
the account server named by ``X-Backend-Account-Host/-Device/-Partition``;
an update that cannot be delivered is kept as an async pending record.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from objectstore import timestamp as tsmod
from objectstore.async_pending import write_async_pending
from objectstore.db import BrokerInfo, ContainerBroker, DatabaseAlreadyExists
from objectstore.listing import (
    DbRequest,
    ListingParams,
    db_handler,
    header_int,
    json_listing,
    metadata_headers,
    metadata_updates,
    parse_db_request,
    parse_listing,
    require_timestamp,
    setup_db_resources,
)

log = logging.getLogger(__name__)

ROUTE = "/containers/{device}/{part}/{account}/{container}"
OBJECT_ROUTE = ROUTE + "/{obj:.+}"

META_PREFIXES = ("x-container-meta-", "x-container-sysmeta-")
META_EXACT = frozenset({
    "x-container-read", "x-container-write", "x-container-sync-to", "x-container-sync-key",
    "x-versions-location", "x-history-location",
})
ROW_KEYS = ("name", "created_at", "size", "content_type", "etag", "deleted")


def _request(request: web.Request) -> DbRequest:
    return parse_db_request(request, "containers")


def _broker(req: DbRequest) -> ContainerBroker:
    return req.brokers.get(ContainerBroker, req.db_path)


def _info_headers(info: BrokerInfo) -> dict[str, str]:
    headers = {
        "X-Container-Object-Count": str(info.object_count),
        "X-Container-Bytes-Used": str(info.bytes_used),
        "X-Timestamp": info.created_at,
        "X-PUT-Timestamp": info.put_timestamp,
        "X-Backend-Put-Timestamp": info.put_timestamp,
        "X-Backend-Delete-Timestamp": info.delete_timestamp,
        "X-Backend-Status-Changed-At": info.status_changed_at,
        "Last-Modified": tsmod.http_date(info.put_timestamp),
    }
    headers.update(metadata_headers(info.metadata))
    return headers


# -- container PUT / DELETE ------------------------------------------------------------


def _put_container(broker: ContainerBroker, req: DbRequest, ts: str,
                   meta: dict[str, tuple[str, str]]) -> tuple[int, BrokerInfo]:
    try:
        broker.initialize(ts, req.account, req.container, meta)
        return 201, broker.get_info()
    except DatabaseAlreadyExists:
        pass
    was_deleted = broker.is_deleted()
    broker.update_put_timestamp(ts)
    broker.update_metadata(meta)
    info = broker.get_info()
    if broker.info_deleted(info):
        return 409, info  # an older PUT than the delete that holds
    return (201 if was_deleted else 202), info


@db_handler
async def put_container(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    ts = require_timestamp(request.headers)
    meta = metadata_updates(request.headers, META_PREFIXES, META_EXACT, ts)
    broker = _broker(req)
    status, info = await req.node.run(_put_container, broker, req, ts, meta)
    if status == 409:
        return web.Response(status=409, text="Conflict\n")
    failed = await update_account(request, req, info, ts)
    if failed is not None:
        return failed
    return web.Response(status=status)


def _delete_container(broker: ContainerBroker, ts: str) -> tuple[int, BrokerInfo | None]:
    if not broker.exists():
        return 404, None
    info = broker.get_info()
    if broker.info_deleted(info):
        return 404, info
    if info.object_count:
        return 409, info
    broker.mark_deleted(ts)
    info = broker.get_info()
    return (204 if broker.info_deleted(info) else 409), info


@db_handler
async def delete_container(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    ts = require_timestamp(request.headers)
    status, info = await req.node.run(_delete_container, _broker(req), ts)
    if status != 204 or info is None:
        return web.Response(status=status, text=_reason(status) or None)
    failed = await update_account(request, req, info, ts)
    if failed is not None:
        return failed
    return web.Response(status=204)


def _reason(status: int) -> str:
    return {404: "Not Found\n", 409: "Conflict\n"}.get(status, "")


# -- HEAD / GET / POST -------------------------------------------------------------------


def _live_info(broker: ContainerBroker) -> tuple[BrokerInfo | None, bool]:
    """(info, deleted); info None when there is no DB."""
    if not broker.exists():
        return None, False
    info = broker.get_info()
    return info, broker.info_deleted(info)


def _not_found(info: BrokerInfo | None) -> web.Response:
    headers = {}
    if info is not None:
        headers = {"X-Backend-Put-Timestamp": info.put_timestamp,
                   "X-Backend-Delete-Timestamp": info.delete_timestamp,
                   "X-Backend-Status": "deleted"}
    return web.Response(status=404, headers=headers,
                        text=None if info is None else "Not Found\n")


@db_handler
async def head_container(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    broker = _broker(req)
    info, deleted = await req.node.run(_live_info, broker)
    if info is None or deleted:
        return _not_found(info)
    return web.Response(status=204, headers=_info_headers(info))


def _listing(broker: ContainerBroker,
             params: ListingParams) -> tuple[BrokerInfo | None, bool, bytes]:
    info, deleted = _live_info(broker)
    if info is None or deleted:
        return info, deleted, b""
    if not params.delimiter:
        body = broker.list_objects_json(params.limit, params.marker, params.end_marker,
                                        params.prefix, params.reverse)
        if body is not None:
            return info, deleted, body
    rows = broker.list_objects(params.limit, params.marker, params.end_marker,
                               params.prefix, params.delimiter, params.reverse)
    out: list[dict[str, Any]] = []
    for r in rows:
        if "subdir" in r:
            out.append(r)
        else:
            out.append({"name": r["name"], "hash": r["etag"], "bytes": r["size"],
                        "content_type": r["content_type"],
                        "last_modified": tsmod.iso(r["created_at"])})
    return info, deleted, json.dumps(out, ensure_ascii=False).encode("utf-8")


@db_handler
async def get_container(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    params = parse_listing(request.query)
    broker = _broker(req)
    info, deleted, body = await req.node.run(_listing, broker, params)
    if info is None or deleted:
        return _not_found(info)
    resp = json_listing(body)
    resp.headers.update(_info_headers(info))
    return resp


def _post_container(broker: ContainerBroker, meta: dict[str, tuple[str, str]]) -> int:
    info, deleted = _live_info(broker)
    if info is None or deleted:
        return 404
    broker.update_metadata(meta)
    return 204


@db_handler
async def post_container(request: web.Request) -> web.StreamResponse:
    if "batch" in request.query:
        return await _post_batch(request)
    req = _request(request)
    ts = require_timestamp(request.headers)
    meta = metadata_updates(request.headers, META_PREFIXES, META_EXACT, ts)
    status = await req.node.run(_post_container, _broker(req), meta)
    return web.Response(status=status, text=_reason(status) or None)


# -- object rows -------------------------------------------------------------------------


def _row_error(text: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=f"bad row: {text}\n")


def validate_row(raw: Any) -> dict[str, Any]:
    """One ``?batch`` row, checked and normalized; HTTP 400 when malformed."""
    if not isinstance(raw, dict):
        raise _row_error("not an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name or "\x00" in name:
        raise _row_error("name")
    try:
        created_at = tsmod.normalize(raw.get("created_at"))  # type: ignore[arg-type]
    except tsmod.BadTimestamp:
        raise _row_error("created_at") from None
    size = raw.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise _row_error("size")
    ctype, etag = raw.get("content_type", ""), raw.get("etag", "")
    if not isinstance(ctype, str) or not isinstance(etag, str):
        raise _row_error("content_type/etag")
    deleted = raw.get("deleted", 0)
    if deleted not in (0, 1, True, False):
        raise _row_error("deleted")
    return {"name": name, "created_at": created_at, "size": size, "content_type": ctype,
            "etag": etag, "deleted": 1 if deleted else 0}


async def _post_batch(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="body is not JSON\n") from None
    if not isinstance(body, list):
        raise web.HTTPBadRequest(text="body must be a JSON list of rows\n")
    rows = [validate_row(r) for r in body]
    if not await req.committer.submit(_broker(req), rows):
        return web.Response(status=404, text="Not Found\n")
    return web.Response(status=202)


@db_handler
async def put_object_row(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    h = request.headers
    row = {"name": request.match_info["obj"], "created_at": require_timestamp(h),
           "size": header_int(h, "X-Size"),
           "content_type": h.get("X-Content-Type", ""), "etag": h.get("X-Etag", ""),
           "deleted": 0}
    if not await req.committer.submit(_broker(req), [row]):
        return web.Response(status=404, text="Not Found\n")
    return web.Response(status=201)


@db_handler
async def delete_object_row(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    row = {"name": request.match_info["obj"], "created_at": require_timestamp(request.headers),
           "size": 0, "content_type": "", "etag": "", "deleted": 1}
    if not await req.committer.submit(_broker(req), [row]):
        return web.Response(status=404, text="Not Found\n")
    return web.Response(status=204)


# -- account updates -------------------------------------------------------------------------


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


async def update_account(request: web.Request, req: DbRequest, info: BrokerInfo,
                         ts: str) -> web.Response | None:
    """Send the container's row to the account replicas the proxy named.

    Returns a 404 response when every account replica answered 404 (no such
    account, as Swift does); failures and 5xx are written as async pending
    records and do not fail the request.
    """
    hosts = _split(request.headers.get("X-Backend-Account-Host", ""))
    devices = _split(request.headers.get("X-Backend-Account-Device", ""))
    part = request.headers.get("X-Backend-Account-Partition", "").strip()
    if not hosts:
        return None
    if len(devices) != len(hosts) or not part.isdigit():
        log.error("bad account update headers for %s/%s", req.account, req.container)
        return None
    assert req.container is not None
    path_tail = "/".join(quote(p, safe="") for p in (part, req.account, req.container))
    headers = {
        "X-Put-Timestamp": info.put_timestamp,
        "X-Delete-Timestamp": info.delete_timestamp,
        "X-Object-Count": str(info.object_count),
        "X-Bytes-Used": str(info.bytes_used),
        "X-Timestamp": ts,
    }
    targets = [(host, dev, f"/accounts/{quote(dev, safe='')}/{path_tail}")
               for host, dev in zip(hosts, devices, strict=True)]
    statuses = await asyncio.gather(*(_send(req, host, path, headers)
                                      for host, _dev, path in targets))
    for (host, dev, path), status in zip(targets, statuses, strict=True):
        if status is None or status >= 500:
            record = {"kind": "account-update", "host": host, "device": dev,
                      "partition": part, "account": req.account, "container": req.container,
                      "method": "PUT", "path": path, "headers": headers, "timestamp": ts}
            await req.node.run(write_async_pending, req.device_path, record)
    if all(s == 404 for s in statuses):
        return web.Response(status=404, text="Account not found\n")
    return None


async def _send(req: DbRequest, host: str, path: str, headers: dict[str, str]) -> int | None:
    node = req.node
    try:
        async with node.session.put(
            f"http://{host}{path}", headers=headers,
            timeout=aiohttp.ClientTimeout(total=node.node_timeout, connect=node.conn_timeout),
        ) as resp:
            await resp.read()
            if resp.status // 100 != 2:
                log.warning("account update %s%s got %d", host, path, resp.status)
            return resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("account update %s%s failed: %s", host, path, exc)
        return None


def add_routes(app: web.Application) -> None:
    """Register the container server's routes on ``app`` (which must hold ``NODE``)."""
    setup_db_resources(app)
    r = app.router
    r.add_route("PUT", ROUTE, put_container)
    r.add_route("HEAD", ROUTE, head_container)
    r.add_route("GET", ROUTE, get_container)
    r.add_route("POST", ROUTE, post_container)
    r.add_route("DELETE", ROUTE, delete_container)
    r.add_route("PUT", OBJECT_ROUTE, put_object_row)
    r.add_route("DELETE", OBJECT_ROUTE, delete_object_row)


__all__ = ["add_routes", "update_account", "validate_row"]
