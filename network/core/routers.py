"""Routers: an external gateway (with SNAT), interfaces on subnets or ports, and static
routes (extraroute).

A router's ports are the service's: an interface port (``network:router_interface``,
in the router's project) holds the subnet's gateway address, or the address of
the port it was given; the gateway port (``network:router_gateway``, no project)
holds an address of the external network. Both are bound to this host, where the
router's namespace carries them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from network import models as m
from network import quotas
from network.core import ipam, ports
from network.core.base import (
    OWNER_ROUTER_GATEWAY,
    OWNER_ROUTER_INTERFACE,
    Ctx,
    assign,
    get_network,
    get_port,
    get_subnet,
)
from network.errors import (
    BadRequestError,
    ExternalIpAddressExhausted,
    InvalidRoutes,
    PortInUse,
    RouterExternalGatewayInUseByFloatingIp,
    RouterInterfaceInUseByFloatingIP,
    RouterInterfaceInUseByRoute,
    RouterInterfaceNotFound,
    RouterInterfaceNotFoundForSubnet,
    RouterInUse,
    RoutesExhausted,
)
from network.policy import check_admin, check_owner, deny, target_project

MAX_ROUTES = 30


def interfaces(ctx: Ctx, router: m.Router) -> list[m.Port]:
    return list(ctx.s.scalars(select(m.Port).where(
        m.Port.device_id == router.id, m.Port.device_owner == OWNER_ROUTER_INTERFACE)
        .order_by(m.Port.created_at, m.Port.id)))


def gateway_port(ctx: Ctx, router: m.Router) -> m.Port | None:
    return ctx.s.get(m.Port, router.gw_port_id) if router.gw_port_id else None


def _subnets_of(ctx: Ctx, port_rows: list[m.Port]) -> list[m.Subnet]:
    ids = [a.subnet_id for p in port_rows for a in p.fixed_ips]
    return [s for s in (ctx.s.get(m.Subnet, i) for i in ids) if s is not None]


def _check_no_overlap(ctx: Ctx, router: m.Router, new: list[m.Subnet]) -> None:
    attached = _subnets_of(ctx, interfaces(ctx, router))
    gw = gateway_port(ctx, router)
    if gw is not None:
        attached += _subnets_of(ctx, [gw])
    for sub in new:
        for other in attached:
            if other.id == sub.id:
                raise BadRequestError("router", f"Router already has a port on subnet "
                                      f"{sub.id}")
            if ipam.overlaps(ipam.network(sub.cidr), ipam.network(other.cidr)):
                raise BadRequestError("router", f"Cidr {sub.cidr} of subnet {sub.id} "
                                      f"overlaps with cidr {other.cidr} of subnet {other.id}")


def create_router(ctx: Ctx, attrs: dict[str, Any]) -> m.Router:
    project = target_project(ctx.caller, attrs, "router")
    quotas.check(ctx.s, ctx.cfg, project, {"router": 1})
    router = m.Router(id=m.new_id(), project_id=project, routes=[], tags=[])
    assign(router, attrs, ("name", "description", "admin_state_up", "tags"))
    ctx.s.add(router)
    ctx.s.flush()
    if attrs.get("external_gateway_info"):
        set_gateway(ctx, router, attrs["external_gateway_info"], "create_router")
    return router


def _fips_via(ctx: Ctx, router: m.Router) -> list[m.FloatingIP]:
    return list(ctx.s.scalars(select(m.FloatingIP).where(m.FloatingIP.router_id == router.id)))


def set_gateway(ctx: Ctx, router: m.Router, info: dict[str, Any] | None, action: str) -> None:
    """Set, change or (``info`` empty) clear the router's external gateway."""
    current = gateway_port(ctx, router)
    if not info:
        if current is not None:
            if _fips_via(ctx, router):
                raise RouterExternalGatewayInUseByFloatingIp(router.id, current.network_id)
            router.gw_port_id = None
            ports.remove_port(ctx, current)
        return
    rule = f"{action}:external_gateway_info"
    if "enable_snat" in info:
        check_admin(ctx.caller, f"{rule}:enable_snat")
    if "external_fixed_ips" in info:
        check_admin(ctx.caller, f"{rule}:external_fixed_ips")
    net = get_network(ctx, info["network_id"])
    if not net.external:
        raise BadRequestError("router", f"Network {net.id} is not an external network")
    router.enable_snat = info.get("enable_snat", router.enable_snat if current else True)
    wants = None
    if "external_fixed_ips" in info:
        wants = [ports.Want(e.get("subnet_id"), e.get("ip_address"))
                 for e in info["external_fixed_ips"]]
    if current is not None and current.network_id == net.id:
        if wants is not None:
            ports.set_fixed_ips(ctx, current, net, wants)
        return
    if current is not None:
        if _fips_via(ctx, router):
            raise RouterExternalGatewayInUseByFloatingIp(router.id, current.network_id)
        router.gw_port_id = None
        ports.remove_port(ctx, current)
    if wants is None:
        v4 = [s for s in net.subnets if s.ip_version == 4]
        wants = [ports.Want(subnet_id=s.id) for s in v4[:1]]
        if not wants:
            raise ExternalIpAddressExhausted(net.id)
    _check_no_overlap(ctx, router, [s for s in net.subnets
                                    if any(w.subnet_id == s.id for w in wants)])
    port = ports.make_port(ctx, net, project_id="", device_owner=OWNER_ROUTER_GATEWAY,
                           device_id=router.id, fixed_ips=wants, host=ctx.host,
                           port_security=False,
                           status="ACTIVE" if ctx.instant_active else "DOWN")
    router.gw_port_id = port.id


