"""Volume types: list, show, default, create, update, delete (admins), extra specs, and
the access list of private types (``os-volume-type-access``, ``addProjectAccess`` /
``removeProjectAccess``); rules in ``blockstore.core.types``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    admin,
    caller,
    json_body,
    json_response,
    one_action,
    run,
    section,
    sort_order,
    state,
)
from blockstore.core import types
from blockstore.core.validation import check_only_key
from blockstore.errors import Invalid
from blockstore.policy import Caller

routes = web.RouteTableDef()
V = "/v3/{project_id}"
T = V + "/types/{type_id}"
MANAGE = "volume_extension:types_manage"
SPECS = "volume_extension:types_extra_specs"
SORT_KEYS = {"name": m.VolumeType.name, "id": m.VolumeType.id,
             "created_at": m.VolumeType.created_at, "is_public": m.VolumeType.is_public,
             "description": m.VolumeType.description}


def render(request: web.Request, who: Caller, vt: m.VolumeType, call: str) -> dict[str, Any]:
    return views.volume_type(views.view(request, who), vt, call)


@routes.get(V + "/types")
async def list_types(request: web.Request) -> web.Response:
    who = await caller(request)
    is_public = types.parse_is_public(request.query.get("is_public"))
    order = sort_order(request, SORT_KEYS, default="name") \
        if "sort" in request.query or "sort_key" in request.query else None
    return json_response({"volume_types": await run(request, lambda s: [
        render(request, who, t, shapes.LIST)
        for t in types.visible_types(s, who, is_public, order)])})


@routes.get(V + "/types/default")
async def default_type(request: web.Request) -> web.Response:
    who = await caller(request)
    name = state(request).cfg.blockstore.default_volume_type
    return json_response({"volume_type": await run(request, lambda s: render(
        request, who, types.find_type(s, None, name), shapes.SHOW))})


@routes.get(T)
async def show_type(request: web.Request) -> web.Response:
    who = await caller(request)
    ref = request.match_info["type_id"]
    return json_response({"volume_type": await run(request, lambda s: render(
        request, who, types.get_type(s, ref, who), shapes.SHOW))})


@routes.post(V + "/types")
async def create_type(request: web.Request) -> web.Response:
    who = await admin(request, MANAGE)
    body = section(await json_body(request), "volume_type")
    name = types.check_new_type(body)
    return json_response({"volume_type": await run(request, lambda s: render(
        request, who, types.create_type(s, name, body), shapes.CREATE))})


@routes.put(T)
async def update_type(request: web.Request) -> web.Response:
    who = await admin(request, MANAGE)
    ref = request.match_info["type_id"]
    body = section(await json_body(request), "volume_type")
    default = state(request).cfg.blockstore.default_volume_type
    return json_response({"volume_type": await run(request, lambda s: render(
        request, who, types.update_type(s, ref, body, default), shapes.UPDATE))})


@routes.delete(T)
async def delete_type(request: web.Request) -> web.Response:
    await admin(request, MANAGE)
    ref = request.match_info["type_id"]
    default = state(request).cfg.blockstore.default_volume_type
    await run(request, lambda s: types.delete_type(s, ref, default))
    return web.Response(status=202)


# -- extra specs ----------------------------------------------------------------------


@routes.get(T + "/extra_specs")
async def list_extra_specs(request: web.Request) -> web.Response:
    who = await caller(request)
    ref = request.match_info["type_id"]

    def specs(s: Session) -> dict[str, str]:
        vt = types.get_type(s, ref, who)
        return dict(render(request, who, vt, shapes.SHOW)["extra_specs"])

    return json_response({"extra_specs": await run(request, specs)})


@routes.post(T + "/extra_specs")
async def set_extra_specs(request: web.Request) -> web.Response:
    await admin(request, SPECS)
    ref = request.match_info["type_id"]
    specs = types.check_extra_specs(section(await json_body(request), "extra_specs"))
    return json_response({"extra_specs": await run(
        request, lambda s: types.set_extra_specs(s, ref, specs))})


@routes.get(T + "/extra_specs/{key}")
async def show_extra_spec(request: web.Request) -> web.Response:
    who = await admin(request, SPECS)
    ref, key = request.match_info["type_id"], request.match_info["key"]
    return json_response(await run(request, lambda s: types.extra_spec(s, ref, key, who)))


@routes.put(T + "/extra_specs/{key}")
async def set_extra_spec(request: web.Request) -> web.Response:
    await admin(request, SPECS)
    ref, key = request.match_info["type_id"], request.match_info["key"]
    body = await json_body(request)
    check_only_key(body, key)
    specs = types.check_extra_specs(body)
    await run(request, lambda s: types.set_extra_specs(s, ref, specs))
    return json_response(specs)


@routes.delete(T + "/extra_specs/{key}")
async def delete_extra_spec(request: web.Request) -> web.Response:
    await admin(request, SPECS)
    ref, key = request.match_info["type_id"], request.match_info["key"]
    await run(request, lambda s: types.delete_extra_spec(s, ref, key))
    return web.Response(status=202)


# -- private types: who may use them ---------------------------------------------------


@routes.get(T + "/os-volume-type-access")
async def list_access(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:volume_type_access")
    ref = request.match_info["type_id"]
    return json_response({"volume_type_access": await run(request, lambda s: [
        {"volume_type_id": ref, "project_id": p} for p in types.access_list(s, ref)])})


@routes.post(T + "/action")
async def type_action(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:volume_type_access:addProjectAccess")
    ref = request.match_info["type_id"]
    name, args = one_action(await json_body(request))
    project = types.check_project_arg(args)
    if name == "addProjectAccess":
        await run(request, lambda s: types.add_access(s, ref, project))
    elif name == "removeProjectAccess":
        await run(request, lambda s: types.remove_access(s, ref, project))
    else:
        raise Invalid(f"Invalid input received: There is no such action: {name}.")
    return web.Response(status=202)
