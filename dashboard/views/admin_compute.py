"""Admin → Compute → Hypervisors and Flavors: what the compute API tells an admin of
its hosts (capacity and use) and of every flavor, public or not. (Admin → Instances,
which shares the project list's rows, is in :mod:`dashboard.views.instances`.)"""

from __future__ import annotations

from aiohttp import web

from dashboard.web import apis, attempt, render

routes = web.RouteTableDef()


@routes.get("/admin/hypervisors/")
async def hypervisors(request: web.Request) -> web.Response:
    items, error = await attempt(apis(request).compute.list_hypervisors(), [])
    return render(request, "admin/hypervisors.html", title="Hypervisors",
                  hypervisors=items, error=error)


@routes.get("/admin/flavors/")
async def flavors(request: web.Request) -> web.Response:
    items, error = await attempt(apis(request).compute.list_all_flavors(), [])
    return render(request, "admin/flavors.html", title="Flavors", error=error,
                  flavors=sorted(items or [], key=lambda f: (f.get("ram", 0), f["name"])))
