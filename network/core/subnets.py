"""Subnets (IPv4 and IPv6: CIDR, gateway, allocation pools, DNS servers, host routes,
DHCP) and subnet pools (prefixes handed out to subnets on create).

Checks as upstream: a subnet's CIDR matches its IP version (400) and overlaps no
other subnet of its network (``SubnetOverlaps``, 409 where upstream says 400: the
networking issue's acceptance asks for a conflict); its gateway is a usable address
of the CIDR (400); pools lie in the CIDR, apart from each other and from the
gateway (400/409). Subnets of one pool never overlap, whatever their network.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from network import models as m
from network import quotas
from network.core import ipam, networks
from network.core.base import (
    OWNER_DHCP,
    OWNER_ROUTER_INTERFACE,
    Ctx,
    assign,
    get_network,
    get_subnetpool,
)
from network.errors import (
    BadRequestError,
    DNSNameServersExhausted,
    GatewayIpInUse,
    HostRoutesExhausted,
    IllegalSubnetPoolPrefixBounds,
    IllegalSubnetPoolUpdate,
    InvalidInput,
    PrefixVersionMismatch,
    SubnetAllocationError,
    SubnetInUse,
    SubnetOverlaps,
    SubnetPoolInUse,
)
from network.policy import check_admin, check_owner, deny, target_project

MAX_DNS_NAMESERVERS = 5
MAX_HOST_ROUTES = 20
V6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


def _pool_for(ctx: Ctx, attrs: dict[str, Any], version: int | None) -> m.SubnetPool | None:
    if attrs.get("subnetpool_id"):
        return get_subnetpool(ctx, attrs["subnetpool_id"])
    if attrs.get("use_default_subnetpool"):
        if version is None:
            raise BadRequestError("subnets", "ip_version must be specified in the absence "
                                  "of cidr and subnetpool_id")
        pool = ctx.s.scalar(select(m.SubnetPool).where(
            m.SubnetPool.is_default.is_(True), m.SubnetPool.ip_version == version))
        if pool is None:
            raise BadRequestError("subnets", f"No default subnetpool found for IPv{version}")
        return pool
    return None


def _pool_used(ctx: Ctx, pool: m.SubnetPool) -> list[ipam.IPNetwork]:
    rows = ctx.s.scalars(select(m.Subnet.cidr).where(m.Subnet.subnetpool_id == pool.id))
    return [ipam.network(c) for c in rows]


def _cidr_from_pool(ctx: Ctx, pool: m.SubnetPool, cidr: str | None,
                    prefixlen: int | None) -> ipam.IPNetwork:
    prefixes = [ipam.network(p) for p in pool.prefixes]
    used = _pool_used(ctx, pool)
    if cidr is not None:
        net = ipam.network(cidr)
        if not any(ipam.subnet_of(net, p) for p in prefixes):
            raise SubnetAllocationError(f"Cidr {cidr} is not within the prefixes of subnet "
                                        f"pool {pool.id}")
        if any(ipam.overlaps(net, u) for u in used):
            raise SubnetAllocationError(f"Cidr {cidr} overlaps a subnet of subnet pool "
                                        f"{pool.id}")
        return net
    length = pool.default_prefixlen if prefixlen is None else prefixlen
    if not pool.min_prefixlen <= length <= pool.max_prefixlen:
        raise InvalidInput(f"Prefix length {length} is outside the bounds "
                           f"[{pool.min_prefixlen}, {pool.max_prefixlen}] of subnet pool "
                           f"{pool.id}")
    found = ipam.allocate_prefix(prefixes, used, length)
    if found is None:
        raise SubnetAllocationError(f"Insufficient prefix space to allocate subnet size /"
                                    f"{length}")
    return found


def _check_lists(attrs: dict[str, Any], ident: str, version: int) -> None:
    dns = attrs.get("dns_nameservers") or []
    if len(dns) > MAX_DNS_NAMESERVERS:
        raise DNSNameServersExhausted(ident, MAX_DNS_NAMESERVERS)
    routes = attrs.get("host_routes") or []
    if len(routes) > MAX_HOST_ROUTES:
        raise HostRoutesExhausted(ident, MAX_HOST_ROUTES)
    for route in routes:
        if ipam.network(route["destination"]).version != version or \
                ipam.address(route["nexthop"]).version != version:
            raise InvalidInput(f"Host route {route} does not match the subnet's IP version")
    for server in dns:
        if ipam.address(server).version != version:
            raise InvalidInput(f"DNS nameserver {server} does not match the subnet's IP "
                               "version")


def _check_v6_modes(attrs: dict[str, Any], version: int) -> None:
    ra, addr = attrs.get("ipv6_ra_mode"), attrs.get("ipv6_address_mode")
    if version == 4 and (ra or addr):
        raise InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when "
                           "ip_version is 4")
    if ra and addr and ra != addr:
        raise InvalidInput(f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to "
                           f"'{addr}' is not valid. If both attributes are set, they must be "
                           "the same value")


def create_subnet(ctx: Ctx, attrs: dict[str, Any]) -> m.Subnet:
    net = get_network(ctx, attrs["network_id"])
    project = target_project(ctx.caller, attrs, "subnet")
    if not ctx.caller.is_admin and net.project_id != project:
        raise deny("create_subnet")
    version = attrs.get("ip_version")
    pool = _pool_for(ctx, attrs, version)
    if pool is not None:
        if version is not None and version != pool.ip_version:
            raise InvalidInput(f"Subnet pool {pool.id} is IPv{pool.ip_version}, the subnet "
                               f"asks for IPv{version}")
        version = pool.ip_version
        cidr = _cidr_from_pool(ctx, pool, attrs.get("cidr"), attrs.get("prefixlen"))
    elif attrs.get("cidr") is None:
        raise BadRequestError("subnets", "a subnetpool must be specified in the absence of "
                              "a cidr")
    else:
        cidr = ipam.network(attrs["cidr"])
    if version is None:
        raise BadRequestError("subnets", "ip_version must be specified")
    if cidr.version != version:
        raise InvalidInput(f"Invalid CIDR {cidr} for IP version {version}")
    if cidr.prefixlen == 0:
        raise InvalidInput("0 is not allowed as CIDR prefix length")
    for other in net.subnets:
        if ipam.overlaps(ipam.network(other.cidr), cidr):
            raise SubnetOverlaps(str(cidr), net.id)
    _check_v6_modes(attrs, version)
    _check_lists(attrs, "subnet", version)
    gateway = attrs["gateway_ip"] if "gateway_ip" in attrs else ipam.default_gateway(cidr)
    if gateway is not None:
        ipam.validate_gateway(cidr, gateway)
    if "allocation_pools" in attrs:
        pools = attrs["allocation_pools"]
        ipam.validate_pools(cidr, pools, gateway)
    else:
        pools = ipam.default_pools(cidr, gateway)
    quotas.check(ctx.s, ctx.cfg, project, {"subnet": 1})
    sub = m.Subnet(id=m.new_id(), project_id=project, network_id=net.id, ip_version=version,
                   cidr=str(cidr), gateway_ip=gateway, allocation_pools=pools,
                   subnetpool_id=pool.id if pool is not None else None, tags=[],
                   dns_nameservers=[], host_routes=[])
    assign(sub, attrs, ("name", "description", "enable_dhcp", "dns_nameservers", "host_routes",
                        "ipv6_ra_mode", "ipv6_address_mode", "tags"))
    net.subnets.append(sub)
    ctx.s.flush()
    networks.sync_dhcp(ctx, net)
    return sub


def _router_port_on(ctx: Ctx, sub: m.Subnet, ip: str) -> str | None:
    return ctx.s.scalar(select(m.Port.id).join(m.IPAllocation).where(
        m.IPAllocation.subnet_id == sub.id, m.IPAllocation.ip_address == ip,
        m.Port.device_owner == OWNER_ROUTER_INTERFACE))


def update_subnet(ctx: Ctx, sub: m.Subnet, attrs: dict[str, Any]) -> m.Subnet:
    check_owner(ctx.caller, sub.project_id, "update_subnet")
    cidr = ipam.network(sub.cidr)
    _check_lists(attrs, sub.id, sub.ip_version)
    gateway = attrs.get("gateway_ip", sub.gateway_ip)
    if "gateway_ip" in attrs and gateway != sub.gateway_ip:
        if sub.gateway_ip is not None:
            holder = _router_port_on(ctx, sub, sub.gateway_ip)
            if holder is not None:
                raise GatewayIpInUse(sub.gateway_ip, holder)
        if gateway is not None:
            ipam.validate_gateway(cidr, gateway)
    pools = attrs.get("allocation_pools", sub.allocation_pools)
    if "allocation_pools" in attrs or "gateway_ip" in attrs:
        ipam.validate_pools(cidr, pools, gateway)
    sub.gateway_ip = gateway
    sub.allocation_pools = pools
    assign(sub, attrs, ("name", "description", "enable_dhcp", "dns_nameservers",
                        "host_routes"))
    sub.touch()
    ctx.s.flush()
    net = ctx.s.get(m.Network, sub.network_id)
    assert net is not None
    networks.sync_dhcp(ctx, net)
    return sub


def delete_subnet(ctx: Ctx, sub: m.Subnet) -> None:
    check_owner(ctx.caller, sub.project_id, "delete_subnet")
    users = ctx.s.execute(select(m.Port.id, m.Port.device_owner).join(m.IPAllocation).where(
        m.IPAllocation.subnet_id == sub.id)).all()
    for _, owner in users:
        if owner == OWNER_ROUTER_INTERFACE:
            raise SubnetInUse(sub.id, "One or more router interfaces use this subnet")
        if owner != OWNER_DHCP:
            raise SubnetInUse(sub.id)
    net = ctx.s.get(m.Network, sub.network_id)
    assert net is not None
    networks.sync_dhcp(ctx, net, without=sub.id)
    net.subnets.remove(sub)
    ctx.s.delete(sub)
    ctx.s.flush()


# -- subnet pools ------------------------------------------------------------------------


def _bounds(version: int, prefixes: list[ipam.IPNetwork], lo: int, default: int,
            hi: int) -> None:
    bits = 32 if version == 4 else 128
    if not 0 <= lo <= bits:
        raise IllegalSubnetPoolPrefixBounds("min_prefixlen", lo, "max_prefixlen", bits)
    if hi > bits:
        raise IllegalSubnetPoolPrefixBounds("max_prefixlen", hi, "prefix bits", bits)
    if lo > hi:
        raise IllegalSubnetPoolPrefixBounds("min_prefixlen", lo, "max_prefixlen", hi)
    if not lo <= default <= hi:
        raise IllegalSubnetPoolPrefixBounds("default_prefixlen", default, "min_prefixlen",
                                            lo)
    shortest = min(p.prefixlen for p in prefixes)
    if lo < shortest:
        raise IllegalSubnetPoolPrefixBounds("min_prefixlen", lo, "prefixes", shortest)


def _prefixes(values: list[str]) -> list[ipam.IPNetwork]:
    nets = [ipam.network(p) for p in values]
    if not nets:
        raise InvalidInput("A subnet pool needs at least one prefix")
    if len({n.version for n in nets}) > 1:
        raise PrefixVersionMismatch()
    return ipam.collapse(nets)


def create_subnetpool(ctx: Ctx, attrs: dict[str, Any]) -> m.SubnetPool:
    project = target_project(ctx.caller, attrs, "subnetpool")
    for name in ("shared", "is_default"):
        if attrs.get(name):
            check_admin(ctx.caller, f"create_subnetpool:{name}")
    prefixes = _prefixes(attrs["prefixes"])
    version = prefixes[0].version
    shortest = min(p.prefixlen for p in prefixes)
    lo = attrs.get("min_prefixlen", shortest)
    hi = attrs.get("max_prefixlen", 32 if version == 4 else 128)
    default = attrs.get("default_prefixlen", lo)
    _bounds(version, prefixes, lo, default, hi)
    quotas.check(ctx.s, ctx.cfg, project, {"subnetpool": 1})
    if attrs.get("is_default"):
        _clear_default(ctx, version)
    pool = m.SubnetPool(id=m.new_id(), project_id=project, ip_version=version,
                        prefixes=[str(p) for p in prefixes], min_prefixlen=lo,
                        max_prefixlen=hi, default_prefixlen=default, tags=[])
    assign(pool, attrs, ("name", "description", "shared", "is_default", "default_quota",
                         "tags"))
    ctx.s.add(pool)
    ctx.s.flush()
    return pool


def _clear_default(ctx: Ctx, version: int) -> None:
    for other in ctx.s.scalars(select(m.SubnetPool).where(
            m.SubnetPool.is_default.is_(True), m.SubnetPool.ip_version == version)):
        other.is_default = False


def update_subnetpool(ctx: Ctx, pool: m.SubnetPool, attrs: dict[str, Any]) -> m.SubnetPool:
    check_owner(ctx.caller, pool.project_id, "update_subnetpool")
    if "is_default" in attrs and attrs["is_default"] != pool.is_default:
        check_admin(ctx.caller, "update_subnetpool:is_default")
        if attrs["is_default"]:
            _clear_default(ctx, pool.ip_version)
    prefixes = [ipam.network(p) for p in pool.prefixes]
    if "prefixes" in attrs:
        new = _prefixes(attrs["prefixes"])
        if new[0].version != pool.ip_version:
            raise PrefixVersionMismatch()
        if any(not any(ipam.subnet_of(old, n) for n in new) for old in prefixes):
            raise IllegalSubnetPoolUpdate("Existing prefixes must be a subset of the new "
                                          "prefixes")
        prefixes = new
    lo = attrs.get("min_prefixlen", pool.min_prefixlen)
    hi = attrs.get("max_prefixlen", pool.max_prefixlen)
    default = attrs.get("default_prefixlen", pool.default_prefixlen)
    _bounds(pool.ip_version, prefixes, lo, default, hi)
    pool.prefixes = [str(p) for p in prefixes]
    pool.min_prefixlen, pool.max_prefixlen, pool.default_prefixlen = lo, hi, default
    assign(pool, attrs, ("name", "description", "is_default", "default_quota"))
    pool.touch()
    return pool


def delete_subnetpool(ctx: Ctx, pool: m.SubnetPool) -> None:
    check_owner(ctx.caller, pool.project_id, "delete_subnetpool")
    if ctx.s.scalar(select(m.Subnet.id).where(m.Subnet.subnetpool_id == pool.id)) is not None:
        raise SubnetPoolInUse(pool.id, "Subnet pool has existing allocations")
    ctx.s.delete(pool)
    ctx.s.flush()
