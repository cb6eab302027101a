"""``/os-availability-zone``, ``/os-hypervisors`` (and statistics) and ``/os-services``.
Rules in :mod:`compute.core.hosts`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from compute.api import fields
from compute.api.base import (
    Routes,
    admin,
    caller,
    json_body,
    json_response,
    query_bool,
    run,
    state,
    version,
)
from compute.api.views import iso_micro
from compute.core import hosts
from compute.core.scheduler import COMPUTE_BINARY
from compute.errors import Invalid

routes = Routes()


@routes.get("/os-availability-zone")
async def list_zones(request: web.Request) -> web.Response:
    await caller(request)
    down = state(request).cfg.compute.service_down_time
    zones = await run(request, lambda s: hosts.zones(s, down_after=down))
    info = [{"zoneName": zone, "zoneState": {"available": any(
        b["available"] for h in by_host.values() for b in h.values())}, "hosts": None}
        for zone, by_host in sorted(zones.items()) if zone != "internal"]
    return json_response({"availabilityZoneInfo": info})


@routes.get("/os-availability-zone/detail")
async def list_zones_detail(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-availability-zone:detail")
    down = state(request).cfg.compute.service_down_time
    zones = await run(request, lambda s: hosts.zones(s, down_after=down))
    info = [{"zoneName": zone, "zoneState": {"available": any(
        b["available"] for h in by_host.values() for b in h.values())}, "hosts": by_host}
        for zone, by_host in sorted(zones.items())]
    return json_response({"availabilityZoneInfo": info})


# -- hypervisors ---------------------------------------------------------------------------


def _hypervisor(request: web.Request, hv: hosts.Hypervisor, detail: bool,
                with_servers: bool) -> dict[str, Any]:
    minor = version(request).minor
    node = hv.node
    cpu_info: Any = dict(node.cpu_info or {})
    if minor < 28:
        cpu_info = json.dumps(cpu_info)
    svc = hv.service
    values: dict[str, Any] = {
        "id": node.uuid if minor >= 53 else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if hv.up else "down",
        "status": "disabled" if svc is not None and svc.disabled else "enabled",
        "cpu_info": cpu_info, "current_workload": hv.current_workload,
        "disk_available_least": node.free_disk_gb,
        "free_disk_gb": node.local_gb - hv.local_gb_used,
        "free_ram_mb": node.memory_mb - hv.memory_mb_used, "host_ip": node.host_ip,
        "hypervisor_type": node.hypervisor_type,
        "hypervisor_version": node.hypervisor_version, "local_gb": node.local_gb,
        "local_gb_used": hv.local_gb_used, "memory_mb": node.memory_mb,
        "memory_mb_used": hv.memory_mb_used, "running_vms": hv.running_vms,
        "service": {"host": node.host,
                    "id": (svc.uuid if minor >= 53 else svc.id) if svc else None,
                    "disabled_reason": svc.disabled_reason if svc else None},
        "vcpus": node.vcpus, "vcpus_used": hv.vcpus_used}
    if with_servers and hv.servers:
        values["servers"] = [{"name": n, "uuid": u} for n, u in hv.servers]
    view = fields.HYPERVISOR if detail else fields.HYPERVISOR_BRIEF
    return view.render(values, minor, True)


async def _hypervisors(request: web.Request) -> list[hosts.Hypervisor]:
    await admin(request, "os_compute_api:os-hypervisors:list")
    cfg = state(request).cfg.compute
    pattern = request.query.get("hypervisor_hostname_pattern") \
        if version(request).minor >= 53 else None
    return await run(request, lambda s: hosts.hypervisors(
        s, down_after=cfg.service_down_time, reserved_mb=cfg.reserved_host_memory_mb,
        pattern=pattern))


def _with_servers(request: web.Request) -> bool:
    return version(request).minor >= 53 and bool(query_bool(request, "with_servers"))


@routes.get("/os-hypervisors")
async def list_hypervisors(request: web.Request) -> web.Response:
    hvs = await _hypervisors(request)
    return json_response({"hypervisors": [
        _hypervisor(request, hv, False, _with_servers(request)) for hv in hvs]})


@routes.get("/os-hypervisors/detail")
async def list_hypervisors_detail(request: web.Request) -> web.Response:
    hvs = await _hypervisors(request)
    return json_response({"hypervisors": [
        _hypervisor(request, hv, True, _with_servers(request)) for hv in hvs]})


@routes.get("/os-hypervisors/statistics")
async def hypervisor_statistics(request: web.Request) -> web.Response:
    hvs = await _hypervisors(request)
    stats = {
        "count": len(hvs), "vcpus_used": sum(h.vcpus_used for h in hvs),
        "local_gb_used": sum(h.local_gb_used for h in hvs),
        "memory_mb": sum(h.node.memory_mb for h in hvs),
        "current_workload": sum(h.current_workload for h in hvs),
        "vcpus": sum(h.node.vcpus for h in hvs),
        "running_vms": sum(h.running_vms for h in hvs),
        "free_disk_gb": sum(h.node.local_gb - h.local_gb_used for h in hvs),
        "disk_available_least": sum(h.node.free_disk_gb for h in hvs),
        "local_gb": sum(h.node.local_gb for h in hvs),
        "free_ram_mb": sum(h.node.memory_mb - h.memory_mb_used for h in hvs),
        "memory_mb_used": sum(h.memory_mb_used for h in hvs)}
    return json_response({"hypervisor_statistics": fields.HYPERVISOR_STATISTICS.render(
        stats, version(request).minor)})


@routes.get("/os-hypervisors/{hypervisor_id}")
async def show_hypervisor(request: web.Request) -> web.Response:
    hvs = await _hypervisors(request)
    hv = hosts.find_hypervisor(hvs, request.match_info["hypervisor_id"])
    return json_response({"hypervisor": _hypervisor(request, hv, True,
                                                    _with_servers(request))})


# -- services ------------------------------------------------------------------------------


def _service(request: web.Request, svc: Any, down_after: float) -> dict[str, Any]:
    minor = version(request).minor
    return fields.SERVICE.render({
        "id": svc.uuid if minor >= 53 else svc.id, "binary": svc.binary,
        "disabled_reason": svc.disabled_reason, "host": svc.host,
        "state": "up" if hosts.is_up(svc, down_after) else "down",
        "status": "disabled" if svc.disabled else "enabled",
        "updated_at": iso_micro(svc.updated_at),
        "zone": svc.zone if svc.binary == COMPUTE_BINARY else "internal",
        "forced_down": svc.forced_down}, minor)


@routes.get("/os-services")
async def list_services(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-services:list")
    down = state(request).cfg.compute.service_down_time
    host, binary = request.query.get("host"), request.query.get("binary")
    items = await run(request, lambda s: [_service(request, sv, down) for sv in
                                          hosts.services(s, host=host, binary=binary)])
    return json_response({"services": items})


@routes.put("/os-services/{service_id}")
async def update_service(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-services:update")
    down = state(request).cfg.compute.service_down_time
    ident = request.match_info["service_id"]
    body = await json_body(request)
    if not isinstance(body, dict):
        raise Invalid("Invalid input: an object is required")
    minor = version(request).minor

    def change(s: Session) -> dict[str, Any]:
        if minor >= 53:
            svc = hosts.find_service(s, ident)
            hosts.change_service(s, svc, body)
            return _service(request, svc, down)
        # before 2.53: /os-services/enable|disable|disable-log-reason|force-down by host
        found = hosts.services(s, host=body.get("host"), binary=body.get("binary"))
        if not found or ident not in ("enable", "disable", "disable-log-reason",
                                      "force-down"):
            raise Invalid(f"Unknown action {ident} or service {body.get('host')}")
        svc = found[0]
        change_body: dict[str, Any] = {}
        if ident == "enable":
            change_body = {"status": "enabled"}
        elif ident in ("disable", "disable-log-reason"):
            change_body = {"status": "disabled",
                           "disabled_reason": body.get("disabled_reason")}
        else:
            change_body = {"forced_down": bool(body.get("forced_down"))}
        hosts.change_service(s, svc, change_body)
        out: dict[str, Any] = {"host": svc.host, "binary": svc.binary,
                               "status": "disabled" if svc.disabled else "enabled"}
        if ident == "disable-log-reason":
            out["disabled_reason"] = svc.disabled_reason
        if ident == "force-down":
            out["forced_down"] = svc.forced_down
        return out

    return json_response({"service": await run(request, change)})


@routes.delete("/os-services/{service_id}")
async def delete_service(request: web.Request) -> web.Response:
    await admin(request, "os_compute_api:os-services:delete")
    ident = request.match_info["service_id"]

    def drop(s: Session) -> None:
        s.delete(hosts.find_service(s, ident))

    await run(request, drop)
    return web.Response(status=204)
