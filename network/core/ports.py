"""Ports: fixed IPs (chosen or allocated), MAC addresses, security groups, allowed
address pairs, port security and host binding.

A port the service makes for itself (DHCP, router interface and gateway, floating
IP address) goes through :func:`make_port`, which applies no policy; the API's
create and update go through :func:`create_port` / :func:`update_port`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from network import models as m
from network import quotas
from network.core import ipam, secgroups
from network.core.base import (
    OWNER_FLOATINGIP,
    ROUTER_OWNERS,
    Ctx,
    assign,
    get_network,
    service_port,
)
from network.errors import (
    AddressPairAndPortSecurityRequired,
    AllowedAddressPairExhausted,
    DuplicateAddressPairInRequest,
    InvalidInput,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
    L3PortInUse,
    MacAddressInUse,
    PortSecurityAndIPRequiredForSecurityGroups,
    PortSecurityPortHasSecurityGroup,
)
from network.policy import check_owner, deny, target_project

MAX_ADDRESS_PAIRS = 10


@dataclass(frozen=True)
class Want:
    """One entry of a port's requested ``fixed_ips``."""

    subnet_id: str | None = None
    ip_address: str | None = None


def used_ips(ctx: Ctx, subnet_id: str) -> set[int]:
    rows = ctx.s.scalars(select(m.IPAllocation.ip_address)
                         .where(m.IPAllocation.subnet_id == subnet_id))
    return {int(ipam.address(ip)) for ip in rows}


def _taken_by(ctx: Ctx, subnet_id: str, ip: str) -> str | None:
    return ctx.s.scalar(select(m.IPAllocation.port_id).where(
        m.IPAllocation.subnet_id == subnet_id, m.IPAllocation.ip_address == ip))


def _free_ip(ctx: Ctx, sub: m.Subnet, taken: set[int], mac: str,
             port_id: str | None) -> str | None:
    if sub.ip_version == 6 and sub.ipv6_address_mode in ipam.SLAAC_MODES:
        return ipam.eui64(ipam.network(sub.cidr), mac)
    skip = set(taken)
    for _ in range(64):  # another transaction may have taken it since we looked
        ip = ipam.first_free(sub.allocation_pools, used_ips(ctx, sub.id) | skip,
                             sub.ip_version)
        if ip is None or _taken_by(ctx, sub.id, ip) in (None, port_id):
            return ip
        skip.add(int(ipam.address(ip)))
    return None


def allocate(ctx: Ctx, net: m.Network, wanted: Sequence[Want] | None, mac: str,
             port_id: str | None = None) -> list[tuple[str, str]]:
    """(subnet id, address) of each fixed IP: the requested ones, checked, or by default
    one address of the first IPv4 subnet with room, one of the first stateful IPv6
    subnet, and the EUI-64 address of every SLAAC subnet. Addresses ``port_id``
    already holds count as free for it."""
    subnets = list(net.subnets)
    taken: set[int] = set()
    out: list[tuple[str, str]] = []

    def add(sub: m.Subnet, ip: str, asked: bool = False) -> None:
        """Take ``ip``; one the caller asked for must be free (one we chose was, when we
        looked: should another transaction take it first, the unique index refuses ours
        and the API tries the whole call again)."""
        value = int(ipam.address(ip))
        holder = _taken_by(ctx, sub.id, ip) if asked else None
        if value in taken or (holder is not None and holder != port_id):
            raise IpAddressAlreadyAllocated(ip, sub.id)
        taken.add(value)
        out.append((sub.id, ip))

    if wanted is None:
        for version in (4, 6):
            candidates = [s for s in subnets if s.ip_version == version and (
                version == 4 or s.ipv6_address_mode not in ipam.SLAAC_MODES)]
            for sub in candidates:
                ip = _free_ip(ctx, sub, taken, mac, port_id)
                if ip is not None:
                    add(sub, ip)
                    break
            else:
                if candidates:
                    raise IpAddressGenerationFailure(net.id)
        for sub in subnets:
            if sub.ip_version == 6 and sub.ipv6_address_mode in ipam.SLAAC_MODES:
                add(sub, ipam.eui64(ipam.network(sub.cidr), mac))
        return out
    by_id = {s.id: s for s in subnets}
    for want in wanted:
        if want.subnet_id is not None:
            named = by_id.get(want.subnet_id)
            if named is None:
                raise InvalidInput(f"Failed to create port on network {net.id}, because "
                                   f"fixed_ips included invalid subnet {want.subnet_id}")
            sub = named
        elif want.ip_address is not None:
            asked = ipam.address(want.ip_address)
            found = [s for s in subnets if asked.version == s.ip_version
                     and asked in ipam.network(s.cidr)]
            if not found:
                raise InvalidIpForNetwork(want.ip_address)
            sub = found[0]
        else:
            raise InvalidInput("Exceeded maximum amount of fixed ips per port or an entry "
                               "names neither subnet_id nor ip_address")
        if want.ip_address is not None:
            if not ipam.is_usable(ipam.network(sub.cidr), ipam.address(want.ip_address)):
                raise InvalidIpForSubnet(want.ip_address)
            add(sub, str(ipam.address(want.ip_address)), asked=True)
            continue
        ip = _free_ip(ctx, sub, taken, mac, port_id)
        if ip is None:
            raise IpAddressGenerationFailure(net.id)
        add(sub, ip)
    return out


