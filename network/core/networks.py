"""Networks, and the DHCP port each keeps while one of its subnets serves DHCP.

As with Neutron's DHCP agent, a network with a DHCP-enabled subnet has one port
owned by ``network:dhcp`` (in the network's project, bound to this host) holding
an address on every such subnet: dnsmasq answers from it in the network's DHCP
namespace. Deleting the network takes that port with it; any other port on the
network makes the delete a 409.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from network import models as m
from network import quotas
from network.core import ports, secgroups
from network.core.base import (
    OWNER_DHCP,
    OWNER_FLOATINGIP,
    OWNER_ROUTER_GATEWAY,
    Ctx,
    assign,
)
from network.errors import InvalidInput, NetworkInUse
from network.policy import check_admin, check_owner, target_project


def _check_mtu(ctx: Ctx, mtu: int) -> None:
    if mtu > ctx.cfg.global_mtu:
        raise InvalidInput(f"Requested MTU is too big, maximum is {ctx.cfg.global_mtu}")


def create_network(ctx: Ctx, attrs: dict[str, Any]) -> m.Network:
    project = target_project(ctx.caller, attrs, "network")
    for name, rule in (("shared", "shared"), ("external", "router:external")):
        if attrs.get(name):
            check_admin(ctx.caller, f"create_network:{rule}")
    if "mtu" in attrs:
        _check_mtu(ctx, attrs["mtu"])
    quotas.check(ctx.s, ctx.cfg, project, {"network": 1})
    secgroups.ensure_default(ctx, project)
    net = m.Network(id=m.new_id(), project_id=project, mtu=ctx.cfg.global_mtu, tags=[],
                    availability_zone_hints=[])
    assign(net, attrs, ("name", "description", "admin_state_up", "shared", "external", "mtu",
                        "port_security_enabled", "availability_zone_hints", "tags"))
    ctx.s.add(net)
    ctx.s.flush()
    return net


def update_network(ctx: Ctx, net: m.Network, attrs: dict[str, Any]) -> m.Network:
    check_owner(ctx.caller, net.project_id, "update_network")
    for name, rule in (("shared", "shared"), ("external", "router:external")):
        if name in attrs and attrs[name] != getattr(net, name):
            check_admin(ctx.caller, f"update_network:{rule}")
    if net.external and attrs.get("external") is False:
        in_use = ctx.s.scalar(select(m.Port.id).where(
            m.Port.network_id == net.id,
            m.Port.device_owner.in_((OWNER_ROUTER_GATEWAY, OWNER_FLOATINGIP))))
        if in_use is not None:
            raise NetworkInUse(net.id)
    if net.shared and attrs.get("shared") is False:
        others = ctx.s.scalar(select(m.Port.id).where(
            m.Port.network_id == net.id, m.Port.project_id != net.project_id,
            m.Port.project_id != ""))
        if others is not None:
            raise NetworkInUse(net.id)
    if "mtu" in attrs:
        _check_mtu(ctx, attrs["mtu"])
    assign(net, attrs, ("name", "description", "admin_state_up", "shared", "external", "mtu",
                        "port_security_enabled"))
    net.touch()
    return net


def delete_network(ctx: Ctx, net: m.Network) -> None:
    check_owner(ctx.caller, net.project_id, "delete_network")
    on_net = list(ctx.s.scalars(select(m.Port).where(m.Port.network_id == net.id)))
    if any(p.device_owner != OWNER_DHCP for p in on_net):
        raise NetworkInUse(net.id)
    for port in on_net:
        ports.remove_port(ctx, port)
    for sub in list(net.subnets):
        ctx.s.delete(sub)
    ctx.s.flush()
    ctx.s.delete(net)
    ctx.s.flush()


def dhcp_device_id(host: str, network_id: str) -> str:
    """Neutron's form: ``dhcp<uuid of the host>-<network id>``."""
    return f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, host or 'localhost')}-{network_id}"


def dhcp_port(ctx: Ctx, net: m.Network) -> m.Port | None:
    return ctx.s.scalar(select(m.Port).where(m.Port.network_id == net.id,
                                             m.Port.device_owner == OWNER_DHCP))


def sync_dhcp(ctx: Ctx, net: m.Network, without: str | None = None) -> None:
    """Give the network's DHCP port an address on each DHCP subnet (but ``without``),
    make it when the first one appears, delete it when none is left."""
    wanted = [s for s in net.subnets if s.enable_dhcp and s.id != without]
    port = dhcp_port(ctx, net)
    if not wanted:
        if port is not None:
            ports.remove_port(ctx, port)
        return
    held = {a.subnet_id: a.ip_address for a in port.fixed_ips} if port is not None else {}
    wants = [ports.Want(subnet_id=s.id, ip_address=held.get(s.id)) for s in wanted]
    if port is None:
        ports.make_port(ctx, net, project_id=net.project_id, device_owner=OWNER_DHCP,
                        device_id=dhcp_device_id(ctx.host, net.id), fixed_ips=wants,
                        host=ctx.host, port_security=False,
                        status="ACTIVE" if ctx.instant_active else "DOWN")
    elif set(held) != {s.id for s in wanted}:
        ports.set_fixed_ips(ctx, port, net, wants)
        port.touch()
