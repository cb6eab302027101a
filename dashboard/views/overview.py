"""Project → Overview: the project's quotas and what it uses, as charts, and its usage
summary over a period (:mod:`dashboard.views.usage`)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from dashboard.apis import Apis, q
from dashboard.charts import Gauge, cinder_gauges, neutron_gauges, nova_gauges
from dashboard.views.usage import summary
from dashboard.web import SESSION, apis, attempt, render

routes = web.RouteTableDef()


async def _compute_gauges(api: Apis, project_id: str) -> list[Gauge]:
    return nova_gauges(await api.compute.absolute_limits())


async def _volume_gauges(api: Apis, project_id: str) -> list[Gauge]:
    doc = await api.volume.get(f"/os-quota-sets/{q(project_id)}", params={"usage": "true"})
    return cinder_gauges(doc.get("quota_set", {}))


async def _network_gauges(api: Apis, project_id: str) -> list[Gauge]:
    doc = await api.network.get(f"/quotas/{q(project_id)}/details")
    return neutron_gauges(doc.get("quota", {}))


@routes.get("/project/")
async def overview(request: web.Request) -> web.Response:
    session = request[SESSION]
    api = apis(request)
    pid = session.project.id
    sections: list[tuple[str, str, Any]] = []
    wanted = [("Compute", "compute", _compute_gauges),
              ("Volumes", "volumev3", _volume_gauges),
              ("Network", "network", _network_gauges)]
    jobs = [(title, fn) for title, svc, fn in wanted
            if fn is not None and (api.has(svc) or (svc == "volumev3"
                                                    and api.has("block-storage")))]
    results, usage = await asyncio.gather(
        asyncio.gather(*(attempt(fn(api, pid), []) for _, fn in jobs)),
        summary(request, every_project=False))
    for (title, _), (gauges, error) in zip(jobs, results, strict=True):
        sections.append((title, error, gauges))
    usage["usage"] = usage["usages"].get(pid)
    return render(request, "overview.html", title="Overview", sections=sections, **usage)
