"""User messages (3.3+; paging and sorting 3.5+): list, show, delete (what failed
asynchronous operations told each project; recorded by ``blockstore.messages``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from blockstore import messages
from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    caller,
    json_response,
    limit_param,
    need_version,
    offset_param,
    page,
    run,
    sort_order,
    version,
    writer,
)
from blockstore.errors import NotFound
from blockstore.policy import Caller

routes = web.RouteTableDef()
V = "/v3/{project_id}"
WHAT = "User messages"
SORT_KEYS = {"created_at": m.Message.created_at, "id": m.Message.id,
             "event_id": m.Message.event_id, "resource_type": m.Message.resource_type,
             "resource_uuid": m.Message.resource_uuid, "request_id": m.Message.request_id,
             "message_level": m.Message.message_level}
FILTERS = {"event_id": m.Message.event_id, "resource_type": m.Message.resource_type,
           "resource_uuid": m.Message.resource_uuid, "request_id": m.Message.request_id,
           "message_level": m.Message.message_level}


def _visible(who: Caller) -> Select[Any]:
    """The caller's project's messages not yet expired (an admin's: every project's)."""
    stmt = select(m.Message).where(m.Message.expires_at >= m.utcnow())
    if not who.is_admin:
        stmt = stmt.where(m.Message.project_id == (who.project_id or ""))
    return stmt


def _get(s: Session, who: Caller, mid: str) -> m.Message:
    msg: m.Message | None = s.scalar(_visible(who).where(m.Message.id == mid))
    if msg is None:
        raise NotFound(f"Message {mid} could not be found.")
    return msg


def _render(request: web.Request, who: Caller, msg: m.Message, call: str) -> dict[str, Any]:
    return views.message(views.view(request, who), msg, messages.text(msg), call)


def _rows(s: Session, stmt: Select[Any]) -> list[m.Message]:
    return list(s.scalars(stmt))


@routes.get(V + "/messages")
async def listing(request: web.Request) -> web.Response:
    need_version(request, 3, WHAT)
    who = await caller(request)
    q = request.query
    stmt = _visible(who)
    for key, col in FILTERS.items():
        if key in q:
            stmt = stmt.where(col == q[key])
    paged = version(request).at_least(5)
    order = sort_order(request, SORT_KEYS) if paged else [m.Message.created_at.desc()]
    stmt = stmt.order_by(*order, m.Message.id)
    limit = limit_param(request) if paged else None
    offset = offset_param(request) if paged else 0
    marker = q.get("marker") if paged else None
    return json_response(await run(request, lambda s: page(
        request, "messages", _rows(s, stmt),
        lambda msg: _render(request, who, msg, shapes.LIST),
        limit=limit, marker=marker, offset=offset)))


@routes.get(V + "/messages/{message_id}")
async def show(request: web.Request) -> web.Response:
    need_version(request, 3, WHAT)
    who = await caller(request)
    mid = request.match_info["message_id"]
    return json_response({"message": await run(request, lambda s: _render(
        request, who, _get(s, who, mid), shapes.SHOW))})


@routes.delete(V + "/messages/{message_id}")
async def delete(request: web.Request) -> web.Response:
    need_version(request, 3, WHAT)
    who = await writer(request)
    mid = request.match_info["message_id"]
    await run(request, lambda s: s.delete(_get(s, who, mid)))
    return web.Response(status=204)
