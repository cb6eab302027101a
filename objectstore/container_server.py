"""The container server: container DBs and their object rows on this node's devices.

Routes (docs/storage-protocol.md, "Container server")::

    PUT/HEAD/GET/POST/DELETE /containers/<device>/<part>/<account>/<container>
    POST                     /containers/<device>/<part>/<account>/<container>?batch
    PUT/DELETE               /containers/<device>/<part>/<account>/<container>/<object>

The DB routes are :class:`objectstore.db_server.DbServer`'s. Object rows
(single PUT/DELETE and ``?batch``) go through the app's group committer:
concurrent rows for one DB share a transaction, and each request is answered
once its rows are committed. Container PUT and DELETE then tell the account
server named by ``X-Backend-Account-Host/-Device/-Partition``; an update that
cannot be delivered is kept as an async pending record.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web

from common import timestamp as tsmod
from common.errors import BadRequest, Conflict, NotFound
from objectstore.async_pending import write_async_pending
from objectstore.db import BrokerInfo, ContainerBroker, Metadata
from objectstore.db_server import CONFLICT, DbServer, Meta, Route, listing_body
from objectstore.listing import DbRequest, ListingParams, header_int, require_timestamp
from objectstore.protocol import (
    ACCOUNT_DEVICE,
    ACCOUNT_HOST,
    ACCOUNT_PARTITION,
    ACCOUNTS,
    CONTAINER_ROUTE,
    CONTAINER_ROW_ROUTE,
    POLICY_DEFAULT,
    POLICY_INDEX,
    node_path,
)

log = logging.getLogger(__name__)


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    ctype, size = row["content_type"], row["size"]
    if ";swift_bytes=" in ctype:
        # an SLO manifest lists as the size of its large object (Swift's
        # override_bytes_from_content_type); bytes used still counts the manifest
        ctype, _, listed = ctype.rpartition(";swift_bytes=")
        if listed.isdigit():
            size = int(listed)
    return {"name": row["name"], "hash": row["etag"], "bytes": size,
            "content_type": ctype, "last_modified": tsmod.iso(row["created_at"])}


class ContainerServer(DbServer[ContainerBroker]):
    broker_class = ContainerBroker
    route = CONTAINER_ROUTE
    meta_exact = frozenset({
        "x-container-read", "x-container-write", "x-container-sync-to",
        "x-container-sync-key", "x-versions-location", "x-history-location",
    })
    deleted_header = ("X-Backend-Status", "deleted")
    no_db_text = ""

    def stat_headers(self, info: BrokerInfo) -> dict[str, str]:
        return {"X-Container-Object-Count": str(info.object_count),
                "X-Container-Bytes-Used": str(info.bytes_used)}

    def put_metadata(self, request: web.Request, ts: str) -> Meta:
        """A container's PUT stores its storage policy as well: the one it names, else
        the default the proxy sent (kept only if the PUT creates the container)."""
        meta = self.metadata(request, ts)
        policy = request.headers.get(POLICY_INDEX) or request.headers.get(POLICY_DEFAULT)
        if policy is not None and not policy.isdigit():
            raise BadRequest(f"bad storage policy index {policy!r}\n")
        meta[POLICY_INDEX] = (str(int(policy or 0)), ts)
        return meta

    def put_existing(self, broker: ContainerBroker, req: DbRequest, ts: str,
                     meta: Meta) -> tuple[int, BrokerInfo]:
        was_deleted = broker.is_deleted()
        if not was_deleted:  # a live container keeps its policy; naming another is 409
            current = container_policy(broker.metadata)
            requested = req.headers.get(POLICY_INDEX)
            if requested is not None and int(requested) != current:
                raise Conflict(CONFLICT)
            meta.pop(POLICY_INDEX, None)
        broker.update_metadata(meta, self.limits(req))
        broker.update_put_timestamp(ts)
        info = broker.get_info()
        if broker.info_deleted(info):
            raise Conflict(CONFLICT)  # an older PUT than the delete that holds
        return (201 if was_deleted else 202), info

    def may_delete(self, info: BrokerInfo) -> bool:
        return not info.object_count

    def list_json(self, broker: ContainerBroker, params: ListingParams) -> bytes:
        if not params.delimiter and params.path is None:
            body = broker.list_objects_json(params.limit, params.marker, params.end_marker,
                                            params.prefix, params.reverse)
            if body is not None:
                return body
        rows = broker.list_objects(params.limit, params.marker, params.end_marker,
                                   params.prefix, params.delimiter, params.reverse,
                                   params.path)
        return listing_body(rows, _entry)

    async def changed(self, request: web.Request, req: DbRequest, info: BrokerInfo,
                      ts: str) -> None:
        await update_account(request, req, info, ts)

    def routes(self) -> list[Route]:
        return [*super().routes(), ("PUT", CONTAINER_ROW_ROUTE, self.put_object_row),
                ("DELETE", CONTAINER_ROW_ROUTE, self.delete_object_row)]

    # -- object rows ---------------------------------------------------------------------

    async def post(self, request: web.Request) -> web.StreamResponse:
        if "batch" in request.query:
            return await self.post_batch(request)
        return await super().post(request)

    async def post_batch(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("body is not JSON\n") from None
        if not isinstance(body, list):
            raise BadRequest("body must be a JSON list of rows\n")
        return await self.commit_rows(req, [validate_row(r) for r in body], 202)

    async def put_object_row(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        h = request.headers
        row = {"name": request.match_info["obj"], "created_at": require_timestamp(h),
               "size": header_int(h, "X-Size"),
               "content_type": h.get("X-Content-Type", ""), "etag": h.get("X-Etag", ""),
               "deleted": 0}
        return await self.commit_rows(req, [row], 201)

    async def delete_object_row(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        row = {"name": request.match_info["obj"],
               "created_at": require_timestamp(request.headers),
               "size": 0, "content_type": "", "etag": "", "deleted": 1}
        return await self.commit_rows(req, [row], 204)


def _row_error(text: str) -> BadRequest:
    return BadRequest(f"bad row: {text}\n")


def validate_row(raw: Any) -> dict[str, Any]:
    """One ``?batch`` row, checked and normalized; BadRequest (400) when malformed."""
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


# -- account updates -------------------------------------------------------------------------


def container_policy(metadata: Metadata) -> int:
    """The storage policy a container's metadata names (0: none, a DB made before
    policies)."""
    value = (metadata.get(POLICY_INDEX) or ["0"])[0]
    return int(value) if value.isdigit() else 0


def account_row_headers(info: BrokerInfo, ts: str) -> dict[str, str]:
    """What a container tells its account replicas of itself (``PUT /accounts/.../c``)."""
    return {
        "X-Put-Timestamp": info.put_timestamp,
        "X-Delete-Timestamp": info.delete_timestamp,
        "X-Object-Count": str(info.object_count),
        "X-Bytes-Used": str(info.bytes_used),
        "X-Timestamp": ts,
        POLICY_INDEX: str(container_policy(info.metadata)),
    }


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


async def update_account(request: web.Request, req: DbRequest, info: BrokerInfo,
                         ts: str) -> None:
    """Send the container's row to the account replicas the proxy named.

    Raises NotFound (404) when every account replica answered 404 (no such
    account, as Swift does); failures and 5xx are written as async pending
    records and do not fail the request.
    """
    hosts = _split(request.headers.get(ACCOUNT_HOST, ""))
    devices = _split(request.headers.get(ACCOUNT_DEVICE, ""))
    part = request.headers.get(ACCOUNT_PARTITION, "").strip()
    if not hosts:
        return
    if len(devices) != len(hosts) or not part.isdigit():
        log.error("bad account update headers for %s/%s", req.account, req.container)
        return
    assert req.container is not None
    headers = account_row_headers(info, ts)
    targets = [(host, dev, node_path(ACCOUNTS, dev, part, req.account, req.container))
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
        raise NotFound("Account not found\n")


async def _send(req: DbRequest, host: str, path: str, headers: dict[str, str]) -> int | None:
    node = req.node
    try:
        async with node.session.put(
            f"http://{host}{path}", headers=headers,
            timeout=node.call_timeout,
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
    ContainerServer().add_routes(app)


__all__ = ["ContainerServer", "account_row_headers", "add_routes", "container_policy",
           "update_account", "validate_row"]
