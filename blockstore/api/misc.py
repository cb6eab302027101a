"""Version discovery, availability zones, services, hosts, pools, extensions (the
admin facts come from ``blockstore.core.admin``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    MAX_VERSION,
    MIN_VERSION,
    admin,
    caller,
    json_response,
    query_flag,
    run,
    state,
    version,
)
from blockstore.core import admin as admin_facts
from blockstore.core import types
from blockstore.policy import Caller

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


# -- zones and services --------------------------------------------------------


@routes.get(V + "/os-availability-zone")
async def zones(request: web.Request) -> web.Response:
    await caller(request)
    zone = state(request).cfg.blockstore.availability_zone
    return json_response({"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": True}}]})


@routes.get(V + "/os-services")
async def services(request: web.Request) -> web.Response:
    """The scheduler and the volume service of this storage host (``host`` and
    ``binary`` filter them)."""
    who = await admin(request, "volume_extension:services:index")
    st = state(request)
    bs = st.cfg.blockstore
    v = views.view(request, who)
    q = request.query
    now = m.utcnow()
    out = [views.service(v, svc.binary, svc.host, bs.availability_zone, now)
           for svc in admin_facts.services(bs.host, st.manager.backend.name)
           if q.get("host") in (None, svc.host)
           and (q.get("binary") or q.get("service")) in (None, "", svc.binary)]
    return json_response({"services": out})


# -- hosts, pools, extensions -----------------------------------------------------------


@routes.get(V + "/os-hosts")
async def hosts(request: web.Request) -> web.Response:
    who = await admin(request, "volume_extension:hosts")
    st = state(request)
    bs = st.cfg.blockstore
    zone = request.query.get("zone")
    v = views.view(request, who)
    out = [views.host_entry(v, svc.host, svc.topic, bs.availability_zone, m.utcnow())
           for svc in admin_facts.services(bs.host, st.manager.backend.name)
           if zone in (None, "", bs.availability_zone)]
    return json_response({"hosts": out})


@routes.get(V + "/os-hosts/{host}")
async def host_usage(request: web.Request) -> web.Response:
    await admin(request, "volume_extension:hosts")
    st = state(request)
    host = request.match_info["host"]
    known = admin_facts.services(st.cfg.blockstore.host, st.manager.backend.name)
    return json_response({"host": await run(
        request, lambda s: admin_facts.host_usage(s, host, known))})


@routes.get(V + "/scheduler-stats/get_pools")
async def get_pools(request: web.Request) -> web.Response:
    """The back-end pool (one), with its capabilities when ``detail`` is true; from
    3.28 filtered by ``name`` (and from 3.35 by ``volume_type``)."""
    who = await admin(request, "scheduler_extension:scheduler_stats:get_pools")
    st = state(request)
    v = views.view(request, who)
    q = request.query
    detail = query_flag(request, "detail", ("1", "true", "yes", "on", "t", "y"))
    wanted = True
    if version(request).at_least(28) and "name" in q:
        wanted = q["name"] == v.pool
    if version(request).at_least(35) and "volume_type" in q:
        backend = st.manager.backend.name
        wanted = wanted and await run(request, lambda s: pool_serves(s, q["volume_type"],
                                                                     backend, who))
    if not wanted:
        return json_response({"pools": []})
    stats = await st.manager.stats()
    allocated = await run(request, admin_facts.allocated_gib)
    caps = admin_facts.capabilities(stats, allocated, st.manager.backend.name)
    return json_response({"pools": [views.pool(v, caps, shapes.DETAIL if detail
                                               else shapes.LIST)]})


def pool_serves(s: Session, type_ref: str, backend: str, who: Caller) -> bool:
    """Whether the pool serves volumes of the type (its ``volume_backend_name``, if it
    names one, is this back end)."""
    vt = types.find_type(s, type_ref, "", who)
    wanted = (vt.extra_specs or {}).get("volume_backend_name")
    return wanted in (None, backend)


@routes.get(V + "/extensions")
async def extensions(request: web.Request) -> web.Response:
    await caller(request)
    return json_response({"extensions": admin_facts.extensions()})
