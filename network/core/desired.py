"""The data path's desired state of this host, read from the database.

The embedded default is one host that is both hypervisor and network node, so
its state holds every network (a bridge each, and a DHCP namespace where a subnet
serves DHCP), every port but the floating IP addresses (guest ports bound to the
host are plugged; the others give dnsmasq their addresses), every router with
its gateway, interfaces, routes and floating IPs, and every security group a port
uses. ``network.dataplane`` converges the host to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from network import models as m
from network.core import ipam
from network.core.base import OWNER_FLOATINGIP, OWNER_ROUTER_INTERFACE
from network.dataplane import model as dp


def _subnet(sub: m.Subnet) -> dp.Subnet:
    return dp.Subnet(
        id=sub.id, network_id=sub.network_id, cidr=sub.cidr, ip_version=sub.ip_version,
        gateway_ip=sub.gateway_ip, enable_dhcp=sub.enable_dhcp,
        dns_nameservers=tuple(sub.dns_nameservers),
        host_routes=tuple(dp.HostRoute(r["destination"], r["nexthop"])
                          for r in sub.host_routes),
        allocation_pools=tuple(dp.AllocationPool(p["start"], p["end"])
                               for p in sub.allocation_pools),
        ipv6_address_mode=sub.ipv6_address_mode, ipv6_ra_mode=sub.ipv6_ra_mode)


def _port(port: m.Port, mtu: int) -> dp.Port:
    return dp.Port(
        id=port.id, network_id=port.network_id, project_id=port.project_id,
        mac_address=port.mac_address,
        fixed_ips=tuple(dp.FixedIP(a.subnet_id, a.ip_address) for a in port.fixed_ips),
        device_owner=port.device_owner, device_id=port.device_id, host=port.host,
        admin_state_up=port.admin_state_up, port_security_enabled=port.port_security_enabled,
        security_group_ids=tuple(g.id for g in port.security_groups),
        allowed_address_pairs=tuple(dp.AddressPair(p["ip_address"], p.get("mac_address"))
                                    for p in port.allowed_address_pairs),
        mtu=mtu)


def _rule(rule: m.SecurityGroupRule) -> dp.SecurityGroupRule:
    return dp.SecurityGroupRule(
        id=rule.id, direction=rule.direction, ethertype=rule.ethertype, protocol=rule.protocol,
        port_range_min=rule.port_range_min, port_range_max=rule.port_range_max,
        remote_ip_prefix=rule.remote_ip_prefix, remote_group_id=rule.remote_group_id)


def _leg_address(port: m.Port, subnets: dict[str, m.Subnet],
                 version: int = 4) -> tuple[str, m.Subnet] | None:
    for alloc in port.fixed_ips:
        sub = subnets.get(alloc.subnet_id)
        if sub is not None and sub.ip_version == version:
            return alloc.ip_address, sub
    return None


def _router(router: m.Router, ports: dict[str, m.Port], subnets: dict[str, m.Subnet],
            legs: list[m.Port], fips: list[m.FloatingIP]) -> dp.Router:
    gateway = None
    gw = ports.get(router.gw_port_id or "")
    found = _leg_address(gw, subnets) if gw is not None else None
    if gw is not None and found is not None:
        ip, sub = found
        gateway = dp.ExternalGateway(
            network_id=gw.network_id, port_id=gw.id, mac_address=gw.mac_address,
            ip_address=ip, prefixlen=ipam.network(sub.cidr).prefixlen,
            gateway_ip=sub.gateway_ip, enable_snat=router.enable_snat)
    interfaces = []
    for leg in legs:
        for alloc in leg.fixed_ips:
            on = subnets.get(alloc.subnet_id)
            if on is not None:
                interfaces.append(dp.RouterInterface(
                    port_id=leg.id, network_id=leg.network_id, subnet_id=on.id,
                    ip_address=alloc.ip_address, prefixlen=ipam.network(on.cidr).prefixlen,
                    mac_address=leg.mac_address))
    return dp.Router(
        id=router.id, project_id=router.project_id, admin_state_up=router.admin_state_up,
        gateway=gateway, interfaces=tuple(interfaces),
        routes=tuple(dp.HostRoute(r["destination"], r["nexthop"]) for r in router.routes),
        floating_ips=tuple(dp.FloatingIP(
            id=f.id, floating_ip_address=f.floating_ip_address,
            fixed_ip_address=f.fixed_ip_address or "", port_id=f.fixed_port_id or "",
            router_id=router.id) for f in fips if f.fixed_port_id and f.fixed_ip_address))


def build(s: Session, *, instance: str, host: str,
          metadata_socket: str = "") -> dp.DesiredState:
    """What this host should carry now, from one consistent read of the database."""
    networks = list(s.scalars(select(m.Network).options(selectinload(m.Network.subnets))
                              .order_by(m.Network.created_at, m.Network.id)))
    subnets = {sub.id: sub for net in networks for sub in net.subnets}
    mtu = {net.id: net.mtu for net in networks}
    ports = list(s.scalars(select(m.Port).options(
        selectinload(m.Port.fixed_ips), selectinload(m.Port.security_groups))
        .where(m.Port.device_owner != OWNER_FLOATINGIP)
        .order_by(m.Port.created_at, m.Port.id)))
    by_id = {p.id: p for p in ports}
    group_ids = {g.id for p in ports for g in p.security_groups}
    groups = list(s.scalars(select(m.SecurityGroup).options(
        selectinload(m.SecurityGroup.rules)).where(m.SecurityGroup.id.in_(group_ids))
        .order_by(m.SecurityGroup.created_at, m.SecurityGroup.id)))
    routers = list(s.scalars(select(m.Router).order_by(m.Router.created_at, m.Router.id)))
    fips = list(s.scalars(select(m.FloatingIP).where(m.FloatingIP.router_id.is_not(None))
                          .order_by(m.FloatingIP.created_at, m.FloatingIP.id)))
    return dp.DesiredState(
        instance=instance, host=host,
        networks=tuple(dp.Network(
            id=n.id, project_id=n.project_id, mtu=n.mtu, external=n.external,
            admin_state_up=n.admin_state_up, subnets=tuple(_subnet(x) for x in n.subnets))
            for n in networks),
        ports=tuple(_port(p, mtu.get(p.network_id, 1500)) for p in ports),
        security_groups=tuple(dp.SecurityGroup(
            id=g.id, project_id=g.project_id, rules=tuple(_rule(r) for r in g.rules),
            stateful=g.stateful) for g in groups),
        routers=tuple(_router(
            r, by_id, subnets,
            [p for p in ports if p.device_id == r.id and p.device_owner == OWNER_ROUTER_INTERFACE],
            [f for f in fips if f.router_id == r.id]) for r in routers),
        metadata=dp.MetadataSettings(upstream_socket=metadata_socket))


@dataclass(frozen=True)
class StatusChange:
    """A port bound to this host whose status the pass settles once applied: ``status``
    (ACTIVE, or DOWN while ``admin_state_up`` is false, as upstream's agents report
    it) unless the port changed meanwhile (``revision`` is the one read with the
    state: a later change has a pass of its own)."""

    port_id: str
    revision: int
    status: str


def status_changes(s: Session, host: str) -> list[StatusChange]:
    """Ports bound to ``host`` whose status is not yet what an applied pass makes it;
    read in the state's transaction."""
    rows = s.execute(select(m.Port.id, m.Port.revision_number, m.Port.admin_state_up,
                            m.Port.status)
                     .where(m.Port.host == host, m.Port.device_owner != OWNER_FLOATINGIP))
    out = []
    for port_id, revision, up, status in rows:
        wanted = "ACTIVE" if up else "DOWN"
        if status != wanted:
            out.append(StatusChange(port_id, revision, wanted))
    return out


def settle_status(s: Session, changes: list[StatusChange]) -> int:
    """Set each port's status unless it changed since it was read; how many were set."""
    done = 0
    for change in changes:
        result = s.execute(update(m.Port).where(
            m.Port.id == change.port_id, m.Port.revision_number == change.revision,
            m.Port.status != change.status).values(status=change.status))
        done += result.rowcount  # type: ignore[attr-defined]
    return done
