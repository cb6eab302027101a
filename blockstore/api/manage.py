"""Manage existing back-end data (admins): ``os-volume-manage`` and ``os-snapshot-manage``
(create, and the lists of what can be managed), ``manageable_volumes`` and
``manageable_snapshots`` (3.8+); unmanaging is a volume or snapshot action
(``os-unmanage``). Rules in ``blockstore.core.manage``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from blockstore.api import shapes, views
from blockstore.api.base import (
    admin,
    json_body,
    json_response,
    limit_param,
    need_version,
    offset_param,
    section,
    state,
)
from blockstore.api.volumes import render as render_volume
from blockstore.backends import Manageable
from blockstore.core import manage
from blockstore.errors import Invalid

routes = web.RouteTableDef()
V = "/v3/{project_id}"


@routes.post(V + "/os-volume-manage")
async def manage_volume(request: web.Request) -> web.Response:
    who = await admin(request, "volume_extension:volume_manage")
    st = state(request)
    spec = manage.new_managed(section(await json_body(request), "volume"),
                              st.cfg.blockstore.availability_zone)
    view = await manage.manage_volume(st, who, spec, lambda s, vol: render_volume(
        s, request, who, vol, shapes.CREATE))
    return json_response({"volume": view}, status=202)


@routes.post(V + "/os-snapshot-manage")
async def manage_snapshot(request: web.Request) -> web.Response:
    who = await admin(request, "snapshot_extension:snapshot_manage")
    body = section(await json_body(request), "snapshot")
    view = await manage.manage_snapshot(state(request), who, body, lambda snap: views.snapshot(
        views.view(request, who), snap, shapes.CREATE))
    return json_response({"snapshot": view}, status=202)


SORTS = {"reference": lambda i: i.name, "size": lambda i: i.size_gib}


def _sorted(request: web.Request, items: list[Manageable]) -> list[Manageable]:
    key = request.query.get("sort_key", request.query.get("sort", "reference"))
    key, _, direction = key.partition(":")
    direction = direction or request.query.get("sort_dir", "desc")
    if key not in SORTS or direction not in ("asc", "desc"):
        raise Invalid(f"Invalid input received: Invalid sort key {key} or direction "
                      f"{direction} (sort by reference or size).")
    items = sorted(items, key=SORTS[key], reverse=direction == "desc")
    offset, limit = offset_param(request), limit_param(request)
    items = items[offset:]
    return items if limit is None else items[:limit]


def _values(item: Manageable, snapshot: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "reference": {"source-name": item.name}, "size": item.size_gib,
        "safe_to_manage": item.safe, "reason_not_safe": item.reason, "cinder_id": None,
        "extra_info": None}
    if snapshot:
        values["source_reference"] = None
    return values


def _lister(snapshot: bool, detail: bool, minor: int) -> Any:
    kind = "manageable-snapshots" if snapshot else "manageable-volumes"
    shape = shapes.MANAGEABLE_SNAPSHOT if snapshot else shapes.MANAGEABLE_VOLUME

    async def handler(request: web.Request) -> web.Response:
        if minor:
            need_version(request, minor, "Listing what can be managed")
        who = await admin(request, "volume_extension:list_manageable")
        st = state(request)
        items = _sorted(request, await manage.manageable(st, request.query.get("host")))
        v = views.view(request, who)
        call = shapes.DETAIL if detail else shapes.LIST
        return json_response({kind: [v.render(shape, _values(i, snapshot), call)
                                     for i in items]})

    return handler


for _snap, _old, _new in ((False, "os-volume-manage", "manageable_volumes"),
                          (True, "os-snapshot-manage", "manageable_snapshots")):
    routes.get(f"{V}/{_old}")(_lister(_snap, False, 0))
    routes.get(f"{V}/{_old}/detail")(_lister(_snap, True, 0))
    routes.get(f"{V}/{_new}")(_lister(_snap, False, 8))
    routes.get(f"{V}/{_new}/detail")(_lister(_snap, True, 8))

