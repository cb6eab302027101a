"""Project → Volumes → Snapshots, Backups and Transfers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dashboard.apis import q
from dashboard.web import SESSION, act, apis, attempt, field, form, is_htmx, render

routes = web.RouteTableDef()
SNAPSHOTS, BACKUPS, TRANSFERS = "/project/snapshots/", "/project/backups/", "/project/transfers/"


@routes.get(SNAPSHOTS)
async def snapshots(request: web.Request) -> web.Response:
    doc, error = await attempt(apis(request).volume.get("/snapshots/detail"), {})
    items = (doc or {}).get("snapshots", [])
    template = "volumes/_snapshots.html" if is_htmx(request) else "volumes/snapshots.html"
    return render(request, template, title="Volume Snapshots", snapshots=items, error=error)


@routes.post(SNAPSHOTS + "{snapshot_id}/delete")
async def delete_snapshot(request: web.Request) -> web.Response:
    api = apis(request)
    sid = request.match_info["snapshot_id"]

    async def work() -> None:
        await api.volume.delete(f"/snapshots/{q(sid)}")

    return await act(request, SNAPSHOTS, "The snapshot is being deleted.", work)


@routes.get(BACKUPS)
async def backups(request: web.Request) -> web.Response:
    doc, error = await attempt(apis(request).volume.get("/backups/detail"), {})
    items = (doc or {}).get("backups", [])
    template = "volumes/_backups.html" if is_htmx(request) else "volumes/backups.html"
    return render(request, template, title="Volume Backups", backups=items, error=error)


@routes.post(BACKUPS + "{backup_id}/restore")
async def restore_backup(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    bid = request.match_info["backup_id"]

    async def work() -> None:
        body: dict[str, Any] = {}
        name = field(data, "name", required=False)
        if name:
            body["name"] = name
        await api.volume.post(f"/backups/{q(bid)}/restore", {"restore": body})

    return await act(request, "/project/volumes/",
                     "The backup is being restored into a new volume.", work)


@routes.post(BACKUPS + "{backup_id}/delete")
async def delete_backup(request: web.Request) -> web.Response:
    api = apis(request)
    bid = request.match_info["backup_id"]

    async def work() -> None:
        await api.volume.delete(f"/backups/{q(bid)}")

    return await act(request, BACKUPS, "The backup is being deleted.", work)


@routes.get(TRANSFERS)
async def transfers(request: web.Request) -> web.Response:
    session = request[SESSION]
    doc, error = await attempt(apis(request).volume.get("/volume-transfers/detail"), {})
    created = session.extra.pop("transfer", None)  # its key is shown this once
    return render(request, "volumes/transfers.html", title="Volume Transfers",
                  transfers=(doc or {}).get("transfers", []), error=error, created=created)


@routes.post(TRANSFERS + "accept")
async def accept_transfer(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        tid = field(data, "transfer_id", label="Transfer ID")
        key = field(data, "auth_key", label="Authorization key")
        await api.volume.post(f"/volume-transfers/{q(tid)}/accept",
                              {"accept": {"auth_key": key}})

    return await act(request, "/project/volumes/",
                     "The transfer was accepted: the volume is now this project's.", work)


@routes.post(TRANSFERS + "{transfer_id}/delete")
async def cancel_transfer(request: web.Request) -> web.Response:
    api = apis(request)
    tid = request.match_info["transfer_id"]

    async def work() -> None:
        await api.volume.delete(f"/volume-transfers/{q(tid)}")

    return await act(request, TRANSFERS, "The transfer was cancelled.", work)
