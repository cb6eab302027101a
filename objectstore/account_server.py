"""The account server: account DBs and their container rows on this node's devices.

Routes (docs/storage-protocol.md, "Account server")::

    PUT/HEAD/GET/POST/DELETE /accounts/<device>/<part>/<account>
    PUT                      /accounts/<device>/<part>/<account>/<container>

The DB routes are :class:`objectstore.db_server.DbServer`'s. The second is a
container server reporting a container row (``X-Put-Timestamp``,
``X-Delete-Timestamp``, ``X-Object-Count``, ``X-Bytes-Used``); rows go through
the app's group committer like object rows do on the container server.

As in Swift, an account must be created (PUT) before container rows are
accepted (404 otherwise), and a deleted account is not re-created by a PUT
(403) until its DB has been reaped.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common import timestamp as tsmod
from objectstore.db import AccountBroker, BrokerInfo
from objectstore.db_server import DbServer, Meta, Route, listing_body
from objectstore.errors import RecentlyDeleted
from objectstore.listing import DbRequest, ListingParams, header_int, require_timestamp
from objectstore.node import NODE
from objectstore.protocol import ACCOUNT_ROUTE, ACCOUNT_ROW_ROUTE, POLICY_INDEX


class AccountServer(DbServer[AccountBroker]):
    broker_class = AccountBroker
    route = ACCOUNT_ROUTE
    meta_exact = frozenset({"x-account-access-control"})
    deleted_header = ("X-Account-Status", "Deleted")

    def __init__(self, policies: tuple[str, ...] = ("Policy-0",)) -> None:
        super().__init__()
        self.policies = policies  # the storage policies' names, by index

    def stat_headers(self, info: BrokerInfo) -> dict[str, str]:
        """The totals, and as Swift's the same for each storage policy used
        (``X-Account-Storage-Policy-<Name>-Container-Count``, ...)."""
        headers = {"X-Account-Container-Count": str(info.container_count),
                   "X-Account-Object-Count": str(info.object_count),
                   "X-Account-Bytes-Used": str(info.bytes_used)}
        for index, (containers, objects, used) in info.policy_stats.items():
            if index >= len(self.policies):
                continue  # a policy this configuration no longer names
            prefix = f"X-Account-Storage-Policy-{self.policies[index]}-"
            headers[prefix + "Container-Count"] = str(containers)
            headers[prefix + "Object-Count"] = str(objects)
            headers[prefix + "Bytes-Used"] = str(used)
        return headers

    def _entry(self, row: dict[str, Any]) -> dict[str, Any]:
        entry = {"name": row["name"], "count": row["object_count"],
                 "bytes": row["bytes_used"], "last_modified": tsmod.iso(row["put_timestamp"])}
        index = row.get("storage_policy_index", 0)
        if 0 <= index < len(self.policies):
            entry["storage_policy"] = self.policies[index]
        return entry

    def put_existing(self, broker: AccountBroker, req: DbRequest, ts: str,
                     meta: Meta) -> tuple[int, BrokerInfo]:
        info = broker.get_info()
        if broker.info_deleted(info):  # not re-created until reaped
            raise RecentlyDeleted("Recently deleted\n", self.deleted_headers(info))
        broker.update_metadata(meta, self.limits(req))
        broker.update_put_timestamp(ts)
        return 202, info

    def list_json(self, broker: AccountBroker, params: ListingParams) -> bytes:
        rows = broker.list_containers(params.limit, params.marker, params.end_marker,
                                      params.prefix, params.delimiter, params.reverse)
        return listing_body(rows, self._entry)

    def routes(self) -> list[Route]:
        return [*super().routes(), ("PUT", ACCOUNT_ROW_ROUTE, self.put_container_row)]

    async def put_container_row(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        h = request.headers
        put_ts = require_timestamp(h, "X-Put-Timestamp")
        del_ts = tsmod.normalize(h.get("X-Delete-Timestamp") or 0)
        row = {"name": request.match_info["container"], "put_timestamp": put_ts,
               "delete_timestamp": del_ts,
               "object_count": header_int(h, "X-Object-Count", 0),
               "bytes_used": header_int(h, "X-Bytes-Used", 0),
               "storage_policy_index": header_int(h, POLICY_INDEX, 0)}
        return await self.commit_rows(req, [row], 204 if del_ts > put_ts else 201)


def add_routes(app: web.Application) -> None:
    """Register the account server's routes on ``app`` (which must hold ``NODE``)."""
    AccountServer(app[NODE].policies).add_routes(app)


__all__ = ["AccountServer", "add_routes"]
