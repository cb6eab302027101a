"""Project → Volumes: the list (refreshing itself while a volume changes state), create,
and a volume's page with its actions (extend, snapshot, transfer, backup, upload to
image, edit, delete)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from dashboard.apis import Apis, q
from dashboard.web import (
    SESSION,
    act,
    apis,
    attempt,
    checkbox,
    field,
    form,
    int_field,
    is_htmx,
    render,
)

routes = web.RouteTableDef()

LIST = "/project/volumes/"


async def list_volumes(api: Apis, *, all_projects: bool = False) -> list[dict[str, Any]]:
    params: dict[str, str] = {"sort": "created_at:desc"}
    if all_projects:
        params["all_tenants"] = "1"
    out: list[dict[str, Any]] = []
    marker = ""
    while True:
        page_params = {**params, "limit": "1000", **({"marker": marker} if marker else {})}
        doc = await api.volume.get("/volumes/detail", params=page_params)
        page = doc.get("volumes", [])
        out.extend(page)
        if len(page) < 1000 or not doc.get("volumes_links"):
            return out
        marker = page[-1]["id"]


async def volume_types(api: Apis) -> list[dict[str, Any]]:
    doc = await api.volume.get("/types")
    types: list[dict[str, Any]] = doc.get("volume_types", [])
    return types


@routes.get(LIST)
async def index(request: web.Request) -> web.Response:
    api = apis(request)
    if is_htmx(request):
        volumes, error = await attempt(list_volumes(api), [])
        return render(request, "volumes/_table.html", volumes=volumes, error=error)
    (volumes, error), (types, _), (snaps, _), (images, _) = await asyncio.gather(
        attempt(list_volumes(api), []), attempt(volume_types(api), []),
        attempt(api.volume.get("/snapshots/detail"), {}),
        attempt(api.images.list(status="active") if api.has("image") else _none(), []))
    return render(request, "volumes/index.html", title="Volumes", volumes=volumes,
                  error=error, types=types, snapshots=(snaps or {}).get("snapshots", []),
                  images=images, source=request.query.get("source", ""),
                  source_id=request.query.get("source_id", ""))


async def _none() -> list[Any]:
    return []


@routes.post(LIST + "create")
async def create(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        body: dict[str, Any] = {
            "name": field(data, "name", required=False),
            "description": field(data, "description", required=False),
            "size": int_field(data, "size", label="Size (GiB)", minimum=1),
        }
        vtype = field(data, "volume_type", required=False)
        if vtype:
            body["volume_type"] = vtype
        source = field(data, "source", required=False)
        source_id = field(data, "source_id", required=False)
        if source in ("snapshot", "image", "volume"):
            key = {"snapshot": "snapshot_id", "image": "imageRef",
                   "volume": "source_volid"}[source]
            body[key] = source_id or field(data, f"{source}_id",
                                           label=f"The source {source}")
        await api.volume.post("/volumes", {"volume": body})

    name = str(data.get("name", "")).strip() or "(no name)"
    return await act(request, LIST, f"Volume {name} is being created.", work)


@routes.get(LIST + "{volume_id}")
async def detail(request: web.Request) -> web.Response:
    api = apis(request)
    vid = request.match_info["volume_id"]
    doc = await api.volume.get(f"/volumes/{q(vid)}")
    volume = doc["volume"]
    servers: list[dict[str, Any]] = []
    if api.has("compute"):  # to attach it to, and the names of those it is attached to
        servers, _ = await attempt(api.compute.list_servers(), [])
    return render(request, "volumes/detail.html", title=f"Volume {volume.get('name') or vid}",
                  volume=volume, servers=servers,
                  server_names={s["id"]: s.get("name") or s["id"] for s in servers})


def _action(name: str, success: str, build: Any) -> Any:
    """A handler posting one ``/volumes/{id}/action`` built from the form."""
    async def handler(request: web.Request) -> web.Response:
        data = await form(request)
        api = apis(request)
        vid = request.match_info["volume_id"]

        async def work() -> None:
            await api.volume.post(f"/volumes/{q(vid)}/action", {name: build(data)})

        return await act(request, LIST + vid, success, work)

    return handler


routes.post(LIST + "{volume_id}/extend")(_action(
    "os-extend", "The volume is being extended.",
    lambda d: {"new_size": int_field(d, "new_size", label="New size (GiB)", minimum=1)}))
routes.post(LIST + "{volume_id}/upload_image")(_action(
    "os-volume_upload_image", "The volume is being uploaded to an image.",
    lambda d: {"image_name": field(d, "image_name", label="Image name"),
               "disk_format": field(d, "disk_format", default="raw", required=False),
               "container_format": "bare", "force": checkbox(d, "force")}))


@routes.post(LIST + "{volume_id}/snapshot")
async def snapshot(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    vid = request.match_info["volume_id"]

    async def work() -> None:
        await api.volume.post("/snapshots", {"snapshot": {
            "volume_id": vid, "name": field(data, "name", label="Snapshot name"),
            "description": field(data, "description", required=False),
            "force": checkbox(data, "force")}})

    return await act(request, "/project/snapshots/", "The snapshot is being created.", work)


@routes.post(LIST + "{volume_id}/backup")
async def backup(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    vid = request.match_info["volume_id"]

    async def work() -> None:
        await api.volume.post("/backups", {"backup": {
            "volume_id": vid, "name": field(data, "name", label="Backup name"),
            "description": field(data, "description", required=False),
            "incremental": checkbox(data, "incremental"), "force": checkbox(data, "force")}})

    return await act(request, "/project/backups/", "The backup is being created.", work)


@routes.post(LIST + "{volume_id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    session = request[SESSION]
    vid = request.match_info["volume_id"]

    async def work() -> None:
        doc = await api.volume.post("/volume-transfers", {"transfer": {
            "volume_id": vid, "name": field(data, "name", label="Transfer name")}})
        tr = doc["transfer"]
        # The key is answered once: shown once, on the next page.
        session.extra["transfer"] = {"id": tr["id"], "auth_key": tr["auth_key"],
                                     "name": tr.get("name", ""), "volume_id": vid}

    return await act(request, "/project/transfers/", "", work)


@routes.post(LIST + "{volume_id}/edit")
async def edit(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    vid = request.match_info["volume_id"]

    async def work() -> None:
        await api.volume.put(f"/volumes/{q(vid)}", {"volume": {
            "name": field(data, "name", required=False),
            "description": field(data, "description", required=False)}})

    return await act(request, LIST + vid, "The volume was changed.", work)


@routes.post(LIST + "{volume_id}/delete")
async def delete(request: web.Request) -> web.Response:
    api = apis(request)
    vid = request.match_info["volume_id"]

    async def work() -> None:
        await api.volume.delete(f"/volumes/{q(vid)}")

    return await act(request, LIST, "The volume is being deleted.", work)
