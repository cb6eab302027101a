"""Volume transfers: ``/volume-transfers`` (3.55+) and the older ``/os-volume-transfer``
(rules in ``blockstore.core.transfers``: the key is answered once, a wrong one
changes nothing, deleting the transfer cancels it)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from blockstore.api import views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    project_url,
    query_flag,
    run,
    section,
    state,
    writer,
)
from blockstore.core import transfers
from blockstore.core.validation import check_id, check_text
from blockstore.errors import Invalid

routes = web.RouteTableDef()
PREFIXES = ("/v3/{project_id}/volume-transfers", "/v3/{project_id}/os-volume-transfer")


async def create(request: web.Request) -> web.Response:
    who = await writer(request)
    body = section(await json_body(request), "transfer")
    vid = check_id(body, "volume_id")
    name = check_text(body, "name")
    no_snapshots = bool(body.get("no_snapshots", False))
    key = transfers.new_key()
    return json_response({"transfer": await run(request, lambda s: views.transfer(
        transfers.create(s, who, vid, name, no_snapshots, key), project_url(request),
        auth_key=key))}, status=202)


async def accept(request: web.Request) -> web.Response:
    who = await writer(request)
    tid = request.match_info["transfer_id"]
    body = section(await json_body(request), "accept")
    key = body.get("auth_key")
    if not isinstance(key, str):
        raise Invalid("Invalid input received: auth_key is required.")
    cfg = state(request).cfg.blockstore

    def take(s: Session) -> dict[str, Any]:
        tr, vol = transfers.accept(s, who, cfg, tid, key)
        return {"id": tr.id, "name": tr.name, "volume_id": vol.id,
                "links": views.links(project_url(request), "os-volume-transfer", tr.id)}

    return json_response({"transfer": await run(request, take)}, status=202)


async def listing(request: web.Request, detail: bool) -> web.Response:
    who = await caller(request)
    everyone = who.is_admin and query_flag(request, "all_tenants", ("1", "true"))

    def rows(s: Session) -> list[dict[str, Any]]:
        base = project_url(request)
        return [views.transfer(t, base) if detail else
                {"id": t.id, "name": t.name, "volume_id": t.volume_id,
                 "links": views.links(base, "os-volume-transfer", t.id)}
                for t in transfers.transfers(s, who, everyone=everyone)]

    return json_response({"transfers": await run(request, rows)})


async def index(request: web.Request) -> web.Response:
    return await listing(request, detail=False)


async def detail(request: web.Request) -> web.Response:
    return await listing(request, detail=True)


async def show(request: web.Request) -> web.Response:
    who = await caller(request)
    tid = request.match_info["transfer_id"]
    return json_response({"transfer": await run(request, lambda s: views.transfer(
        transfers.get_transfer(s, who, tid), project_url(request)))})


async def delete(request: web.Request) -> web.Response:
    who = await writer(request)
    tid = request.match_info["transfer_id"]
    await run(request, lambda s: transfers.cancel(s, who, tid))
    return web.Response(status=202)


for _prefix in PREFIXES:
    routes.post(_prefix)(create)
    routes.get(_prefix)(index)
    routes.get(_prefix + "/detail")(detail)
    routes.get(_prefix + "/{transfer_id}")(show)
    routes.delete(_prefix + "/{transfer_id}")(delete)
    routes.post(_prefix + "/{transfer_id}/accept")(accept)
