"""What the account and container servers share: one DB server per broker kind.

:class:`DbServer` serves PUT/HEAD/GET/POST/DELETE of the DB itself at its
``route``, finds the DB on disk and answers for a missing or deleted one. Handlers raise
``common.errors`` classes (:mod:`objectstore.errors`); the lower layers' own
errors become those in :func:`objectstore.listing.db_handler`, which wraps
every route. A subclass (``account_server.AccountServer``,
``container_server.ContainerServer``) names its broker, route and stored
headers and fills in what differs: its stat headers, a PUT over an existing
DB, whether a DELETE may go ahead, a listing entry, what follows a change
(containers tell their account), and its item-row routes, whose rows go
through the app's group committer (:meth:`DbServer.commit_rows`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from aiohttp import web

from common import timestamp as tsmod
from common.errors import Conflict, NotFound
from objectstore.db import BrokerInfo, DatabaseAlreadyExists, DatabaseBroker, MetadataLimits
from objectstore.errors import Missing
from objectstore.listing import (
    DbRequest,
    Handler,
    ListingParams,
    db_handler,
    json_listing,
    metadata_headers,
    metadata_updates,
    parse_db_request,
    parse_listing,
    require_timestamp,
    setup_db_resources,
)
from objectstore.protocol import BACKEND_DELETE_TIMESTAMP, meta_prefixes

B = TypeVar("B", bound=DatabaseBroker)
Meta = dict[str, tuple[str, str]]
Route = tuple[str, str, Handler]

NOT_FOUND = "Not Found\n"
CONFLICT = "Conflict\n"


def db_state(broker: DatabaseBroker) -> tuple[BrokerInfo | None, bool]:
    """(info, deleted); info None when there is no DB."""
    if not broker.exists():
        return None, False
    info = broker.get_info()
    return info, broker.info_deleted(info)


def listing_body(rows: Iterable[dict[str, Any]],
                 entry: Callable[[dict[str, Any]], dict[str, Any]]) -> bytes:
    """A JSON listing: ``subdir`` rows as they are, the others through ``entry``."""
    out = [r if "subdir" in r else entry(r) for r in rows]
    return json.dumps(out, ensure_ascii=False).encode("utf-8")


class DbServer(ABC, Generic[B]):
    """The routes of one kind of DB; see the module docstring."""

    broker_class: type[B]
    route: str
    meta_exact: frozenset[str]  # stored headers besides X-<Kind>-Meta-/-Sysmeta-*
    deleted_header: tuple[str, str]  # marks the 404 (or 403) of a deleted DB
    no_db_text: str = NOT_FOUND  # body of the 404 when there is no DB ("": none)

    def __init__(self) -> None:
        name = self.broker_class.db_type  # "account" | "container"
        self.kind = f"{name}s"  # first path segment and DB directory
        self.meta_prefixes = meta_prefixes(name)  # lower case

    # -- what differs by kind ------------------------------------------------------

    @abstractmethod
    def stat_headers(self, info: BrokerInfo) -> dict[str, str]:
        """The kind's count and size headers."""

    @abstractmethod
    def put_existing(self, broker: B, req: DbRequest, ts: str,
                     meta: Meta) -> tuple[int, BrokerInfo]:
        """A PUT when the DB is there already: (status, info), or raises the refusal."""

    def may_delete(self, info: BrokerInfo) -> bool:
        """False answers a DELETE of a live DB with 409 before marking it."""
        return True

    @abstractmethod
    def list_json(self, broker: B, params: ListingParams) -> bytes:
        """The listing body of a live DB."""

    async def changed(self, request: web.Request, req: DbRequest, info: BrokerInfo,
                      ts: str) -> None:
        """After a PUT or DELETE of the DB; an error raised here replaces the success."""

    def routes(self) -> list[Route]:
        """(method, path, handler) of every route, each wrapped by ``db_handler``."""
        return [("PUT", self.route, self.put), ("HEAD", self.route, self.head),
                ("GET", self.route, self.get), ("POST", self.route, self.post),
                ("DELETE", self.route, self.delete)]

    # -- shared pieces ---------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the routes on ``app`` (which must hold ``NODE``)."""
        setup_db_resources(app)
        for method, path, handler in self.routes():
            app.router.add_route(method, path, db_handler(handler))

    def request(self, request: web.Request) -> DbRequest:
        return parse_db_request(request, self.kind)

    def broker(self, req: DbRequest) -> B:
        return req.brokers.get(self.broker_class, req.db_path)

    def metadata(self, request: web.Request, ts: str) -> Meta:
        return metadata_updates(request.headers, self.meta_prefixes, self.meta_exact, ts)

    @staticmethod
    def limits(req: DbRequest) -> MetadataLimits:
        """Swift's limits on the DB's user metadata, stored and new together."""
        return MetadataLimits(req.node.max_meta_count, req.node.max_meta_overall_size)

    def info_headers(self, info: BrokerInfo) -> dict[str, str]:
        headers = self.stat_headers(info)
        headers.update({
            "X-Timestamp": info.created_at,
            "X-PUT-Timestamp": info.put_timestamp,
            "X-Backend-Put-Timestamp": info.put_timestamp,
            BACKEND_DELETE_TIMESTAMP: info.delete_timestamp,
            "X-Backend-Status-Changed-At": info.status_changed_at,
            "Last-Modified": tsmod.http_date(info.put_timestamp),
        })
        headers.update(metadata_headers(info.metadata))
        return headers

    def deleted_headers(self, info: BrokerInfo) -> dict[str, str]:
        """What the answer about a deleted DB says of it."""
        name, value = self.deleted_header
        return {name: value, "X-Backend-Put-Timestamp": info.put_timestamp,
                BACKEND_DELETE_TIMESTAMP: info.delete_timestamp}

    def missing(self, info: BrokerInfo | None) -> NotFound:
        """404: no DB (bare), or a deleted one (with its timestamps)."""
        if info is None:
            return NotFound(self.no_db_text)
        return Missing(NOT_FOUND, self.deleted_headers(info))

    async def commit_rows(self, req: DbRequest, rows: list[dict[str, Any]],
                          status: int) -> web.Response:
        """Merge item rows through the group committer; 404 when the DB is not live."""
        if not await req.committer.submit(self.broker(req), rows):
            raise NotFound(NOT_FOUND)
        req.node.db_changed(req.db_path)
        return web.Response(status=status)

    # -- the DB itself ---------------------------------------------------------------

    def _put(self, broker: B, req: DbRequest, ts: str,
             meta: Meta) -> tuple[int, BrokerInfo]:
        try:
            broker.initialize(ts, req.account, req.container, meta, self.limits(req))
            return 201, broker.get_info()
        except DatabaseAlreadyExists:
            pass
        return self.put_existing(broker, req, ts, meta)

    def put_metadata(self, request: web.Request, ts: str) -> Meta:
        """What a PUT of the DB stores (its metadata headers; a kind may add more)."""
        return self.metadata(request, ts)

    async def put(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        ts = require_timestamp(request.headers)
        meta = self.put_metadata(request, ts)
        status, info = await req.node.run(self._put, self.broker(req), req, ts, meta)
        req.node.db_changed(req.db_path)
        await self.changed(request, req, info, ts)
        return web.Response(status=status)

    async def head(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        info, deleted = await req.node.run(db_state, self.broker(req))
        if info is None or deleted:
            raise self.missing(info)
        return web.Response(status=204, headers=self.info_headers(info))

    def _listing(self, broker: B,
                 params: ListingParams) -> tuple[BrokerInfo | None, bytes | None]:
        info, deleted = db_state(broker)
        if info is None or deleted:
            return info, None
        return info, self.list_json(broker, params)

    async def get(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        params = parse_listing(request.query)
        info, body = await req.node.run(self._listing, self.broker(req), params)
        if info is None or body is None:
            raise self.missing(info)
        resp = json_listing(body)
        resp.headers.update(self.info_headers(info))
        return resp

    def _post(self, broker: B, meta: Meta, limits: MetadataLimits) -> None:
        info, deleted = db_state(broker)
        if info is None or deleted:
            raise NotFound(NOT_FOUND)
        broker.update_metadata(meta, limits)

    async def post(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        ts = require_timestamp(request.headers)
        await req.node.run(self._post, self.broker(req), self.metadata(request, ts),
                           self.limits(req))
        req.node.db_changed(req.db_path)
        return web.Response(status=204)

    def _delete(self, broker: B, ts: str) -> BrokerInfo:
        info, deleted = db_state(broker)
        if info is None or deleted:
            raise NotFound(NOT_FOUND)
        if not self.may_delete(info):
            raise Conflict(CONFLICT)
        broker.mark_deleted(ts)
        info = broker.get_info()
        if not broker.info_deleted(info):
            raise Conflict(CONFLICT)
        return info

    async def delete(self, request: web.Request) -> web.StreamResponse:
        req = self.request(request)
        ts = require_timestamp(request.headers)
        info = await req.node.run(self._delete, self.broker(req), ts)
        req.node.db_changed(req.db_path)
        await self.changed(request, req, info, ts)
        return web.Response(status=204)


__all__ = ["DbServer", "db_state", "listing_body"]
