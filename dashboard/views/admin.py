"""Admin → Overview (counts, every project's usage over a period and its CSV summary,
volume use by project), Volumes, Volume Types, Images, Networks and System Information.

Every page here is for admins (the session middleware answers 403 to anyone
else before a handler runs); each call is still the admin's own token, judged
by the API."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from dashboard.apis import Apis, q
from dashboard.usage import Period, projects_csv
from dashboard.views.networks import listing
from dashboard.views.usage import by_name, summary, today, usages
from dashboard.views.volumes import list_volumes, volume_types
from dashboard.web import (
    HTTP,
    SESSION,
    act,
    apis,
    attachment,
    attempt,
    checkbox,
    field,
    form,
    render,
)

routes = web.RouteTableDef()
ADMIN = "/admin/"


async def project_names(api: Apis) -> dict[str, str]:
    doc = await api.identity.get("/projects")
    return {p["id"]: p["name"] for p in doc.get("projects", [])}


@routes.get(ADMIN)
async def overview(request: web.Request) -> web.Response:
    api = apis(request)
    jobs: dict[str, Any] = {"projects": api.identity.get("/projects"),
                            "users": api.identity.get("/users")}
    if api.has("volumev3") or api.has("block-storage"):
        jobs["volumes"] = list_volumes(api, all_projects=True)
    if api.has("image"):
        jobs["images"] = api.images.list()
    if api.has("network"):
        jobs["networks"] = listing(api, "networks")
        jobs["floating IPs"] = listing(api, "floatingips")
    results, compute, (names, _) = await asyncio.gather(
        asyncio.gather(*(attempt(j, None) for j in jobs.values())),
        summary(request, every_project=True), attempt(project_names(api), {}))
    counts: list[tuple[str, str]] = []
    usage: dict[str, dict[str, int]] = {}
    for name, (value, error) in zip(jobs, results, strict=True):
        if error:
            counts.append((name, error))
            continue
        items = value.get(name, []) if isinstance(value, dict) else value
        counts.append((name, str(len(items))))
        if name == "volumes":
            for v in items:
                row = usage.setdefault(v.get("os-vol-tenant-attr:tenant_id", ""), {})
                row["volumes"] = row.get("volumes", 0) + 1
                row["gigabytes"] = row.get("gigabytes", 0) + int(v.get("size") or 0)
    compute["usages"] = by_name(compute["usages"], names or {})
    return render(request, "admin/overview.html", title="Admin Overview", counts=counts,
                  usage=sorted(usage.items(), key=lambda kv: names.get(kv[0], kv[0])),
                  names=names or {}, **compute)


@routes.get(ADMIN + "usage.csv")
async def usage_csv(request: web.Request) -> web.Response:
    """Every project's usage over the period, a line each (the Overview's table)."""
    api = apis(request)
    period = Period.of(request.query, today())
    found, (names, _) = await asyncio.gather(usages(api, period),
                                             attempt(project_names(api), {}))
    return attachment(projects_csv(period, by_name(found, names or {})),
                      f"usage-{period.start}-{period.end}.csv", "text/csv")


# -- volumes and volume types -----------------------------------------------------------


@routes.get(ADMIN + "volumes/")
async def volumes(request: web.Request) -> web.Response:
    api = apis(request)
    (items, error), (names, _) = await asyncio.gather(
        attempt(list_volumes(api, all_projects=True), []), attempt(project_names(api), {}))
    return render(request, "admin/volumes.html", title="All Volumes", volumes=items,
                  error=error, names=names or {})


@routes.post(ADMIN + "volumes/{volume_id}/delete")
async def delete_volume(request: web.Request) -> web.Response:
    api = apis(request)
    vid = request.match_info["volume_id"]

    async def work() -> None:
        await api.volume.delete(f"/volumes/{q(vid)}")

    return await act(request, ADMIN + "volumes/", "The volume is being deleted.", work)


@routes.get(ADMIN + "volume_types/")
async def types(request: web.Request) -> web.Response:
    items, error = await attempt(volume_types(apis(request)), [])
    return render(request, "admin/volume_types.html", title="Volume Types", types=items,
                  error=error)


@routes.post(ADMIN + "volume_types/create")
async def create_type(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        await api.volume.post("/types", {"volume_type": {
            "name": field(data, "name", label="Name"),
            "description": field(data, "description", required=False),
            "os-volume-type-access:is_public": checkbox(data, "public")}})

    return await act(request, ADMIN + "volume_types/", "The volume type was created.", work)


@routes.post(ADMIN + "volume_types/{type_id}/delete")
async def delete_type(request: web.Request) -> web.Response:
    api = apis(request)
    tid = request.match_info["type_id"]

    async def work() -> None:
        await api.volume.delete(f"/types/{q(tid)}")

    return await act(request, ADMIN + "volume_types/", "The volume type was deleted.", work)


# -- images and networks ----------------------------------------------------------------


@routes.get(ADMIN + "images/")
async def images(request: web.Request) -> web.Response:
    api = apis(request)
    (items, error), (names, _) = await asyncio.gather(
        attempt(api.images.list(visibility="all"), []), attempt(project_names(api), {}))
    items.sort(key=lambda i: (str(i.get("name") or "").lower(), i["id"]))
    return render(request, "admin/images.html", title="All Images", images=items,
                  error=error, names=names or {})


@routes.get(ADMIN + "networks/")
async def networks(request: web.Request) -> web.Response:
    api = apis(request)
    (items, error), (subnets, _), (names, _) = await asyncio.gather(
        attempt(listing(api, "networks"), []), attempt(listing(api, "subnets"), []),
        attempt(project_names(api), {}))
    return render(request, "admin/networks.html", title="All Networks", networks=items,
                  subnets={s["id"]: s for s in subnets}, error=error, names=names or {})


@routes.post(ADMIN + "networks/create")
async def create_network(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        body: dict[str, Any] = {"name": field(data, "name", label="Name"),
                                "shared": checkbox(data, "shared"),
                                "router:external": checkbox(data, "external"),
                                "admin_state_up": True}
        project = field(data, "project_id", required=False)
        if project:
            body["project_id"] = project
        await api.network.post("/networks", {"network": body})

    return await act(request, ADMIN + "networks/", "The network was created.", work)


# -- system information -----------------------------------------------------------------


async def _health(http: aiohttp.ClientSession, url: str) -> tuple[str, float]:
    """``up`` or why not, and how long the health check took (ms)."""
    parts = urlsplit(url)
    started = time.perf_counter()
    try:
        async with http.get(f"{parts.scheme}://{parts.netloc}/healthcheck",
                            timeout=aiohttp.ClientTimeout(total=3)) as r:
            state = "up" if r.status == 200 else f"down ({r.status})"
    except (aiohttp.ClientError, TimeoutError) as exc:
        state = f"down ({type(exc).__name__})"
    return state, (time.perf_counter() - started) * 1000


@routes.get(ADMIN + "info/")
async def info(request: web.Request) -> web.Response:
    api = apis(request)
    session = request[SESSION]
    (services, error), (endpoints, _), (volume_services, verror) = await asyncio.gather(
        attempt(api.identity.get("/services"), {}), attempt(api.identity.get("/endpoints"), {}),
        attempt(api.volume.get("/os-services") if api.has("volumev3") else _empty(), {}))
    by_service: dict[str, list[dict[str, Any]]] = {}
    for ep in (endpoints or {}).get("endpoints", []):
        by_service.setdefault(ep["service_id"], []).append(ep)
    rows = []
    checks = []
    for svc in sorted((services or {}).get("services", []), key=lambda s: s["type"]):
        public = next((e for e in by_service.get(svc["id"], [])
                       if e["interface"] == "public"), None)
        rows.append((svc, public))
        checks.append(_health(request.app[HTTP], public["url"]) if public else _none())
    states = await asyncio.gather(*checks)
    return render(request, "admin/info.html", title="System Information",
                  services=[(svc, ep, st) for (svc, ep), st in zip(rows, states, strict=True)],
                  error=error, volume_services=(volume_services or {}).get("services", []),
                  verror=verror, region=session.region)


async def _none() -> tuple[str, float]:
    return "no public endpoint", 0.0


async def _empty() -> dict[str, Any]:
    return {}
