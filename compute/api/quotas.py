"""``/limits``, ``/os-quota-sets`` and ``/os-simple-tenant-usage``: what a project may use,
what it uses now, and what it used over a period. Rules in :mod:`compute.quotas` and
:mod:`compute.core.usage`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from compute import models as m
from compute import quotas
from compute.api import fields
from compute.api.base import (
    Routes,
    admin,
    caller,
    json_body,
    json_response,
    next_link,
    query_int,
    run,
    section,
    state,
    version,
)
from compute.core import usage
from compute.errors import PolicyNotAuthorized
from compute.policy import Caller

routes = Routes()


def _project(request: web.Request, who: Caller, given: str | None, rule: str) -> str:
    project = given or who.project_id or ""
    if project != who.project_id and not who.is_admin:
        raise PolicyNotAuthorized(rule)
    return project


@routes.get("/limits")
async def limits(request: web.Request) -> web.Response:
    who = await caller(request)
    project = _project(request, who, request.query.get("tenant_id"),
                       "os_compute_api:limits:other_project")
    cfg = state(request).cfg.compute

    def read(s: Session) -> dict[str, Any]:
        lim = quotas.limits(s, cfg, project)
        used = quotas.usage(s, project, who.user_id)
        return {
            "maxServerMeta": lim["metadata_items"], "maxPersonality": lim["injected_files"],
            "maxPersonalitySize": lim["injected_file_content_bytes"], "maxImageMeta": 128,
            "maxTotalKeypairs": lim["key_pairs"], "maxSecurityGroupRules": -1,
            "maxSecurityGroups": -1, "maxServerGroups": lim["server_groups"],
            "maxServerGroupMembers": lim["server_group_members"],
            "maxTotalCores": lim["cores"], "maxTotalInstances": lim["instances"],
            "maxTotalRAMSize": lim["ram"], "maxTotalFloatingIps": -1,
            "totalCoresUsed": used["cores"], "totalInstancesUsed": used["instances"],
            "totalRAMUsed": used["ram"], "totalFloatingIpsUsed": 0,
            "totalSecurityGroupsUsed": 0, "totalServerGroupsUsed": used["server_groups"]}

    absolute = fields.LIMITS_ABSOLUTE.render(await run(request, read), version(request).minor)
    return json_response({"limits": {"rate": [], "absolute": absolute}})


# -- quota sets ----------------------------------------------------------------------------


def _quota_values(project: str, lim: dict[str, int]) -> dict[str, Any]:
    return {"id": project, **quotas.LEGACY, **lim}


@routes.get("/os-quota-sets/{project}")
async def show_quotas(request: web.Request) -> web.Response:
    who = await caller(request)
    project = _project(request, who, request.match_info["project"],
                       "os_compute_api:os-quota-sets:show")
    cfg = state(request).cfg.compute
    lim = await run(request, lambda s: quotas.limits(s, cfg, project))
    return json_response({"quota_set": fields.QUOTA_SET.render(
        _quota_values(project, lim), version(request).minor)})


@routes.get("/os-quota-sets/{project}/detail")
async def show_quotas_detail(request: web.Request) -> web.Response:
    who = await caller(request)
    project = _project(request, who, request.match_info["project"],
                       "os_compute_api:os-quota-sets:detail")
    cfg = state(request).cfg.compute

    def read(s: Session) -> dict[str, Any]:
        lim = quotas.limits(s, cfg, project)
        used = quotas.usage(s, project, who.user_id)
        values: dict[str, Any] = {"id": project}
        for name, limit in {**quotas.LEGACY, **lim}.items():
            values[name] = {"limit": limit, "in_use": used.get(name, 0), "reserved": 0}
        return values

    shown = fields.QUOTA_SET.render(await run(request, read), version(request).minor)
    return json_response({"quota_set": shown})


@routes.get("/os-quota-sets/{project}/defaults")
async def show_quota_defaults(request: web.Request) -> web.Response:
    await caller(request)
    project = request.match_info["project"]
    lim = quotas.defaults(state(request).cfg.compute)
    return json_response({"quota_set": fields.QUOTA_SET.render(
        _quota_values(project, lim), version(request).minor)})


@routes.put("/os-quota-sets/{project}")
async def update_quotas(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-quota-sets:update")
    project = request.match_info["project"]
    body = section(await json_body(request), "quota_set")
    cfg = state(request).cfg.compute

    def change(s: Session) -> dict[str, int]:
        quotas.update(s, project, body)
        s.flush()
        return quotas.limits(s, cfg, project)

    lim = await run(request, change)
    shown = fields.QUOTA_SET.render(_quota_values(project, lim), version(request).minor)
    shown.pop("id", None)
    return json_response({"quota_set": shown})


@routes.delete("/os-quota-sets/{project}")
async def revert_quotas(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-quota-sets:delete")
    project = request.match_info["project"]
    await run(request, lambda s: quotas.revert(s, project))
    return web.Response(status=202)


# -- simple tenant usage -------------------------------------------------------------------


def _period(request: web.Request) -> tuple[Any, Any]:
    now = m.utcnow()
    end = usage.parse_time(request.query.get("end"), now)
    start = usage.parse_time(request.query.get("start"), end - timedelta(days=28))
    return start, end


def _paging(request: web.Request) -> tuple[int | None, str | None]:
    """``limit`` and ``marker`` (a server's uuid), which microversion 2.40 introduced;
    before it a listing is only cut at the maximum."""
    if version(request).minor < 40:
        return None, None
    return query_int(request, "limit"), request.query.get("marker")


def _usage_body(request: web.Request, key: str, items: Any,
                page: usage.Page) -> web.Response:
    body: dict[str, Any] = {key: items}
    if page.last is not None and version(request).minor >= 40:
        body[f"{key}_links"] = next_link(request, "os-simple-tenant-usage", page.last)
    return json_response(body)


@routes.get("/os-simple-tenant-usage")
async def list_usage(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-simple-tenant-usage:list")
    start, end = _period(request)
    limit, marker = _paging(request)
    detailed = request.query.get("detailed", "0").lower() in ("1", "true", "yes")
    page = await run(request, lambda s: usage.tenant_usages(
        s, start, end, detailed=detailed, limit=limit, marker=marker))
    return _usage_body(request, "tenant_usages", page.usages, page)


@routes.get("/os-simple-tenant-usage/{project}")
async def show_usage(request: web.Request) -> web.Response:
    who = await caller(request)
    project = _project(request, who, request.match_info["project"],
                       "os_compute_api:os-simple-tenant-usage:show")
    start, end = _period(request)
    limit, marker = _paging(request)
    page = await run(request, lambda s: usage.tenant_usages(
        s, start, end, [project], detailed=True, limit=limit, marker=marker))
    return _usage_body(request, "tenant_usage", page.usages[0] if page.usages else {}, page)
