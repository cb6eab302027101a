"""Handlers: the task API (``/v2/tasks``, API 2.2) and an image's tasks (2.12)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.http import TXN_ID
from imagestore import imports, tasks
from imagestore.api.base import caller, json_body, json_response, run, state

routes = web.RouteTableDef()


@routes.post("/v2/tasks")
async def create(request: web.Request) -> web.Response:
    """A task of type ``import``: 201 at once (``pending``), its job runs after."""
    who = await caller(request)
    tasks.check_access(who)
    body = await json_body(request)
    request_id = request.get(TXN_ID)
    view = await run(request, lambda s: tasks.view(tasks.new_task(s, who, body, request_id)))
    state(request).spawn(imports.run_import_task(state(request), who, view["id"],
                                                 view["input"]))
    return json_response(view, status=201, headers={"Location": view["self"]})


@routes.get("/v2/tasks")
async def index(request: web.Request) -> web.Response:
    who = await caller(request)
    params = list(request.query.items())
    q = tasks.parse_query(params)

    def page(s: Any) -> dict[str, Any]:
        rows, more = tasks.listing(s, who, q)
        return {"tasks": [tasks.stub(t) for t in rows], "schema": "/v2/schemas/tasks",
                **tasks.page_links(params, rows, more)}

    return json_response(await run(request, page))


@routes.get("/v2/tasks/{task_id}")
async def show(request: web.Request) -> web.Response:
    who = await caller(request)
    task_id = request.match_info["task_id"]
    return json_response(await run(request, lambda s: tasks.view(tasks.get(s, who, task_id))))


@routes.delete("/v2/tasks/{task_id}")
async def delete(request: web.Request) -> web.Response:
    """Tasks are never deleted through the API (they expire): 405, as Glance answers."""
    tasks.check_access(await caller(request))
    raise web.HTTPMethodNotAllowed(
        "DELETE", ["GET"], text="Tasks cannot be deleted: each one is removed by the "
        "service once its expires_at time has passed.")


@routes.get("/v2/images/{image_id}/tasks")
async def image_tasks(request: web.Request) -> web.Response:
    """The image's tasks (API 2.12), so a client can see why an import failed."""
    who = await caller(request)
    image_id = request.match_info["image_id"]
    return json_response(await run(request, lambda s: tasks.image_tasks(s, who, image_id)))
