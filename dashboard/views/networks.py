"""Project → Network → Networks (with their subnets and ports) and Routers (gateway,
interfaces), and the Network Topology picture."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from dashboard.apis import Apis, q
from dashboard.topology import layout
from dashboard.web import SESSION, act, apis, attempt, checkbox, field, form, render

routes = web.RouteTableDef()
NETWORKS, ROUTERS = "/project/networks/", "/project/routers/"
TOPOLOGY = "/project/network_topology/"


async def listing(api: Apis, collection: str, **filters: str) -> list[dict[str, Any]]:
    doc = await api.network.get(f"/{collection}", params=filters or None)
    items: list[dict[str, Any]] = doc.get(collection.replace("-", "_"), [])
    return items


def subnet_body(data: Any, network_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "network_id": network_id, "name": field(data, "subnet_name", required=False),
        "cidr": field(data, "cidr", label="Network address (CIDR)"),
        "ip_version": 6 if ":" in str(data.get("cidr", "")) else 4,
        "enable_dhcp": checkbox(data, "enable_dhcp"),
    }
    gateway = field(data, "gateway_ip", required=False)
    if checkbox(data, "no_gateway"):
        body["gateway_ip"] = None
    elif gateway:
        body["gateway_ip"] = gateway
    dns = [d.strip() for d in str(data.get("dns_nameservers", "")).split(",") if d.strip()]
    if dns:
        body["dns_nameservers"] = dns
    return body


# -- networks ---------------------------------------------------------------------------


@routes.get(NETWORKS)
async def networks(request: web.Request) -> web.Response:
    api = apis(request)
    (nets, error), (subnets, _) = await asyncio.gather(
        attempt(listing(api, "networks"), []), attempt(listing(api, "subnets"), []))
    by_id = {s["id"]: s for s in subnets}
    return render(request, "network/networks.html", title="Networks", networks=nets,
                  subnets=by_id, error=error)


@routes.post(NETWORKS + "create")
async def create_network(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    session = request[SESSION]

    async def work() -> None:
        body: dict[str, Any] = {"name": field(data, "name", label="Network name"),
                                "admin_state_up": checkbox(data, "admin_state_up")}
        if session.is_admin:
            body["shared"] = checkbox(data, "shared")
            if checkbox(data, "external"):
                body["router:external"] = True
        net = (await api.network.post("/networks", {"network": body}))["network"]
        if field(data, "cidr", required=False):
            try:
                await api.network.post("/subnets", {"subnet": subnet_body(data, net["id"])})
            except BaseException:
                await api.network.delete(f"/networks/{q(net['id'])}")  # nothing half made
                raise

    name = str(data.get("name", "")).strip()
    return await act(request, NETWORKS, f"Network {name} was created.", work)


@routes.get(NETWORKS + "{network_id}")
async def network_detail(request: web.Request) -> web.Response:
    api = apis(request)
    nid = request.match_info["network_id"]
    doc = await api.network.get(f"/networks/{q(nid)}")
    (subnets, error), (ports, perror) = await asyncio.gather(
        attempt(listing(api, "subnets", network_id=nid), []),
        attempt(listing(api, "ports", network_id=nid), []))
    return render(request, "network/network_detail.html",
                  title=f"Network {doc['network'].get('name') or nid}",
                  network=doc["network"], subnets=subnets, ports=ports,
                  error=error or perror)


@routes.post(NETWORKS + "{network_id}/subnets")
async def create_subnet(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    nid = request.match_info["network_id"]

    async def work() -> None:
        await api.network.post("/subnets", {"subnet": subnet_body(data, nid)})

    return await act(request, NETWORKS + nid, "The subnet was created.", work)


@routes.post(NETWORKS + "{network_id}/subnets/{subnet_id}/delete")
async def delete_subnet(request: web.Request) -> web.Response:
    api = apis(request)
    nid, sid = request.match_info["network_id"], request.match_info["subnet_id"]

    async def work() -> None:
        await api.network.delete(f"/subnets/{q(sid)}")

    return await act(request, NETWORKS + nid, "The subnet was deleted.", work)


@routes.post(NETWORKS + "{network_id}/delete")
async def delete_network(request: web.Request) -> web.Response:
    api = apis(request)
    nid = request.match_info["network_id"]

    async def work() -> None:
        await api.network.delete(f"/networks/{q(nid)}")

    return await act(request, NETWORKS, "The network was deleted.", work)


# -- routers ----------------------------------------------------------------------------


@routes.get(ROUTERS)
async def routers(request: web.Request) -> web.Response:
    api = apis(request)
    (items, error), (externals, _) = await asyncio.gather(
        attempt(listing(api, "routers"), []),
        attempt(listing(api, "networks", **{"router:external": "true"}), []))
    return render(request, "network/routers.html", title="Routers", routers=items,
                  externals=externals, error=error,
                  names={n["id"]: n.get("name") or n["id"] for n in externals})


@routes.post(ROUTERS + "create")
async def create_router(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)

    async def work() -> None:
        body: dict[str, Any] = {"name": field(data, "name", label="Router name"),
                                "admin_state_up": checkbox(data, "admin_state_up")}
        external = field(data, "external_network_id", required=False)
        if external:
            body["external_gateway_info"] = {"network_id": external}
        await api.network.post("/routers", {"router": body})

    name = str(data.get("name", "")).strip()
    return await act(request, ROUTERS, f"Router {name} was created.", work)


@routes.get(ROUTERS + "{router_id}")
async def router_detail(request: web.Request) -> web.Response:
    api = apis(request)
    rid = request.match_info["router_id"]
    doc = await api.network.get(f"/routers/{q(rid)}")
    (ports, error), (subnets, _), (externals, _) = await asyncio.gather(
        attempt(listing(api, "ports", device_id=rid), []),
        attempt(listing(api, "subnets"), []),
        attempt(listing(api, "networks", **{"router:external": "true"}), []))
    router = doc["router"]
    return render(request, "network/router_detail.html",
                  title=f"Router {router.get('name') or rid}", router=router,
                  ports=ports, subnets=subnets, externals=externals, error=error,
                  subnet_names={s["id"]: f"{s.get('name') or s['id']} ({s['cidr']})"
                                for s in subnets})


def _router_action(action: str, success: str, build: Any) -> Any:
    async def handler(request: web.Request) -> web.Response:
        data = await form(request)
        api = apis(request)
        rid = request.match_info["router_id"]

        async def work() -> None:
            await api.network.put(f"/routers/{q(rid)}/{action}", build(data))

        return await act(request, ROUTERS + rid, success, work)

    return handler


routes.post(ROUTERS + "{router_id}/interfaces")(_router_action(
    "add_router_interface", "The interface was added.",
    lambda d: {"subnet_id": field(d, "subnet_id", label="Subnet")}))
routes.post(ROUTERS + "{router_id}/interfaces/delete")(_router_action(
    "remove_router_interface", "The interface was removed.",
    lambda d: {"port_id": field(d, "port_id", label="Port")}))


@routes.post(ROUTERS + "{router_id}/gateway")
async def set_gateway(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    rid = request.match_info["router_id"]

    async def work() -> None:
        external = field(data, "external_network_id", required=False)
        info = {"network_id": external} if external else {}
        await api.network.put(f"/routers/{q(rid)}",
                              {"router": {"external_gateway_info": info}})

    return await act(request, ROUTERS + rid, "The router's gateway was changed.", work)


@routes.post(ROUTERS + "{router_id}/delete")
async def delete_router(request: web.Request) -> web.Response:
    api = apis(request)
    rid = request.match_info["router_id"]

    async def work() -> None:
        await api.network.delete(f"/routers/{q(rid)}")

    return await act(request, ROUTERS, "The router was deleted.", work)


# -- topology ---------------------------------------------------------------------------


@routes.get(TOPOLOGY)
async def topology(request: web.Request) -> web.Response:
    api = apis(request)
    (nets, error), (routers_, _), (ports, _), (subnets, _) = await asyncio.gather(
        attempt(listing(api, "networks"), []), attempt(listing(api, "routers"), []),
        attempt(listing(api, "ports"), []), attempt(listing(api, "subnets"), []))
    servers: list[dict[str, Any]] = []
    picture = layout(nets, subnets, routers_, ports, servers)
    return render(request, "network/topology.html", title="Network Topology",
                  picture=picture, error=error)
