"""Volume transfers: ``/volume-transfers`` (3.55+) and the older ``/os-volume-transfer``
(rules in ``blockstore.core.transfers``: the key is answered once, a wrong one
changes nothing, deleting the transfer cancels it)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.api import shapes, views
from blockstore.api.base import (
    caller,
    json_body,
    json_response,
    limit_param,
    need_version,
    offset_param,
    page,
    query_flag,
    run,
    section,
    sort_order,
    state,
    version,
    writer,
)
from blockstore.core import transfers
from blockstore.core.validation import check_id, check_text
from blockstore.errors import Invalid
from blockstore.policy import Caller

routes = web.RouteTableDef()
NEW, OLD = "/v3/{project_id}/volume-transfers", "/v3/{project_id}/os-volume-transfer"
SORT_KEYS = {"created_at": m.Transfer.created_at, "id": m.Transfer.id,
             "name": m.Transfer.name, "volume_id": m.Transfer.volume_id}


def _check(request: web.Request) -> None:
    """``/volume-transfers`` is 3.55+ (404 before); ``/os-volume-transfer`` is always."""
    if request.path.split("/")[3] == "volume-transfers":
        need_version(request, 55, "The volume-transfers API")


def _render(request: web.Request, who: Caller, tr: m.Transfer, call: str,
            **kw: str | None) -> dict[str, Any]:
    return views.transfer(views.view(request, who), tr, call, **kw)


async def create(request: web.Request) -> web.Response:
    _check(request)
    who = await writer(request)
    body = section(await json_body(request), "transfer")
    vid = check_id(body, "volume_id")
    name = check_text(body, "name")
    no_snapshots = bool(body.get("no_snapshots", False)) if version(request).at_least(55) \
        else False
    key = transfers.new_key()
    return json_response({"transfer": await run(request, lambda s: _render(
        request, who, transfers.create(s, who, vid, name, no_snapshots, key), shapes.CREATE,
        auth_key=key))}, status=202)


async def accept(request: web.Request) -> web.Response:
    _check(request)
    who = await writer(request)
    tid = request.match_info["transfer_id"]
    body = section(await json_body(request), "accept")
    key = body.get("auth_key")
    if not isinstance(key, str):
        raise Invalid("Invalid input received: auth_key is required.")
    cfg = state(request).cfg.blockstore

    def take(s: Session) -> dict[str, Any]:
        tr, vol = transfers.accept(s, who, cfg, tid, key)
        return _render(request, who, tr, shapes.ACCEPT, volume_id=vol.id)

    return json_response({"transfer": await run(request, take)}, status=202)


async def listing(request: web.Request, detail: bool) -> web.Response:
    _check(request)
    who = await caller(request)
    everyone = who.is_admin and query_flag(request, "all_tenants", ("1", "true"))
    order = sort_order(request, SORT_KEYS)
    paged = version(request).at_least(59)  # transfer pagination came with 3.59
    limit = limit_param(request) if paged else None
    offset = offset_param(request) if paged else 0
    marker = request.query.get("marker") if paged else None
    call = shapes.DETAIL if detail else shapes.LIST

    def rows(s: Session) -> dict[str, Any]:
        return page(request, "transfers", transfers.transfers(s, who, everyone=everyone,
                                                              order=order),
                    lambda t: _render(request, who, t, call), limit=limit, marker=marker,
                    offset=offset)

    return json_response(await run(request, rows))


async def index(request: web.Request) -> web.Response:
    return await listing(request, detail=False)


async def detail(request: web.Request) -> web.Response:
    return await listing(request, detail=True)


async def show(request: web.Request) -> web.Response:
    _check(request)
    who = await caller(request)
    tid = request.match_info["transfer_id"]
    return json_response({"transfer": await run(request, lambda s: _render(
        request, who, transfers.get_transfer(s, who, tid), shapes.SHOW))})


async def delete(request: web.Request) -> web.Response:
    _check(request)
    who = await writer(request)
    tid = request.match_info["transfer_id"]
    await run(request, lambda s: transfers.cancel(s, who, tid))
    return web.Response(status=202)


for _prefix in (NEW, OLD):
    routes.post(_prefix)(create)
    routes.get(_prefix)(index)
    routes.get(_prefix + "/detail")(detail)
    routes.get(_prefix + "/{transfer_id}")(show)
    routes.delete(_prefix + "/{transfer_id}")(delete)
    routes.post(_prefix + "/{transfer_id}/accept")(accept)
