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
from blockstore.api import views
from blockstore.api.base import (
    caller,
    delete_route,
    json_body,
    json_response,
    limit_param,
    page,
    project_scope,
    project_url,
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


def view(s: Session, request: web.Request, who: Caller, bk: m.Backup) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": bk.id, "name": bk.name, "description": bk.description, "status": bk.status,
        "availability_zone": bk.availability_zone, "volume_id": bk.volume_id,
        "snapshot_id": None, "size": bk.size, "object_count": bk.object_count,
        "container": bk.container, "fail_reason": bk.fail_reason,
        "created_at": views.ts(bk.created_at), "updated_at": views.ts(bk.updated_at),
        "data_timestamp": views.ts(bk.data_timestamp), "is_incremental": bk.is_incremental,
        "has_dependent_backups": backups.dependents(s, bk.id) > 0,
        "links": views.links(project_url(request), "backups", bk.id),
    }
    v = version(request)
    if v.at_least(18) and who.is_admin:
        out["os-backup-project-attr:project_id"] = bk.project_id
    if v.at_least(43):
        out["metadata"] = dict(bk.metadata_ or {})
    if v.at_least(56):
        out["user_id"] = bk.user_id
    if v.at_least(51):
        out["encryption_key_id"] = None
    return out


def _brief(request: web.Request, bk: m.Backup) -> dict[str, Any]:
    return {"id": bk.id, "name": bk.name,
            "links": views.links(project_url(request), "backups", bk.id)}


@routes.post(V + "/backups")
async def create(request: web.Request) -> web.Response:
    who = await writer(request)
    st = state(request)
    backups.need_store(st.manager)
    spec = backups.new_backup(section(await json_body(request), "backup"),
                              st.cfg.blockstore.backup_container)
    out = await backups.create(st, who, spec, lambda bk: _brief(request, bk))
    return json_response({"backup": out}, status=202)


async def _listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    q = request.query
    stmt = project_scope(request, who, select(m.Backup), m.Backup.project_id)
    for key, col in (("name", m.Backup.name), ("status", m.Backup.status),
                     ("volume_id", m.Backup.volume_id)):
        if key in q:
            stmt = stmt.where(col == q[key])
    stmt = stmt.order_by(*sort_order(request, SORT_KEYS), m.Backup.id.desc())
    limit, marker = limit_param(request), q.get("marker")

    def listing(s: Session) -> dict[str, Any]:
        return page(request, "backups", list(s.scalars(stmt)),
                    lambda b: view(s, request, who, b) if detail else _brief(request, b),
                    limit=limit, marker=marker)

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
        s, request, who, backups.update(s, who, bid, body)))})


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
