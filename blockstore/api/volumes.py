"""Volumes: create, list, detail, show, update, delete, metadata (rules in
``blockstore.core.volumes``)."""

from __future__ import annotations

import ast
import json
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    limit_param,
    offset_param,
    page,
    project_scope,
    project_url,
    query_flag,
    read_routes,
    run,
    section,
    sort_order,
    state,
    version,
    writer,
)
from blockstore.core import volumes
from blockstore.core.validation import check_metadata
from blockstore.errors import Invalid
from blockstore.policy import Caller

routes = web.RouteTableDef()
V = "/v3/{project_id}"

SORT_KEYS = {"created_at": m.Volume.created_at, "id": m.Volume.id, "name": m.Volume.name,
             "size": m.Volume.size, "status": m.Volume.status,
             "updated_at": m.Volume.updated_at, "bootable": m.Volume.bootable}


def render(s: Session, request: web.Request, who: Caller, vol: m.Volume) -> dict[str, Any]:
    cfg = state(request).cfg
    vtype = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
    atts = list(s.scalars(select(m.Attachment).where(m.Attachment.volume_id == vol.id)))
    return views.volume(vol, project_url(request), vtype=vtype, attachments=atts,
                        is_admin=who.is_admin, host=cfg.blockstore.host)


@routes.post(V + "/volumes")
async def create(request: web.Request) -> web.Response:
    who = await writer(request)
    st = state(request)
    spec = volumes.new_volume(
        section(await json_body(request), "volume"), st.cfg.blockstore,
        from_backup=version(request).at_least(47), backups_enabled=st.manager.backups is not None)
    view = await volumes.create(st, who, spec, lambda s, vol: render(s, request, who, vol))
    return json_response({"volume": view}, status=202)


def _metadata_filter(request: web.Request) -> dict[str, str]:
    raw = request.query.get("metadata")
    if raw is None:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        try:
            parsed = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raise Invalid("Invalid input received: metadata filter must be a "
                          "dictionary.") from None
    if not isinstance(parsed, dict):
        raise Invalid("Invalid input received: metadata filter must be a dictionary.")
    return {str(k): str(v) for k, v in parsed.items()}


async def _listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    q = request.query
    stmt = project_scope(request, who, select(m.Volume), m.Volume.project_id)
    if "status" in q:
        stmt = stmt.where(m.Volume.status == q["status"])
    if "name" in q:
        stmt = stmt.where(m.Volume.name == q["name"])
    if "bootable" in q:
        stmt = stmt.where(m.Volume.bootable.is_(q["bootable"].lower() in ("1", "true", "yes")))
    meta = _metadata_filter(request)
    stmt = stmt.order_by(*sort_order(request, SORT_KEYS), m.Volume.id.desc())
    limit, marker, offset = limit_param(request), q.get("marker"), offset_param(request)

    def listing(s: Session) -> dict[str, Any]:
        rows = [v for v in s.scalars(stmt)
                if all((v.metadata_ or {}).get(k) == val for k, val in meta.items())]
        base = project_url(request)
        return page(request, "volumes", rows, lambda v: render(s, request, who, v) if detail
                    else {"id": v.id, "name": v.name,
                          "links": views.links(base, "volumes", v.id)},
                    limit=limit, marker=marker, offset=offset)

    return json_response(await run(request, listing))


read_routes(routes, V + "/volumes", "volume", _listing, volumes.get_volume,
            lambda request, s, who, vol: render(s, request, who, vol), metadata=True)


@routes.put(V + "/volumes/{volume_id}")
async def update(request: web.Request) -> web.Response:
    who = await writer(request)
    vid = request.match_info["volume_id"]
    body = section(await json_body(request), "volume")
    volumes.check_update(body)
    return json_response({"volume": await run(request, lambda s: render(
        s, request, who, volumes.update(s, who, vid, body)))})


@routes.delete(V + "/volumes/{volume_id}")
async def delete(request: web.Request) -> web.Response:
    who = await writer(request)
    await volumes.delete(state(request), who, request.match_info["volume_id"],
                         cascade=query_flag(request, "cascade"),
                         force=query_flag(request, "force"))
    return web.Response(status=202)


@routes.post(V + "/volumes/{volume_id}/metadata")
@routes.put(V + "/volumes/{volume_id}/metadata")
async def set_metadata(request: web.Request) -> web.Response:
    who = await writer(request)
    vid = request.match_info["volume_id"]
    meta = check_metadata(section(await json_body(request), "metadata"))
    replace = request.method == "PUT"
    return json_response({"metadata": await run(
        request, lambda s: volumes.set_metadata(s, who, vid, meta, replace=replace))})


@routes.delete(V + "/volumes/{volume_id}/metadata/{key}")
async def delete_metadata(request: web.Request) -> web.Response:
    who = await writer(request)
    vid, key = request.match_info["volume_id"], request.match_info["key"]
    await run(request, lambda s: volumes.delete_metadata(s, who, vid, key))
    return web.Response(status=200)