def update_router(ctx: Ctx, router: m.Router, attrs: dict[str, Any]) -> m.Router:
    check_owner(ctx.caller, router.project_id, "update_router")
    if "external_gateway_info" in attrs:
        set_gateway(ctx, router, attrs["external_gateway_info"], "update_router")
    if "routes" in attrs:
        set_routes(ctx, router, attrs["routes"])
    assign(router, attrs, ("name", "description", "admin_state_up"))
    router.touch()
    ctx.s.flush()
    return router


def delete_router(ctx: Ctx, router: m.Router) -> None:
    check_owner(ctx.caller, router.project_id, "delete_router")
    if interfaces(ctx, router) or _fips_via(ctx, router):
        raise RouterInUse(router.id)
    set_gateway(ctx, router, None, "delete_router")
    ctx.s.delete(router)
    ctx.s.flush()


# -- static routes ---------------------------------------------------------------------


def set_routes(ctx: Ctx, router: m.Router, routes: list[dict[str, str]]) -> None:
    if len(routes) > MAX_ROUTES:
        raise RoutesExhausted(router.id, MAX_ROUTES)
    legs = interfaces(ctx, router)
    gw = gateway_port(ctx, router)
    if gw is not None:
        legs.append(gw)
    own = {a.ip_address for p in legs for a in p.fixed_ips}
    nets = [ipam.network(s.cidr) for s in _subnets_of(ctx, legs)]
    seen: list[dict[str, str]] = []
    for route in routes:
        dest, hop = ipam.network(route["destination"]), ipam.address(route["nexthop"])
        entry = {"destination": str(dest), "nexthop": str(hop)}
        if dest.version != hop.version:
            raise InvalidRoutes(route, "the nexthop is not of the destination's IP version")
        if str(hop) in own:
            raise InvalidRoutes(route, "the nexthop is used by router")
        if not any(hop in n for n in nets if n.version == hop.version):
            raise InvalidRoutes(route, "the nexthop is not connected with router")
        if entry not in seen:
            seen.append(entry)
    router.routes = seen


def change_routes(ctx: Ctx, router: m.Router, routes: list[dict[str, str]],
                  add: bool) -> m.Router:
    """``add_extraroutes`` / ``remove_extraroutes``: routes added or removed at once."""
    check_owner(ctx.caller, router.project_id, "update_router")
    norm = [{"destination": str(ipam.network(r["destination"])),
             "nexthop": str(ipam.address(r["nexthop"]))} for r in routes]
    if add:
        wanted = list(router.routes) + [r for r in norm if r not in router.routes]
    else:
        wanted = [r for r in router.routes if r not in norm]
    set_routes(ctx, router, wanted)
    router.touch()
    return router


# -- interfaces ------------------------------------------------------------------------


def interface_info(router: m.Router, port: m.Port) -> dict[str, Any]:
    subnet_ids = [a.subnet_id for a in port.fixed_ips]
    return {"id": router.id, "tenant_id": router.project_id,
            "project_id": router.project_id, "port_id": port.id,
            "network_id": port.network_id, "subnet_id": subnet_ids[0] if subnet_ids else None,
            "subnet_ids": subnet_ids}


