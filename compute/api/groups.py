"""``/os-server-groups``: a project's groups of servers and their placement policy.
Rules in :mod:`compute.core.groups`; the scheduler applies them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from compute import models as m
from compute.api import fields
from compute.api.base import (
    Routes,
    caller,
    json_body,
    json_response,
    query_bool,
    query_int,
    run,
    state,
    version,
    writer,
)
from compute.core import groups

routes = Routes()


def view(request: web.Request, group: m.ServerGroup) -> dict[str, Any]:
    return fields.SERVER_GROUP.render({
        "id": group.id, "name": group.name, "policies": [group.policy],
        "members": [mb.instance_uuid for mb in group.members],
        "metadata": dict(group.metadata_ or {}), "project_id": group.project_id,
        "user_id": group.user_id, "policy": group.policy, "rules": dict(group.rules or {})},
        version(request).minor)


@routes.get("/os-server-groups")
async def list_groups(request: web.Request) -> web.Response:
    who = await caller(request)
    all_projects = bool(query_bool(request, "all_projects"))
    limit, offset = query_int(request, "limit"), query_int(request, "offset") or 0
    items = await run(request, lambda s: [view(request, g) for g in groups.listing(
        s, who, all_projects=all_projects, limit=limit, offset=offset)])
    return json_response({"server_groups": items})


@routes.post("/os-server-groups")
async def create_group(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-server-groups:create")
    name, policy, rules = groups.parse(await json_body(request), version(request).minor)
    cfg = state(request).cfg.compute
    shown = await run(request, lambda s: view(request, groups.create(
        s, cfg, who, name, policy, rules)))
    return json_response({"server_group": shown})


@routes.get("/os-server-groups/{group_id}")
async def show_group(request: web.Request) -> web.Response:
    who = await caller(request)
    gid = request.match_info["group_id"]
    return json_response({"server_group": await run(request, lambda s: view(
        request, groups.get(s, who, gid)))})


@routes.delete("/os-server-groups/{group_id}")
async def delete_group(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-server-groups:delete")
    gid = request.match_info["group_id"]
    await run(request, lambda s: groups.delete(s, who, gid))
    return web.Response(status=204)
