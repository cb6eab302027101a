"""Volumes: create, list, detail, show, update, delete, metadata, summary (3.12+)
(rules in ``blockstore.core.volumes``)."""

from __future__ import annotations

import ast
import json
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    limit_param,
    metadata_routes,
    need_version,
    offset_param,
    page,
    project_scope,
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
from blockstore.errors import Invalid
from blockstore.policy import Caller

routes = web.RouteTableDef()
V = "/v3/{project_id}"

SORT_KEYS = {"created_at": m.Volume.created_at, "id": m.Volume.id, "name": m.Volume.name,
             "size": m.Volume.size, "status": m.Volume.status,
             "updated_at": m.Volume.updated_at, "bootable": m.Volume.bootable}


def render(s: Session, request: web.Request, who: Caller, vol: m.Volume,
           call: str = shapes.SHOW) -> dict[str, Any]:
    """The volume's view for ``call`` at the request's microversion."""
    vtype = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
    atts = list(s.scalars(select(m.Attachment).where(m.Attachment.volume_id == vol.id)))
    return views.volume(views.view(request, who), vol, call, vtype=vtype, attachments=atts)


@routes.post(V + "/volumes")
async def create(request: web.Request) -> web.Response:
    who = await writer(request)
    st = state(request)
    v = version(request)
    spec = volumes.new_volume(
        section(await json_body(request), "volume"), st.cfg.blockstore,
        from_backup=v.at_least(47), backups_enabled=st.manager.backups is not None,
        in_group=v.at_least(13))
    view = await volumes.create(st, who, spec,
                                lambda s, vol: render(s, request, who, vol, shapes.CREATE))
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
        stmt = stmt.where(m.Volume.bootable.is_(_bootable_filter(request)))
    if "group_id" in q and version(request).at_least(10):
        stmt = stmt.where(m.Volume.group_id == q["group_id"])
    meta = _metadata_filter(request)
    stmt = stmt.order_by(*sort_order(request, SORT_KEYS), m.Volume.id.desc())
    limit, marker, offset = limit_param(request), q.get("marker"), offset_param(request)

    def listing(s: Session) -> dict[str, Any]:
        rows = [v for v in s.scalars(stmt)
                if all((v.metadata_ or {}).get(k) == val for k, val in meta.items())]
        call = shapes.DETAIL if detail else shapes.LIST
        return page(request, "volumes", rows, lambda v: render(s, request, who, v, call),
                    limit=limit, marker=marker, offset=offset)

    return json_response(await run(request, listing))


def _bootable_filter(request: web.Request) -> bool:
    """The ``bootable`` filter: from 3.2 only true/false spellings (else 400); before,
    anything but a false spelling means bootable."""
    raw = request.query["bootable"].lower()
    if raw in ("t", "true", "1", "yes", "y", "on"):
        return True
    if raw in ("f", "false", "0", "no", "n", "off"):
        return False
    if version(request).at_least(2):
        raise Invalid(f"Invalid input received: bootable={raw}")
    return True


@routes.get(V + "/volumes/summary")
async def summary(request: web.Request) -> web.Response:
    """The count and total size (3.12+) and every metadata value (3.36+) of the volumes
    a listing would show."""
    who = await caller(request)
    need_version(request, 12, "The volume summary")
    stmt = project_scope(request, who, select(m.Volume), m.Volume.project_id)

    def total(s: Session) -> dict[str, Any]:
        rows = list(s.scalars(stmt))
        meta: dict[str, list[str]] = {}
        for vol in rows:
            for k, val in (vol.metadata_ or {}).items():
                meta.setdefault(k, [])
                if val not in meta[k]:
                    meta[k].append(val)
        values = {"total_count": len(rows), "total_size": sum(v.size for v in rows),
                  "metadata": meta}
        return views.view(request, who).render(shapes.VOLUME_SUMMARY, values, shapes.SHOW)

    return json_response({"volume-summary": await run(request, total)})


read_routes(routes, V + "/volumes", "volume", _listing, volumes.get_volume,
            lambda request, s, who, vol: render(s, request, who, vol))
metadata_routes(routes, V + "/volumes", "volume", volumes.get_volume)


@routes.put(V + "/volumes/{volume_id}")
async def update(request: web.Request) -> web.Response:
    who = await writer(request)
    vid = request.match_info["volume_id"]
    body = section(await json_body(request), "volume")
    volumes.check_update(body)
    return json_response({"volume": await run(request, lambda s: render(
        s, request, who, volumes.update(s, who, vid, body), shapes.UPDATE))})


@routes.delete(V + "/volumes/{volume_id}")
async def delete(request: web.Request) -> web.Response:
    who = await writer(request)
    await volumes.delete(state(request), who, request.match_info["volume_id"],
                         cascade=query_flag(request, "cascade"),
                         force=version(request).at_least(23) and query_flag(request, "force"))
    return web.Response(status=202)
