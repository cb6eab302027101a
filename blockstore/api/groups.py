"""Generic volume groups: group types and their specs (3.11+), groups (3.13+), group
snapshots and groups made from them or from another group (3.14+), status resets
(3.19+/3.20+); rules in ``blockstore.core.group_types`` and ``blockstore.core.groups``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    admin,
    caller,
    json_body,
    json_response,
    limit_param,
    need_version,
    offset_param,
    one_action,
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
from blockstore.core import group_types, groups
from blockstore.core.validation import check_flag
from blockstore.errors import Invalid, NotFound
from blockstore.policy import Caller, check_admin

routes = web.RouteTableDef()
V = "/v3/{project_id}"
GT = V + "/group_types/{type_id}"
TYPE_SORT = {"name": m.GroupType.name, "id": m.GroupType.id,
             "created_at": m.GroupType.created_at}
GROUP_SORT = {"created_at": m.Group.created_at, "id": m.Group.id, "name": m.Group.name,
              "status": m.Group.status, "updated_at": m.Group.updated_at}
SNAP_SORT = {"created_at": m.GroupSnapshot.created_at, "id": m.GroupSnapshot.id,
             "name": m.GroupSnapshot.name, "status": m.GroupSnapshot.status}


async def _reader(request: web.Request, minor: int, what: str) -> Caller:
    need_version(request, minor, what)
    return await caller(request)


async def _writer(request: web.Request, minor: int, what: str) -> Caller:
    need_version(request, minor, what)
    return await writer(request)


async def _admin(request: web.Request, minor: int, what: str, action: str) -> Caller:
    need_version(request, minor, what)
    return await admin(request, action)


# -- group types (3.11+) ------------------------------------------------------------------

TYPES = "Group types"


def _type(request: web.Request, who: Caller, gt: m.GroupType, call: str) -> dict[str, Any]:
    return views.group_type(views.view(request, who), gt, call)


@routes.get(V + "/group_types")
async def list_group_types(request: web.Request) -> web.Response:
    who = await _reader(request, 11, TYPES)
    order = sort_order(request, TYPE_SORT, default="name")
    limit, offset, marker = limit_param(request), offset_param(request), \
        request.query.get("marker")
    return json_response(await run(request, lambda s: page(
        request, "group_types", group_types.listing(s, who, order),
        lambda gt: _type(request, who, gt, shapes.LIST),
        limit=limit, marker=marker, offset=offset)))


@routes.get(V + "/group_types/default")
async def default_group_type(request: web.Request) -> web.Response:
    await _reader(request, 11, TYPES)
    raise NotFound("Default group type could not be found: this cloud configures none.")


@routes.get(GT)
async def show_group_type(request: web.Request) -> web.Response:
    who = await _reader(request, 11, TYPES)
    ref = request.match_info["type_id"]
    return json_response({"group_type": await run(request, lambda s: _type(
        request, who, group_types.get(s, ref, who), shapes.SHOW))})


@routes.post(V + "/group_types")
async def create_group_type(request: web.Request) -> web.Response:
    who = await _admin(request, 11, TYPES, "group:group_types_manage")
    body = section(await json_body(request), "group_type")
    return json_response({"group_type": await run(request, lambda s: _type(
        request, who, group_types.create(s, body), shapes.CREATE))})


@routes.put(GT)
async def update_group_type(request: web.Request) -> web.Response:
    who = await _admin(request, 11, TYPES, "group:group_types_manage")
    ref = request.match_info["type_id"]
    body = section(await json_body(request), "group_type")
    return json_response({"group_type": await run(request, lambda s: _type(
        request, who, group_types.update(s, ref, body), shapes.UPDATE))})


@routes.delete(GT)
async def delete_group_type(request: web.Request) -> web.Response:
    await _admin(request, 11, TYPES, "group:group_types_manage")
    ref = request.match_info["type_id"]
    await run(request, lambda s: group_types.delete(s, ref))
    return web.Response(status=202)


SPECS = "group:group_types_specs"


@routes.get(GT + "/group_specs")
async def list_group_specs(request: web.Request) -> web.Response:
    await _admin(request, 11, TYPES, SPECS)
    ref = request.match_info["type_id"]
    return json_response({"group_specs": await run(
        request, lambda s: dict(group_types.get(s, ref).group_specs or {}))})


@routes.post(GT + "/group_specs")
async def create_group_specs(request: web.Request) -> web.Response:
    await _admin(request, 11, TYPES, SPECS)
    ref = request.match_info["type_id"]
    specs = group_types.check_specs(section(await json_body(request), "group_specs"))
    return json_response({"group_specs": await run(
        request, lambda s: group_types.set_specs(s, ref, specs))})


@routes.get(GT + "/group_specs/{key}")
async def show_group_spec(request: web.Request) -> web.Response:
    await _admin(request, 11, TYPES, SPECS)
    ref, key = request.match_info["type_id"], request.match_info["key"]
    return json_response(await run(request, lambda s: group_types.spec(s, ref, key)))


@routes.put(GT + "/group_specs/{key}")
async def update_group_spec(request: web.Request) -> web.Response:
    await _admin(request, 11, TYPES, SPECS)
    ref, key = request.match_info["type_id"], request.match_info["key"]
    body = await json_body(request)
    return json_response(await run(request, lambda s: group_types.set_spec(s, ref, key,
                                                                           body)))


@routes.delete(GT + "/group_specs/{key}")
async def delete_group_spec(request: web.Request) -> web.Response:
    await _admin(request, 11, TYPES, SPECS)
    ref, key = request.match_info["type_id"], request.match_info["key"]
    await run(request, lambda s: group_types.delete_spec(s, ref, key))
    return web.Response(status=202)


# -- groups (3.13+) -----------------------------------------------------------------------

GROUPS = "Groups"


def _group(request: web.Request, who: Caller, s: Session, grp: m.Group, call: str
           ) -> dict[str, Any]:
    list_volume = version(request).at_least(25) and query_flag(
        request, "list_volume", ("1", "true", "yes", "on", "t", "y"))
    vids = [v.id for v in groups.volumes_of(s, grp.id)] if list_volume else None
    return views.group(views.view(request, who), grp, call, volume_ids=vids)


@routes.post(V + "/groups")
async def create_group(request: web.Request) -> web.Response:
    who = await _writer(request, 13, GROUPS)
    st = state(request)
    spec = groups.new_group(section(await json_body(request), "group"), st.cfg.blockstore)
    return json_response({"group": await run(request, lambda s: _group(
        request, who, s, groups.add_group(s, who, st.cfg.blockstore, spec), shapes.CREATE))},
        status=202)


@routes.post(V + "/groups/action")
async def create_group_from_source(request: web.Request) -> web.Response:
    who = await _writer(request, 14, "Creating a group from a source")
    body = section(await json_body(request), "create-from-src")
    view = await groups.create_from_source(state(request), who, body, lambda grp: views.group(
        views.view(request, who), grp, shapes.FROM_SRC))
    return json_response({"group": view}, status=202)


async def _list_groups(request: web.Request, detail: bool) -> web.Response:
    who = await _reader(request, 13, GROUPS)
    stmt = project_scope(request, who, select(m.Group), m.Group.project_id)
    stmt = stmt.order_by(*sort_order(request, GROUP_SORT), m.Group.id)
    limit, offset, marker = limit_param(request), offset_param(request), \
        request.query.get("marker")
    call = shapes.DETAIL if detail else shapes.LIST
    return json_response(await run(request, lambda s: page(
        request, "groups", list(s.scalars(stmt)),
        lambda grp: _group(request, who, s, grp, call),
        limit=limit, marker=marker, offset=offset)))


read_routes(routes, V + "/groups", "group", _list_groups, groups.get_group,
            lambda request, s, who, grp: _group(request, who, s, grp, shapes.SHOW),
            since=(13, GROUPS))


@routes.put(V + "/groups/{group_id}")
async def update_group(request: web.Request) -> web.Response:
    who = await _writer(request, 13, GROUPS)
    gid = request.match_info["group_id"]
    body = section(await json_body(request), "group")
    await run(request, lambda s: groups.update_group(s, who, gid, body))
    return web.Response(status=202)


@routes.post(V + "/groups/{group_id}/action")
async def group_action(request: web.Request) -> web.Response:
    """``delete`` (with ``delete-volumes``) and, for admins, ``reset_status`` (3.20+)."""
    who = await _writer(request, 13, GROUPS)
    gid = request.match_info["group_id"]
    name, args = one_action(await json_body(request))
    args = args if isinstance(args, dict) else {}
    if name == "delete":
        await groups.delete_group(state(request), who, gid, delete_volumes=check_flag(
            args.get("delete-volumes", False), "delete-volumes"))
    elif name == "reset_status" and version(request).at_least(20):
        check_admin(who, "group:reset_status")
        await run(request, lambda s: groups.reset_group_status(s, who, gid,
                                                               args.get("status")))
    else:
        raise Invalid(f"Invalid input received: There is no such action: {name}.")
    return web.Response(status=202)


# -- group snapshots (3.14+) ------------------------------------------------------------

SNAPSHOTS = "Group snapshots"


def _gs(request: web.Request, who: Caller, gs: m.GroupSnapshot, call: str
        ) -> dict[str, Any]:
    return views.group_snapshot(views.view(request, who), gs, call)


@routes.post(V + "/group_snapshots")
async def create_group_snapshot(request: web.Request) -> web.Response:
    who = await _writer(request, 14, SNAPSHOTS)
    body = section(await json_body(request), "group_snapshot")
    view = await groups.create_group_snapshot(state(request), who, body,
                                              lambda gs: _gs(request, who, gs, shapes.CREATE))
    return json_response({"group_snapshot": view}, status=202)


async def _list_group_snapshots(request: web.Request, detail: bool) -> web.Response:
    who = await _reader(request, 14, SNAPSHOTS)
    stmt = project_scope(request, who, select(m.GroupSnapshot), m.GroupSnapshot.project_id)
    if "group_id" in request.query:
        stmt = stmt.where(m.GroupSnapshot.group_id == request.query["group_id"])
    stmt = stmt.order_by(*sort_order(request, SNAP_SORT), m.GroupSnapshot.id)
    limit, offset, marker = limit_param(request), offset_param(request), \
        request.query.get("marker")
    call = shapes.DETAIL if detail else shapes.LIST
    return json_response(await run(request, lambda s: page(
        request, "group_snapshots", list(s.scalars(stmt)),
        lambda gs: _gs(request, who, gs, call), limit=limit, marker=marker, offset=offset)))


read_routes(routes, V + "/group_snapshots", "group_snapshot", _list_group_snapshots,
            groups.get_group_snapshot,
            lambda request, s, who, gs: _gs(request, who, gs, shapes.SHOW),
            since=(14, SNAPSHOTS))


@routes.delete(V + "/group_snapshots/{group_snapshot_id}")
async def delete_group_snapshot(request: web.Request) -> web.Response:
    who = await _writer(request, 14, SNAPSHOTS)
    await groups.delete_group_snapshot(state(request), who,
                                       request.match_info["group_snapshot_id"])
    return web.Response(status=202)


@routes.post(V + "/group_snapshots/{group_snapshot_id}/action")
async def group_snapshot_action(request: web.Request) -> web.Response:
    """``reset_status`` (admins, 3.19+)."""
    who = await _admin(request, 19, "Resetting a group snapshot's status",
                       "group:reset_group_snapshot_status")
    gsid = request.match_info["group_snapshot_id"]
    body = await json_body(request)
    args = body.get("reset_status") if isinstance(body, dict) else None
    if not isinstance(args, dict):
        raise Invalid("Invalid input received: the only group snapshot action is "
                      "reset_status.")
    await run(request, lambda s: groups.reset_group_snapshot_status(s, who, gsid,
                                                                    args.get("status")))
    return web.Response(status=202)
