"""Floating IPs: an address of an external network, held by a port the service owns
(``network:floatingip``), mapped (DNAT + SNAT in the router's namespace) to a fixed
IPv4 address of a port.

Association needs a router with its gateway on the floating IP's network and an
interface on the fixed address's subnet; without one the answer is Neutron's
404 ``ExternalGatewayForFloatingIPNotFound``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from network import models as m
from network import quotas
from network.core import ipam, ports, routers
from network.core.base import OWNER_FLOATINGIP, Ctx, assign, get_network, get_port
from network.errors import (
    BadRequestError,
    ExternalGatewayForFloatingIPNotFound,
    FloatingIPPortAlreadyAssociated,
)
from network.policy import check_admin, check_owner, target_project


def create_floatingip(ctx: Ctx, attrs: dict[str, Any]) -> m.FloatingIP:
    net = get_network(ctx, attrs["floating_network_id"])
    project = target_project(ctx.caller, attrs, "floatingip")
    if not net.external:
        raise BadRequestError("floatingip", f"Network {net.id} is not a valid external "
                              "network")
    if attrs.get("floating_ip_address"):
        check_admin(ctx.caller, "create_floatingip:floating_ip_address")
    quotas.check(ctx.s, ctx.cfg, project, {"floatingip": 1})
    fip = m.FloatingIP(id=m.new_id(), project_id=project, floating_network_id=net.id,
                       tags=[])
    if attrs.get("floating_ip_address") or attrs.get("subnet_id"):
        wants = [ports.Want(attrs.get("subnet_id"), attrs.get("floating_ip_address"))]
    else:
        v4 = [s for s in net.subnets if s.ip_version == 4]
        if not v4:
            raise BadRequestError("floatingip", f"Network {net.id} has no IPv4 subnet")
        wants = None
    port = ports.make_port(ctx, net, project_id="", device_owner=OWNER_FLOATINGIP,
                           device_id=fip.id, fixed_ips=wants, port_security=False,
                           status="N/A")
    v4_ips = [a.ip_address for a in port.fixed_ips if ipam.address(a.ip_address).version == 4]
    if not v4_ips:
        raise BadRequestError("floatingip", f"No IPv4 address left on network {net.id}")
    fip.floating_port_id, fip.floating_ip_address = port.id, v4_ips[0]
    assign(fip, attrs, ("description", "tags"))
    ctx.s.add(fip)
    ctx.s.flush()
    if attrs.get("port_id"):
        associate(ctx, fip, attrs["port_id"], attrs.get("fixed_ip_address"))
    return fip


def associate(ctx: Ctx, fip: m.FloatingIP, port_id: str, fixed_ip: str | None) -> None:
    port = get_port(ctx, port_id)
    if port.project_id != fip.project_id:
        raise BadRequestError("floatingip", f"Cannot create floating IP and bind it to Port "
                              f"{port_id}, since that port is owned by a different tenant")
    v4 = [a for a in port.fixed_ips if ipam.address(a.ip_address).version == 4]
    if fixed_ip is not None:
        chosen = [a for a in v4 if a.ip_address == str(ipam.address(fixed_ip))]
        if not chosen:
            raise BadRequestError("floatingip", f"Port {port_id} does not have fixed ip "
                                  f"{fixed_ip}")
    elif not v4:
        raise BadRequestError("floatingip", f"Port {port_id} does not have a fixed IPv4 "
                              "address")
    elif len(v4) > 1:
        raise BadRequestError("floatingip", f"Port {port_id} has multiple fixed IPv4 "
                              "addresses. Must provide a specific IPv4 address when "
                              "assigning a floating IP")
    else:
        chosen = v4
    alloc = chosen[0]
    via = routers.routers_on(ctx, alloc.subnet_id, fip.floating_network_id)
    if not via:
        raise ExternalGatewayForFloatingIPNotFound(fip.floating_network_id, alloc.subnet_id,
                                                   port.id)
    other = ctx.s.scalar(select(m.FloatingIP).where(
        m.FloatingIP.fixed_port_id == port.id, m.FloatingIP.fixed_ip_address == alloc.ip_address,
        m.FloatingIP.floating_network_id == fip.floating_network_id, m.FloatingIP.id != fip.id))
    if other is not None:
        raise FloatingIPPortAlreadyAssociated(port.id, other.id, other.floating_ip_address,
                                              alloc.ip_address, fip.floating_network_id)
    fip.fixed_port_id, fip.fixed_ip_address, fip.router_id = port.id, alloc.ip_address, \
        via[0].id


def update_floatingip(ctx: Ctx, fip: m.FloatingIP, attrs: dict[str, Any]) -> m.FloatingIP:
    check_owner(ctx.caller, fip.project_id, "update_floatingip")
    if "port_id" in attrs:
        if attrs["port_id"] is None:
            fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
        else:
            associate(ctx, fip, attrs["port_id"], attrs.get("fixed_ip_address"))
    elif attrs.get("fixed_ip_address") and fip.fixed_port_id:
        associate(ctx, fip, fip.fixed_port_id, attrs["fixed_ip_address"])
    assign(fip, attrs, ("description",))
    fip.touch()
    ctx.s.flush()
    return fip


def delete_floatingip(ctx: Ctx, fip: m.FloatingIP) -> None:
    check_owner(ctx.caller, fip.project_id, "delete_floatingip")
    port = ctx.s.get(m.Port, fip.floating_port_id)
    ctx.s.delete(fip)
    ctx.s.flush()
    if port is not None:
        ports.remove_port(ctx, port)
