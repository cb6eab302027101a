"""Backups: create, list, detail, show, update, delete, restore (Cinder's ``/backups``;
rules in ``blockstore.core.backups``).

An admin sees every project's backups with ``all_tenants``; updating needs
microversion 3.9.
"""

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
    offset_param,
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
from blockstore.core import backups
from blockstore.core.validation import check_text
from blockstore.errors import Invalid, NotFound
from blockstore.policy import Caller

routes = web.RouteTableDef()
V = "/v3/{project_id}"

SORT_KEYS = {"created_at": m.Backup.created_at, "id": m.Backup.id, "name": m.Backup.name,
             "size": m.Backup.size, "status": m.Backup.status,
             "updated_at": m.Backup.updated_at}
SORT_SINCE = {"name": 37}  # sorting backups by name came with 3.37


def view(s: Session, request: web.Request, who: Caller, bk: m.Backup,
         call: str = shapes.SHOW) -> dict[str, Any]:
    """The backup's view for ``call`` at the request's microversion."""
    deps = backups.dependents(s, bk.id) if call in (shapes.SHOW, shapes.DETAIL) else 0
    return views.backup(views.view(request, who), bk, call, dependents=deps)


@routes.post(V + "/backups")
async def create(request: web.Request) -> web.Response:
    who = await writer(request)
    st = state(request)
    backups.need_store(st.manager)
    spec = backups.new_backup(section(await json_body(request), "backup"),
                              st.cfg.blockstore.backup_container)
    out = await backups.create(st, who, spec, lambda bk: views.backup(
        views.view(request, who), bk, shapes.CREATE))
    return json_response({"backup": out}, status=202)


async def _listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    q = request.query
    stmt = project_scope(request, who, select(m.Backup), m.Backup.project_id)
    for key, col in (("name", m.Backup.name), ("status", m.Backup.status),
                     ("volume_id", m.Backup.volume_id)):
        if key in q:
            stmt = stmt.where(col == q[key])
    stmt = stmt.order_by(*sort_order(request, SORT_KEYS, since=SORT_SINCE), m.Backup.id.desc())
    limit, marker, offset = limit_param(request), q.get("marker"), offset_param(request)

    call = shapes.DETAIL if detail else shapes.LIST

    def listing(s: Session) -> dict[str, Any]:
        return page(request, "backups", list(s.scalars(stmt)),
                    lambda b: view(s, request, who, b, call), limit=limit, marker=marker,
                    offset=offset)

    return json_response(await run(request, listing))


read_routes(routes, V + "/backups", "backup", _listing, backups.get_backup,
            lambda request, s, who, bk: view(s, request, who, bk))


@routes.put(V + "/backups/{backup_id}")
async def update(request: web.Request) -> web.Response:
    who = await writer(request)
    if not version(request).at_least(9):
        raise NotFound("Updating a backup needs microversion 3.9 or later.")
    bid = request.match_info["backup_id"]
    body = section(await json_body(request), "backup")
    return json_response({"backup": await run(request, lambda s: view(
        s, request, who, backups.update(s, who, bid, body), shapes.UPDATE))})


delete_route(routes, V + "/backups", "backup", backups.delete)


@routes.post(V + "/backups/{backup_id}/restore")
async def restore(request: web.Request) -> web.Response:
    who = await writer(request)
    st = state(request)
    backups.need_store(st.manager)
    bid = request.match_info["backup_id"]
    body = section(await json_body(request), "restore")
    target = body.get("volume_id")
    if target is not None and not isinstance(target, str):
        raise Invalid("Invalid input received: volume_id must be a string.")
    out = await backups.restore(st, who, bid, target, check_text(body, "name"))
    return json_response({"restore": {"backup_id": bid, "volume_id": out.volume_id,
                                      "volume_name": out.volume_name}}, status=202)