def set_fixed_ips(ctx: Ctx, port: m.Port, net: m.Network, wanted: Sequence[Want] | None) -> None:
    """Give ``port`` exactly these fixed IPs, keeping those it already holds."""
    chosen = allocate(ctx, net, wanted, port.mac_address, port.id)
    keep = {(a.subnet_id, a.ip_address): a for a in port.fixed_ips}
    port.fixed_ips = [keep.get((sid, ip)) or m.IPAllocation(
        port_id=port.id, subnet_id=sid, network_id=net.id, ip_address=ip)
        for sid, ip in chosen]
    ctx.s.flush()


def _new_mac(ctx: Ctx, net_id: str) -> str:
    for _ in range(16):
        mac = ipam.random_mac(ctx.cfg.base_mac)
        if not _mac_taken(ctx, net_id, mac):
            return mac
    raise MacAddressInUse(net_id, mac)


def _mac_taken(ctx: Ctx, net_id: str, mac: str, but: str | None = None) -> bool:
    q = select(m.Port.id).where(m.Port.network_id == net_id, m.Port.mac_address == mac)
    found = ctx.s.scalar(q)
    return found is not None and found != but


def make_port(ctx: Ctx, net: m.Network, *, project_id: str, device_owner: str = "",
              device_id: str = "", fixed_ips: Sequence[Want] | None = None,
              mac: str | None = None, host: str = "", port_security: bool | None = None,
              groups: Sequence[m.SecurityGroup] = (), name: str = "",
              status: str = "DOWN") -> m.Port:
    """A port with its addresses, no policy applied (the caller decided)."""
    if mac is None:
        mac = _new_mac(ctx, net.id)
    elif _mac_taken(ctx, net.id, mac):
        raise MacAddressInUse(net.id, mac)
    port = m.Port(id=m.new_id(), project_id=project_id, network_id=net.id, name=name,
                  mac_address=mac, device_owner=device_owner, device_id=device_id,
                  host=host, status=status,
                  port_security_enabled=net.port_security_enabled if port_security is None
                  else port_security, tags=[], allowed_address_pairs=[], binding_profile={})
    ctx.s.add(port)
    port.security_groups = list(groups)
    try:
        ctx.s.flush()
    except IntegrityError:
        raise MacAddressInUse(net.id, mac) from None
    set_fixed_ips(ctx, port, net, fixed_ips)
    return port


def _address_pairs(pairs: list[dict[str, str]], mac: str) -> list[dict[str, str]]:
    if len(pairs) > MAX_ADDRESS_PAIRS:
        raise AllowedAddressPairExhausted(MAX_ADDRESS_PAIRS)
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for pair in pairs:
        entry = {"ip_address": pair["ip_address"], "mac_address": pair.get("mac_address") or mac}
        key = (entry["mac_address"], str(ipaddress.ip_network(entry["ip_address"],
                                                              strict=False)))
        if key in seen:
            raise DuplicateAddressPairInRequest(entry["mac_address"], entry["ip_address"])
        seen.add(key)
        out.append(entry)
    return out


def _groups(ctx: Ctx, ids: Sequence[str]) -> list[m.SecurityGroup]:
    return [secgroups.get_for_use(ctx, gid) for gid in dict.fromkeys(ids)]


def _check_network_owner_attrs(ctx: Ctx, net: m.Network, attrs: dict[str, Any],
                               action: str) -> None:
    """On a network the caller does not own (a shared or external one), only its owner
    or an admin chooses addresses, MACs, port security or a service device owner."""
    if ctx.caller.owns(net.project_id) or ctx.caller.privileged:
        return
    wants_ip = any(w.ip_address for w in attrs.get("fixed_ips") or [])
    for name, given in (("mac_address", "mac_address" in attrs),
                        ("fixed_ips:ip_address", wants_ip),
                        ("port_security_enabled", "port_security_enabled" in attrs),
                        ("device_owner", service_port(attrs.get("device_owner", "")))):
        if given:
            raise deny(f"{action}:{name}")


