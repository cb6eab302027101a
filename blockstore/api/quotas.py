"""Quotas: ``os-quota-sets`` (show, defaults, update, revert), ``os-quota-class-sets``
(show, update; admins) and ``limits``; rules in ``blockstore.quotas``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from blockstore import quotas
from blockstore.api.base import (
    admin,
    caller,
    json_body,
    json_response,
    query_flag,
    run,
    section,
    state,
    version,
)
from blockstore.policy import check_project

routes = web.RouteTableDef()
V = "/v3/{project_id}"
NOT_QUOTAS = ("id", "tenant_id")


def quota_set(ident: str | None, limits: dict[str, int],
              used: dict[str, int] | None = None) -> dict[str, Any]:
    """Every quota key: its limit, or with ``used`` {limit, in_use, reserved}."""
    out: dict[str, Any] = {} if ident is None else {"id": ident}
    for key, limit in limits.items():
        out[key] = limit if used is None else {
            "limit": limit, "in_use": used.get(key, 0), "reserved": 0}
    return out


@routes.get(V + "/os-quota-sets/{target}")
async def show(request: web.Request) -> web.Response:
    who = await caller(request)
    target = request.match_info["target"]
    check_project(who, target)
    cfg = state(request).cfg.blockstore
    with_usage = query_flag(request, "usage", ("1", "true", "yes", "on"))
    return json_response({"quota_set": await run(request, lambda s: quota_set(
        target, quotas.limits(s, cfg, target),
        quotas.usage(s, target) if with_usage else None))})


@routes.get(V + "/os-quota-sets/{target}/defaults")
async def defaults(request: web.Request) -> web.Response:
    who = await caller(request)
    target = request.match_info["target"]
    check_project(who, target)
    cfg = state(request).cfg.blockstore
    return json_response({"quota_set": await run(
        request, lambda s: quota_set(target, quotas.defaults(s, cfg)))})


@routes.put(V + "/os-quota-sets/{target}")
async def update(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:quotas:update")
    target = request.match_info["target"]
    body = section(await json_body(request), "quota_set")
    values = {k: v for k, v in body.items() if k not in NOT_QUOTAS}
    cfg = state(request).cfg.blockstore

    def upd(s: Session) -> dict[str, Any]:
        quotas.update(s, cfg, target, values)
        s.flush()
        return quota_set(None, quotas.limits(s, cfg, target))

    return json_response({"quota_set": await run(request, upd)})


@routes.delete(V + "/os-quota-sets/{target}")
async def revert(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:quotas:delete")
    target = request.match_info["target"]
    await run(request, lambda s: quotas.revert(s, target))
    return web.Response(status=200)


@routes.get(V + "/os-quota-class-sets/{class_name}")
async def show_class(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:quota_classes")
    name = request.match_info["class_name"]
    cfg = state(request).cfg.blockstore
    return json_response({"quota_class_set": await run(
        request, lambda s: quota_set(name, quotas.class_limits(s, cfg, name)))})


@routes.put(V + "/os-quota-class-sets/{class_name}")
async def update_class(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:quota_classes")
    name = request.match_info["class_name"]
    body = section(await json_body(request), "quota_class_set")
    cfg = state(request).cfg.blockstore

    def upd(s: Session) -> dict[str, Any]:
        quotas.update_class(s, name, body)
        s.flush()
        return quota_set(None, quotas.class_limits(s, cfg, name))

    return json_response({"quota_class_set": await run(request, upd)})


@routes.get(V + "/limits")
async def limits(request: web.Request) -> web.Response:
    """The caller's project's absolute limits and usage (an admin may name another
    project with ``project_id`` from 3.39)."""
    who = await caller(request)
    project = who.project_id or ""
    if who.is_admin and version(request).at_least(39) and request.query.get("project_id"):
        project = request.query["project_id"]
    cfg = state(request).cfg.blockstore

    def absolute(s: Session) -> dict[str, int]:
        lim, used = quotas.limits(s, cfg, project), quotas.usage(s, project)
        return {"maxTotalVolumes": lim["volumes"], "maxTotalSnapshots": lim["snapshots"],
                "maxTotalVolumeGigabytes": lim["gigabytes"], "maxTotalBackups": lim["backups"],
                "maxTotalBackupGigabytes": lim["backup_gigabytes"],
                "totalVolumesUsed": used["volumes"], "totalSnapshotsUsed": used["snapshots"],
                "totalGigabytesUsed": used["gigabytes"], "totalBackupsUsed": used["backups"],
                "totalBackupGigabytesUsed": used["backup_gigabytes"]}

    return json_response({"limits": {"rate": [], "absolute": await run(request, absolute)}})