def add_interface(ctx: Ctx, router: m.Router, body: dict[str, Any]) -> dict[str, Any]:
    check_owner(ctx.caller, router.project_id, "add_router_interface")
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if subnet_id and port_id:
        raise BadRequestError("router", "Cannot specify both subnet-id and port-id")
    if not subnet_id and not port_id:
        raise BadRequestError("router", "Either subnet_id or port_id must be specified")
    if port_id:
        port = get_port(ctx, str(port_id))
        if port.project_id != router.project_id and not ctx.caller.is_admin:
            raise deny("add_router_interface")
        if port.device_id or port.device_owner:
            raise PortInUse(port.id, port.network_id, port.device_id or port.device_owner)
        if not port.fixed_ips:
            raise BadRequestError("router", "Router port must have at least one fixed IP")
        subs = _subnets_of(ctx, [port])
        if sum(1 for s in subs if s.ip_version == 4) > 1:
            raise BadRequestError("router", "Cannot have multiple IPv4 subnets on router "
                                  "port")
        _check_no_overlap(ctx, router, subs)
        port.device_id, port.device_owner = router.id, OWNER_ROUTER_INTERFACE
        port.host, port.port_security_enabled = ctx.host, False
        port.security_groups, port.allowed_address_pairs = [], []
        port.touch()
    else:
        sub = get_subnet(ctx, str(subnet_id))
        if sub.project_id != router.project_id and not ctx.caller.is_admin:
            net = ctx.s.get(m.Network, sub.network_id)
            if net is None or not net.shared:
                raise deny("add_router_interface")
        if sub.gateway_ip is None:
            raise BadRequestError("router", f"Subnet {sub.id} does not have a gateway IP")
        _check_no_overlap(ctx, router, [sub])
        net = get_network(ctx, sub.network_id)
        port = ports.make_port(ctx, net, project_id=router.project_id,
                               device_owner=OWNER_ROUTER_INTERFACE, device_id=router.id,
                               fixed_ips=[ports.Want(sub.id, sub.gateway_ip)], host=ctx.host,
                               port_security=False,
                               status="ACTIVE" if ctx.instant_active else "DOWN")
    router.touch()
    ctx.s.flush()
    return interface_info(router, port)


def remove_interface(ctx: Ctx, router: m.Router, body: dict[str, Any]) -> dict[str, Any]:
    check_owner(ctx.caller, router.project_id, "remove_router_interface")
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if not subnet_id and not port_id:
        raise BadRequestError("router", "Either subnet_id or port_id must be specified")
    legs = interfaces(ctx, router)
    if port_id:
        found = [p for p in legs if p.id == port_id]
        if not found:
            raise RouterInterfaceNotFound(router.id, str(port_id))
        port = found[0]
        if subnet_id and subnet_id not in {a.subnet_id for a in port.fixed_ips}:
            raise BadRequestError("router", f"Subnet {subnet_id} is not on port {port_id}")
    else:
        found = [p for p in legs if any(a.subnet_id == subnet_id for a in p.fixed_ips)]
        if not found:
            raise RouterInterfaceNotFoundForSubnet(router.id, str(subnet_id))
        port = found[0]
    info = interface_info(router, port)
    for sub in _subnets_of(ctx, [port]):
        net = ipam.network(sub.cidr)
        for fip in _fips_via(ctx, router):
            if fip.fixed_ip_address and ipam.address(fip.fixed_ip_address) in net:
                raise RouterInterfaceInUseByFloatingIP(router.id, sub.id)
        for route in router.routes:
            if ipam.address(route["nexthop"]) in net:
                raise RouterInterfaceInUseByRoute(router.id, sub.id)
    ports.remove_port(ctx, port)
    router.touch()
    ctx.s.flush()
    return info


def routers_on(ctx: Ctx, subnet_id: str, external_network_id: str) -> list[m.Router]:
    """Routers with an interface on ``subnet_id`` and their gateway on the external
    network: the way a floating IP reaches a fixed IP of that subnet."""
    via = ctx.s.scalars(select(m.Port.device_id).join(m.IPAllocation).where(
        m.Port.device_owner == OWNER_ROUTER_INTERFACE, m.IPAllocation.subnet_id == subnet_id))
    out = []
    for rid in dict.fromkeys(via):
        router = ctx.s.get(m.Router, rid)
        gw = gateway_port(ctx, router) if router is not None else None
        if router is not None and gw is not None and gw.network_id == external_network_id:
            out.append(router)
    return out