def _check_binding(ctx: Ctx, attrs: dict[str, Any], action: str) -> None:
    for name in ("host", "binding_profile"):
        if name in attrs and not ctx.caller.privileged:
            raise deny(f"{action}:binding:{'host_id' if name == 'host' else 'profile'}")


def create_port(ctx: Ctx, attrs: dict[str, Any]) -> m.Port:
    net = get_network(ctx, attrs["network_id"])
    project = target_project(ctx.caller, attrs, "port", service=True)
    _check_network_owner_attrs(ctx, net, attrs, "create_port")
    _check_binding(ctx, attrs, "create_port")
    quotas.check(ctx.s, ctx.cfg, project, {"port": 1})
    owner = attrs.get("device_owner", "")
    secure = attrs.get("port_security_enabled", net.port_security_enabled)
    if not secure and attrs.get("security_groups"):
        raise PortSecurityAndIPRequiredForSecurityGroups()
    if not secure and attrs.get("allowed_address_pairs"):
        raise AddressPairAndPortSecurityRequired()
    if "security_groups" in attrs:
        groups = _groups(ctx, attrs["security_groups"])
    elif secure and not service_port(owner):
        groups = [secgroups.ensure_default(ctx, project)]
    else:
        groups = []
    host = attrs.get("host", "")
    port = make_port(ctx, net, project_id=project, device_owner=owner,
                     device_id=attrs.get("device_id", ""), fixed_ips=attrs.get("fixed_ips"),
                     mac=attrs.get("mac_address"), host=host, port_security=secure,
                     groups=groups, name=attrs.get("name", ""),
                     status="ACTIVE" if host and ctx.instant_active else "DOWN")
    assign(port, attrs, ("description", "admin_state_up", "vnic_type", "binding_profile",
                         "tags"))
    port.allowed_address_pairs = _address_pairs(attrs.get("allowed_address_pairs") or [],
                                                port.mac_address)
    ctx.s.flush()
    return port


def update_port(ctx: Ctx, port: m.Port, attrs: dict[str, Any]) -> m.Port:
    check_owner(ctx.caller, port.project_id, "update_port", service=True)
    net = get_network(ctx, port.network_id)
    _check_network_owner_attrs(ctx, net, attrs, "update_port")
    _check_binding(ctx, attrs, "update_port")
    secure = attrs.get("port_security_enabled", port.port_security_enabled)
    if "security_groups" in attrs:
        groups = _groups(ctx, attrs["security_groups"])
    else:
        groups = list(port.security_groups)
    if not secure and groups:
        if "security_groups" in attrs:
            raise PortSecurityAndIPRequiredForSecurityGroups()
        raise PortSecurityPortHasSecurityGroup()
    pairs = attrs.get("allowed_address_pairs", port.allowed_address_pairs)
    if not secure and pairs:
        raise AddressPairAndPortSecurityRequired()
    if "mac_address" in attrs and attrs["mac_address"] != port.mac_address:
        if port.host and not ctx.caller.is_admin:
            raise deny("update_port:mac_address")
        if _mac_taken(ctx, net.id, attrs["mac_address"], port.id):
            raise MacAddressInUse(net.id, attrs["mac_address"])
        port.mac_address = attrs["mac_address"]
    if "fixed_ips" in attrs:
        set_fixed_ips(ctx, port, net, attrs["fixed_ips"])
    port.port_security_enabled = secure
    port.security_groups = groups
    if "allowed_address_pairs" in attrs:
        port.allowed_address_pairs = _address_pairs(pairs, port.mac_address)
    assign(port, attrs, ("name", "description", "admin_state_up", "device_id",
                         "device_owner", "host", "vnic_type", "binding_profile"))
    if "host" in attrs:
        port.status = "ACTIVE" if port.host and ctx.instant_active else "DOWN"
    port.touch()
    ctx.s.flush()
    return port


def remove_port(ctx: Ctx, port: m.Port) -> None:
    """Delete a port and what hangs on it: its addresses, group memberships, and the
    association of any floating IP that pointed at it."""
    for fip in ctx.s.scalars(select(m.FloatingIP).where(m.FloatingIP.fixed_port_id == port.id)):
        fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
        fip.touch()
    port.security_groups = []
    ctx.s.delete(port)
    ctx.s.flush()


def delete_port(ctx: Ctx, port: m.Port) -> None:
    check_owner(ctx.caller, port.project_id, "delete_port", service=True)
    if port.device_owner in (*ROUTER_OWNERS, OWNER_FLOATINGIP):
        raise L3PortInUse(port.id, port.device_owner)
    remove_port(ctx, port)
