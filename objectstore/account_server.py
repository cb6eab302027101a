"""The account server: account DBs and their container rows on this node's devices.

Routes (docs/storage-protocol.md, "Account server")::

    PUT/HEAD/GET/POST/DELETE /accounts/<device>/<part>/<account>
    PUT                      /accounts/<device>/<part>/<account>/<container>

The second is a container server reporting a container row (``X-Put-Timestamp``,
``X-Delete-Timestamp``, ``X-Object-Count``, ``X-Bytes-Used``); rows go through
the app's group committer like object rows do on the container server.

As in Swift, an account must be created (PUT) before container rows are
accepted (404 otherwise), and a deleted account is not re-created by a PUT
(403) until its DB has been reaped.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from objectstore import timestamp as tsmod
from objectstore.db import AccountBroker, BrokerInfo, DatabaseAlreadyExists
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

ROUTE = "/accounts/{device}/{part}/{account}"
CONTAINER_ROUTE = ROUTE + "/{container}"

META_PREFIXES = ("x-account-meta-", "x-account-sysmeta-")
META_EXACT = frozenset({"x-account-access-control"})


def _request(request: web.Request) -> DbRequest:
    return parse_db_request(request, "accounts")


def _broker(req: DbRequest) -> AccountBroker:
    return req.brokers.get(AccountBroker, req.db_path)


def _info_headers(info: BrokerInfo) -> dict[str, str]:
    headers = {
        "X-Account-Container-Count": str(info.container_count),
        "X-Account-Object-Count": str(info.object_count),
        "X-Account-Bytes-Used": str(info.bytes_used),
        "X-Timestamp": info.created_at,
        "X-PUT-Timestamp": info.put_timestamp,
        "X-Backend-Put-Timestamp": info.put_timestamp,
        "X-Backend-Delete-Timestamp": info.delete_timestamp,
        "X-Backend-Status-Changed-At": info.status_changed_at,
        "Last-Modified": tsmod.http_date(info.put_timestamp),
    }
    headers.update(metadata_headers(info.metadata))
    return headers


def _state(broker: AccountBroker) -> tuple[BrokerInfo | None, bool]:
    """(info, deleted); info None when there is no DB."""
    if not broker.exists():
        return None, False
    info = broker.get_info()
    return info, broker.info_deleted(info)


def _missing(info: BrokerInfo | None, status: int = 404) -> web.Response:
    headers = {}
    if info is not None:
        headers = {"X-Account-Status": "Deleted",
                   "X-Backend-Put-Timestamp": info.put_timestamp,
                   "X-Backend-Delete-Timestamp": info.delete_timestamp}
    text = {403: "Recently deleted\n", 404: "Not Found\n"}.get(status)
    return web.Response(status=status, headers=headers, text=text)


# -- the account itself ----------------------------------------------------------------


def _put_account(broker: AccountBroker, req: DbRequest, ts: str,
                 meta: dict[str, tuple[str, str]]) -> tuple[int, BrokerInfo]:
    try:
        broker.initialize(ts, req.account, None, meta)
        return 201, broker.get_info()
    except DatabaseAlreadyExists:
        pass
    info = broker.get_info()
    if broker.info_deleted(info):
        return 403, info
    broker.update_put_timestamp(ts)
    broker.update_metadata(meta)
    return 202, info


@db_handler
async def put_account(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    ts = require_timestamp(request.headers)
    meta = metadata_updates(request.headers, META_PREFIXES, META_EXACT, ts)
    status, info = await req.node.run(_put_account, _broker(req), req, ts, meta)
    if status == 403:
        return _missing(info, 403)
    return web.Response(status=status)


@db_handler
async def head_account(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    info, deleted = await req.node.run(_state, _broker(req))
    if info is None or deleted:
        return _missing(info)
    return web.Response(status=204, headers=_info_headers(info))


def _listing(broker: AccountBroker,
             params: ListingParams) -> tuple[BrokerInfo | None, bool, bytes]:
    info, deleted = _state(broker)
    if info is None or deleted:
        return info, deleted, b""
    rows = broker.list_containers(params.limit, params.marker, params.end_marker,
                                  params.prefix, params.delimiter, params.reverse)
    out: list[dict[str, Any]] = []
    for r in rows:
        if "subdir" in r:
            out.append(r)
        else:
            out.append({"name": r["name"], "count": r["object_count"],
                        "bytes": r["bytes_used"],
                        "last_modified": tsmod.iso(r["put_timestamp"])})
    return info, deleted, json.dumps(out, ensure_ascii=False).encode("utf-8")


@db_handler
async def get_account(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    params = parse_listing(request.query)
    info, deleted, body = await req.node.run(_listing, _broker(req), params)
    if info is None or deleted:
        return _missing(info)
    resp = json_listing(body)
    resp.headers.update(_info_headers(info))
    return resp


def _post_account(broker: AccountBroker, meta: dict[str, tuple[str, str]]) -> int:
    info, deleted = _state(broker)
    if info is None or deleted:
        return 404
    broker.update_metadata(meta)
    return 204


@db_handler
async def post_account(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    ts = require_timestamp(request.headers)
    meta = metadata_updates(request.headers, META_PREFIXES, META_EXACT, ts)
    status = await req.node.run(_post_account, _broker(req), meta)
    return web.Response(status=status, text="Not Found\n" if status == 404 else None)


def _delete_account(broker: AccountBroker, ts: str) -> int:
    info, deleted = _state(broker)
    if info is None or deleted:
        return 404
    broker.mark_deleted(ts)
    return 204 if broker.is_deleted() else 409


@db_handler
async def delete_account(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    ts = require_timestamp(request.headers)
    status = await req.node.run(_delete_account, _broker(req), ts)
    text = {404: "Not Found\n", 409: "Conflict\n"}.get(status)
    return web.Response(status=status, text=text)


# -- container rows ----------------------------------------------------------------------


@db_handler
async def put_container_row(request: web.Request) -> web.StreamResponse:
    req = _request(request)
    h = request.headers
    put_ts = require_timestamp(h, "X-Put-Timestamp")
    del_ts = tsmod.normalize(h.get("X-Delete-Timestamp") or 0)
    row = {"name": request.match_info["container"], "put_timestamp": put_ts,
           "delete_timestamp": del_ts,
           "object_count": header_int(h, "X-Object-Count", 0),
           "bytes_used": header_int(h, "X-Bytes-Used", 0)}
    if not await req.committer.submit(_broker(req), [row]):
        return web.Response(status=404, text="Not Found\n")
    return web.Response(status=204 if del_ts > put_ts else 201)


def add_routes(app: web.Application) -> None:
    """Register the account server's routes on ``app`` (which must hold ``NODE``)."""
    setup_db_resources(app)
    r = app.router
    r.add_route("PUT", ROUTE, put_account)
    r.add_route("HEAD", ROUTE, head_account)
    r.add_route("GET", ROUTE, get_account)
    r.add_route("POST", ROUTE, post_account)
    r.add_route("DELETE", ROUTE, delete_account)
    r.add_route("PUT", CONTAINER_ROUTE, put_container_row)


__all__ = ["add_routes"]
