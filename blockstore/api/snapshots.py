"""Snapshots: create (``force`` for in-use volumes before 3.66), list, detail, show,
update, delete, metadata, and their actions (reset status, force delete, unmanage)
(rules in ``blockstore.core.snapshots`` and ``blockstore.core.manage``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    caller,
    delete_route,
    json_body,
    json_response,
    limit_param,
    metadata_routes,
    offset_param,
    one_action,
    page,
    project_scope,
    read_routes,
    run,
    section,
    sort_order,
    state,
    version,
    writer,
)
from blockstore.core import manage, snapshots
from blockstore.errors import Invalid
from blockstore.policy import Caller, check_admin

routes = web.RouteTableDef()
V = "/v3/{project_id}"
SORT_KEYS = {"created_at": m.Snapshot.created_at, "id": m.Snapshot.id,
             "name": m.Snapshot.name, "size": m.Snapshot.size, "status": m.Snapshot.status,
             "updated_at": m.Snapshot.updated_at, "volume_id": m.Snapshot.volume_id}
SORT_SINCE = {"name": 30}  # sorting snapshots by name came with 3.30


def render(request: web.Request, who: Caller, snap: m.Snapshot,
           call: str = shapes.SHOW) -> dict[str, Any]:
    return views.snapshot(views.view(request, who), snap, call)


@routes.post(V + "/snapshots")
async def create(request: web.Request) -> web.Response:
    who = await writer(request)
    spec = snapshots.new_snapshot(section(await json_body(request), "snapshot"),
                                  in_use_ok=version(request).at_least(66))
    view = await snapshots.create(state(request), who, spec,
                                  lambda snap: render(request, who, snap, shapes.CREATE))
    return json_response({"snapshot": view}, status=202)


async def _listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    q = request.query
    limit = limit_param(request)
    offset = offset_param(request)
    stmt = project_scope(request, who, select(m.Snapshot), m.Snapshot.project_id)
    stmt = stmt.order_by(*sort_order(request, SORT_KEYS, since=SORT_SINCE), m.Snapshot.id)
    for key, col in (("status", m.Snapshot.status), ("name", m.Snapshot.name),
                     ("volume_id", m.Snapshot.volume_id)):
        if key in q:
            stmt = stmt.where(col == q[key])
    call = shapes.DETAIL if detail else shapes.LIST

    def listing(s: Session) -> dict[str, Any]:
        return page(request, "snapshots", list(s.scalars(stmt)),
                    lambda r: render(request, who, r, call),
                    limit=limit, marker=q.get("marker"), offset=offset)

    return json_response(await run(request, listing))


read_routes(routes, V + "/snapshots", "snapshot", _listing, snapshots.get_snapshot,
            lambda request, s, who, snap: render(request, who, snap))
metadata_routes(routes, V + "/snapshots", "snapshot", snapshots.get_snapshot)


@routes.put(V + "/snapshots/{snapshot_id}")
async def update(request: web.Request) -> web.Response:
    who = await writer(request)
    sid = request.match_info["snapshot_id"]
    body = section(await json_body(request), "snapshot")
    return json_response({"snapshot": await run(request, lambda s: render(
        request, who, snapshots.update(s, who, sid, body), shapes.UPDATE))})


delete_route(routes, V + "/snapshots", "snapshot", snapshots.delete)


@routes.post(V + "/snapshots/{snapshot_id}/action")
async def action(request: web.Request) -> web.Response:
    """``os-reset_status`` and ``os-force_delete`` (admins), ``os-unmanage`` (admins)."""
    who = await writer(request)
    sid = request.match_info["snapshot_id"]
    name, args = one_action(await json_body(request))
    st = state(request)
    if name == "os-reset_status":
        check_admin(who, "volume_extension:snapshot_admin_actions:reset_status")
        status = args.get("status") if isinstance(args, dict) else None
        await run(request, lambda s: snapshots.reset_status(s, who, sid, status))
    elif name == "os-force_delete":
        check_admin(who, "volume_extension:snapshot_admin_actions:force_delete")
        await snapshots.delete(st, who, sid, force=True)
    elif name == "os-unmanage":
        check_admin(who, "snapshot_extension:snapshot_unmanage")
        await manage.unmanage_snapshot(st, who, sid)
    else:
        raise Invalid(f"Invalid input received: There is no such action: {name}.")
    return web.Response(status=202)
