"""Version discovery, volume types, quotas, limits, availability zones, services."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.api import views
from blockstore.api.base import (
    MAX_VERSION,
    MIN_VERSION,
    admin,
    caller,
    json_body,
    json_response,
    run,
    section,
    state,
)
from blockstore.core import types
from blockstore.policy import check_project

routes = web.RouteTableDef()
V = "/v3/{project_id}"


def version_entry(base: str) -> dict[str, Any]:
    return {
        "id": "v3.0", "status": "CURRENT", "updated": "2023-08-31T00:00:00Z",
        "min_version": f"{MIN_VERSION[0]}.{MIN_VERSION[1]}",
        "version": f"{MAX_VERSION[0]}.{MAX_VERSION[1]}",
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.volume+json;version=3"}],
    }


@routes.get("/")
async def versions(request: web.Request) -> web.Response:
    return json_response({"versions": [version_entry(state(request).cfg.blockstore_url())]},
                         status=300)


@routes.get("/v3")
@routes.get("/v3/")
async def v3(request: web.Request) -> web.Response:
    return json_response({"versions": [version_entry(state(request).cfg.blockstore_url())]})


# -- volume types (rules in blockstore.core.types) ----------------------------------


@routes.get(V + "/types")
async def list_types(request: web.Request) -> web.Response:
    who = await caller(request)
    return json_response({"volume_types": await run(request, lambda s: [
        views.volume_type(t, is_admin=who.is_admin) for t in types.visible_types(s, who)])})


@routes.get(V + "/types/default")
async def default_type(request: web.Request) -> web.Response:
    who = await caller(request)
    name = state(request).cfg.blockstore.default_volume_type
    return json_response({"volume_type": await run(request, lambda s: views.volume_type(
        types.find_type(s, None, name), is_admin=who.is_admin))})


@routes.get(V + "/types/{type_id}")
async def show_type(request: web.Request) -> web.Response:
    who = await caller(request)
    ref = request.match_info["type_id"]
    return json_response({"volume_type": await run(
        request, lambda s: views.volume_type(types.get_type(s, ref), is_admin=who.is_admin))})


@routes.post(V + "/types")
async def create_type(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:types_manage")
    body = section(await json_body(request), "volume_type")
    name = types.check_new_type(body)
    return json_response({"volume_type": await run(request, lambda s: views.volume_type(
        types.create_type(s, name, body), is_admin=True))})


@routes.put(V + "/types/{type_id}")
async def update_type(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:types_manage")
    ref = request.match_info["type_id"]
    body = section(await json_body(request), "volume_type")
    return json_response({"volume_type": await run(request, lambda s: views.volume_type(
        types.update_type(s, ref, body), is_admin=True))})


@routes.delete(V + "/types/{type_id}")
async def delete_type(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:types_manage")
    ref = request.match_info["type_id"]
    default = state(request).cfg.blockstore.default_volume_type
    await run(request, lambda s: types.delete_type(s, ref, default))
    return web.Response(status=202)


@routes.get(V + "/types/{type_id}/extra_specs")
async def list_extra_specs(request: web.Request) -> web.Response:
    await caller(request)
    ref = request.match_info["type_id"]
    return json_response({"extra_specs": await run(
        request, lambda s: dict(types.get_type(s, ref).extra_specs or {}))})


@routes.post(V + "/types/{type_id}/extra_specs")
async def set_extra_specs(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:types_extra_specs")
    ref = request.match_info["type_id"]
    specs = types.check_extra_specs(section(await json_body(request), "extra_specs"))
    return json_response({"extra_specs": await run(
        request, lambda s: types.set_extra_specs(s, ref, specs))})


@routes.delete(V + "/types/{type_id}/extra_specs/{key}")
async def delete_extra_spec(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:types_extra_specs")
    ref, key = request.match_info["type_id"], request.match_info["key"]
    await run(request, lambda s: types.delete_extra_spec(s, ref, key))
    return web.Response(status=202)


# -- quotas and limits -----------------------------------------------------------


def _quota_set(project: str, limits: dict[str, int], used: dict[str, int] | None
               ) -> dict[str, Any]:
    out: dict[str, Any] = {"id": project, "per_volume_gigabytes": -1, "groups": 10}
    for key, value in limits.items():
        out[key] = value if used is None else {"limit": value, "in_use": used.get(key, 0),
                                               "reserved": 0, "allocated": 0}
    if used is not None:
        out["per_volume_gigabytes"] = {"limit": -1, "in_use": 0, "reserved": 0}
        out["groups"] = {"limit": 10, "in_use": 0, "reserved": 0}
    return out


@routes.get(V + "/os-quota-sets/{target}")
async def show_quotas(request: web.Request) -> web.Response:
    who = await caller(request)
    target = request.match_info["target"]
    check_project(who, target)
    cfg = state(request).cfg.blockstore
    with_usage = request.query.get("usage", "").lower() in ("1", "true")
    return json_response({"quota_set": await run(request, lambda s: _quota_set(
        target, quotas.limits(s, cfg, target), quotas.usage(s, target) if with_usage
        else None))})


@routes.get(V + "/os-quota-sets/{target}/defaults")
async def default_quotas(request: web.Request) -> web.Response:
    await caller(request)
    target = request.match_info["target"]
    return json_response({"quota_set": _quota_set(
        target, quotas.defaults(state(request).cfg.blockstore), None)})


@routes.put(V + "/os-quota-sets/{target}")
async def update_quotas(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:quotas:update")
    target = request.match_info["target"]
    body = section(await json_body(request), "quota_set")
    values = {k: v for k, v in body.items() if k not in ("id", "tenant_id")}
    cfg = state(request).cfg.blockstore

    def upd(s: Session) -> dict[str, Any]:
        quotas.update(s, cfg, target, values)
        s.flush()
        return _quota_set(target, quotas.limits(s, cfg, target), None)

    return json_response({"quota_set": await run(request, upd)})


@routes.delete(V + "/os-quota-sets/{target}")
async def revert_quotas(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:quotas:delete")
    target = request.match_info["target"]

    def drop(s: Session) -> None:
        for row in s.scalars(select(m.QuotaLimit).where(m.QuotaLimit.project_id == target)):
            s.delete(row)

    await run(request, drop)
    return web.Response(status=200)


@routes.get(V + "/limits")
async def limits(request: web.Request) -> web.Response:
    who = await caller(request)
    project = who.project_id or ""
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


# -- zones and services --------------------------------------------------------


@routes.get(V + "/os-availability-zone")
async def zones(request: web.Request) -> web.Response:
    await caller(request)
    zone = state(request).cfg.blockstore.availability_zone
    return json_response({"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": True}}]})


@routes.get(V + "/os-services")
async def services(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:services:index")
    st = state(request)
    host, zone = st.cfg.blockstore.host, st.cfg.blockstore.availability_zone
    now = views.ts(m.utcnow())
    backend = st.manager.backend.name
    out = [{"binary": binary, "host": h, "zone": zone, "status": "enabled", "state": "up",
            "updated_at": now, "disabled_reason": None, "cluster": None,
            "replication_status": "disabled", "frozen": False}
           for binary, h in (("cinder-scheduler", host), ("cinder-volume",
                                                         f"{host}@{backend}"))]
    return json_response({"services": out})
