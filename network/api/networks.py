"""Networks, subnets and subnet pools."""

from __future__ import annotations

from typing import Any

from network import models as m
from network.api import attributes
from network.api.resources import Kind
from network.core import networks, subnets, views
from network.core.base import (
    Ctx,
    get_network,
    get_subnet,
    get_subnetpool,
    networks_query,
    subnetpools_query,
    subnets_query,
)
from network.errors import NetworkNotFound, SubnetNotFound, SubnetPoolNotFound

STANDARD = ("id", "project_id", "tenant_id", "description", "revision_number", "created_at",
            "updated_at", "tags")


def _rows(query: Any, model: Any) -> Any:
    def rows(ctx: Ctx) -> list[Any]:
        return list(ctx.s.scalars(query(ctx.caller).order_by(model.created_at, model.id)))
    return rows


NETWORKS = Kind(
    path="networks", collection="networks", member="network", spec=attributes.NETWORK,
    fields=(*STANDARD, "name", "admin_state_up", "status", "shared", "router:external",
            "mtu", "port_security_enabled", "subnets", "availability_zone_hints",
            "availability_zones"),
    missing=NetworkNotFound, rows=_rows(networks_query, m.Network), one=get_network,
    render=lambda ctx, rows: [views.network(r) for r in rows],
    create=networks.create_network, update=networks.update_network,
    delete=networks.delete_network)

SUBNETS = Kind(
    path="subnets", collection="subnets", member="subnet", spec=attributes.SUBNET,
    fields=(*STANDARD, "name", "network_id", "ip_version", "cidr", "gateway_ip",
            "enable_dhcp", "dns_nameservers", "host_routes", "allocation_pools",
            "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id"),
    missing=SubnetNotFound, rows=_rows(subnets_query, m.Subnet), one=get_subnet,
    render=lambda ctx, rows: [views.subnet(r) for r in rows],
    create=subnets.create_subnet, update=subnets.update_subnet,
    delete=subnets.delete_subnet)

SUBNETPOOLS = Kind(
    path="subnetpools", collection="subnetpools", member="subnetpool",
    spec=attributes.SUBNETPOOL,
    fields=(*STANDARD, "name", "ip_version", "prefixes", "default_prefixlen", "min_prefixlen",
            "max_prefixlen", "default_quota", "shared", "is_default", "address_scope_id"),
    missing=SubnetPoolNotFound, rows=_rows(subnetpools_query, m.SubnetPool),
    one=get_subnetpool, render=lambda ctx, rows: [views.subnetpool(r) for r in rows],
    create=subnets.create_subnetpool, update=subnets.update_subnetpool,
    delete=subnets.delete_subnetpool)

KINDS = (NETWORKS, SUBNETS, SUBNETPOOLS)
