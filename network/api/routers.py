"""Routers (with their interface and extra-route actions) and floating IPs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from network import models as m
from network.api import attributes
from network.api.base import json_body, json_response, member_body, run
from network.api.networks import STANDARD
from network.api.resources import Kind
from network.core import floatingips, routers, views
from network.core.base import Ctx, get_floatingip, get_router, owned_query
from network.errors import FloatingIPNotFound, HTTPBadRequest, RouterNotFound


def _ports_by_id(ctx: Ctx, ids: list[str | None]) -> dict[str, m.Port]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    found = ctx.s.scalars(select(m.Port).options(selectinload(m.Port.fixed_ips))
                          .where(m.Port.id.in_(wanted)))
    return {p.id: p for p in found}


def _render_routers(ctx: Ctx, rows: list[m.Router]) -> list[dict[str, Any]]:
    gw = _ports_by_id(ctx, [r.gw_port_id for r in rows])
    return [views.router(r, gw.get(r.gw_port_id or "")) for r in rows]


def _render_fips(ctx: Ctx, rows: list[m.FloatingIP]) -> list[dict[str, Any]]:
    fixed = _ports_by_id(ctx, [f.fixed_port_id for f in rows])
    return [views.floatingip(f, fixed.get(f.fixed_port_id or "")) for f in rows]


def _owned_rows(model: Any) -> Any:
    def rows(ctx: Ctx) -> list[Any]:
        return list(ctx.s.scalars(owned_query(ctx.caller, model)
                                  .order_by(model.created_at, model.id)))
    return rows


ROUTERS = Kind(
    path="routers", collection="routers", member="router", spec=attributes.ROUTER,
    fields=(*STANDARD, "name", "admin_state_up", "status", "external_gateway_info",
            "routes"),
    missing=RouterNotFound, rows=_owned_rows(m.Router), one=get_router,
    render=_render_routers, create=routers.create_router, update=routers.update_router,
    delete=routers.delete_router)

FLOATINGIPS = Kind(
    path="floatingips", collection="floatingips", member="floatingip",
    spec=attributes.FLOATINGIP,
    fields=(*STANDARD, "floating_network_id", "floating_ip_address", "port_id",
            "fixed_ip_address", "router_id", "status", "port_details"),
    missing=FloatingIPNotFound, rows=_owned_rows(m.FloatingIP), one=get_floatingip,
    render=_render_fips, create=floatingips.create_floatingip,
    update=floatingips.update_floatingip, delete=floatingips.delete_floatingip)

KINDS = (ROUTERS, FLOATINGIPS)

routes = web.RouteTableDef()
INTERFACE = attributes.mapping({"subnet_id": attributes.uuid, "port_id": attributes.uuid})
ROUTES = attributes.mapping({"routes": attributes.list_of(attributes.ROUTE)}, ("routes",))


def _interface(action: Callable[[Ctx, m.Router, dict[str, Any]], dict[str, Any]]) -> Any:
    """``PUT /v2.0/routers/{id}/add_router_interface`` (or ``remove_...``)."""
    async def handler(request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        body = INTERFACE("router_interface", await json_body(request))
        return json_response(await run(request, lambda ctx: action(
            ctx, get_router(ctx, ident), body), write=True))
    return handler


routes.put("/v2.0/routers/{id}/add_router_interface")(_interface(routers.add_interface))
routes.put("/v2.0/routers/{id}/remove_router_interface")(_interface(routers.remove_interface))


async def _extraroutes(request: web.Request, add: bool) -> web.Response:
    ident = request.match_info["id"]
    body = ROUTES("router", member_body(await json_body(request), "router"))
    if not isinstance(body.get("routes"), list):
        raise HTTPBadRequest("Invalid input for routes. Reason: a list is required.")

    def work(ctx: Ctx) -> dict[str, Any]:
        router = routers.change_routes(ctx, get_router(ctx, ident), body["routes"], add)
        ctx.s.flush()
        return _render_routers(ctx, [router])[0]

    return json_response({"router": await run(request, work, write=True)})


@routes.put("/v2.0/routers/{id}/add_extraroutes")
async def add_extraroutes(request: web.Request) -> web.Response:
    return await _extraroutes(request, True)


@routes.put("/v2.0/routers/{id}/remove_extraroutes")
async def remove_extraroutes(request: web.Request) -> web.Response:
    return await _extraroutes(request, False)
