"""Snapshots: create (force for in-use volumes), list, detail, show, update, delete
(rules in ``blockstore.core.snapshots``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import views
from blockstore.api.base import (
    caller,
    delete_route,
    json_body,
    json_response,
    limit_param,
    offset_param,
    page,
    project_scope,
    project_url,
    read_routes,
    run,
    section,
    state,
    writer,
)
from blockstore.core import snapshots

routes = web.RouteTableDef()
V = "/v3/{project_id}"
BRIEF = ("id", "name", "description", "volume_id", "size", "status", "created_at",
         "updated_at", "metadata")


@routes.post(V + "/snapshots")
async def create(request: web.Request) -> web.Response:
    who = await writer(request)
    spec = snapshots.new_snapshot(section(await json_body(request), "snapshot"))
    base = project_url(request)
    view = await snapshots.create(state(request), who, spec,
                                  lambda snap: views.snapshot(snap, base))
    return json_response({"snapshot": view}, status=202)


async def _listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    q = request.query
    limit = limit_param(request)
    offset = offset_param(request)
    stmt = project_scope(request, who, select(m.Snapshot).order_by(
        m.Snapshot.created_at.desc(), m.Snapshot.id), m.Snapshot.project_id)
    for key, col in (("status", m.Snapshot.status), ("name", m.Snapshot.name),
                     ("volume_id", m.Snapshot.volume_id)):
        if key in q:
            stmt = stmt.where(col == q[key])
    base = project_url(request)

    def listing(s: Session) -> dict[str, Any]:
        return page(request, "snapshots", list(s.scalars(stmt)),
                    lambda r: views.snapshot(r, base) if detail else
                    {k: v for k, v in views.snapshot(r, base).items() if k in BRIEF},
                    limit=limit, marker=q.get("marker"), offset=offset)

    return json_response(await run(request, listing))


read_routes(routes, V + "/snapshots", "snapshot", _listing, snapshots.get_snapshot,
            lambda request, s, who, snap: views.snapshot(snap, project_url(request)),
            metadata=True)


@routes.put(V + "/snapshots/{snapshot_id}")
async def update(request: web.Request) -> web.Response:
    who = await writer(request)
    sid = request.match_info["snapshot_id"]
    body = section(await json_body(request), "snapshot")
    return json_response({"snapshot": await run(request, lambda s: views.snapshot(
        snapshots.update(s, who, sid, body), project_url(request)))})


delete_route(routes, V + "/snapshots", "snapshot", snapshots.delete)
