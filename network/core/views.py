"""Rows as the Networking API v2.0 shows them: the exact fields of the API reference
for the extensions this service lists at ``/v2.0/extensions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from network import models as m
from network.dataplane.model import bridge_name
from network.policy import Caller

AVAILABILITY_ZONE = "nova"


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def standard(row: m.Standard) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id, "project_id": row.project_id, "tenant_id": row.project_id,
        "description": row.description, "revision_number": row.revision_number,
        "created_at": stamp(row.created_at), "updated_at": stamp(row.updated_at),
    }
    if isinstance(row, m.Tagged):
        out["tags"] = list(row.tags)
    return out


def network(net: m.Network) -> dict[str, Any]:
    return {
        **standard(net), "name": net.name, "admin_state_up": net.admin_state_up,
        "status": net.status, "shared": net.shared, "router:external": net.external,
        "mtu": net.mtu, "port_security_enabled": net.port_security_enabled,
        "subnets": [s.id for s in net.subnets],
        "availability_zone_hints": list(net.availability_zone_hints),
        "availability_zones": [AVAILABILITY_ZONE],
    }


def subnet(sub: m.Subnet) -> dict[str, Any]:
    return {
        **standard(sub), "name": sub.name, "network_id": sub.network_id,
        "ip_version": sub.ip_version, "cidr": sub.cidr, "gateway_ip": sub.gateway_ip,
        "enable_dhcp": sub.enable_dhcp, "dns_nameservers": list(sub.dns_nameservers),
        "host_routes": [dict(r) for r in sub.host_routes],
        "allocation_pools": [dict(p) for p in sub.allocation_pools],
        "ipv6_ra_mode": sub.ipv6_ra_mode, "ipv6_address_mode": sub.ipv6_address_mode,
        "subnetpool_id": sub.subnetpool_id,
    }


def subnetpool(pool: m.SubnetPool) -> dict[str, Any]:
    return {
        **standard(pool), "name": pool.name, "ip_version": pool.ip_version,
        "prefixes": list(pool.prefixes), "default_prefixlen": pool.default_prefixlen,
        "min_prefixlen": pool.min_prefixlen, "max_prefixlen": pool.max_prefixlen,
        "default_quota": pool.default_quota, "shared": pool.shared,
        "is_default": pool.is_default, "address_scope_id": pool.address_scope_id,
    }


def vif(port: m.Port) -> tuple[str, dict[str, Any]]:
    """``binding:vif_type`` and ``binding:vif_details`` of a port: a tap on the
    network's Linux bridge once bound to a host, as the linuxbridge agent's."""
    if not port.host:
        return "unbound", {}
    return "bridge", {"port_filter": True, "connectivity": "l2",
                      "bridge_name": bridge_name(port.network_id)}


def port(p: m.Port, caller: Caller) -> dict[str, Any]:
    out: dict[str, Any] = {
        **standard(p), "name": p.name, "network_id": p.network_id,
        "mac_address": p.mac_address, "admin_state_up": p.admin_state_up,
        "status": p.status, "device_id": p.device_id, "device_owner": p.device_owner,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                      for a in p.fixed_ips],
        "allowed_address_pairs": [dict(x) for x in p.allowed_address_pairs],
        "security_groups": [g.id for g in p.security_groups],
        "port_security_enabled": p.port_security_enabled,
    }
    if caller.privileged:  # binding attributes: admins and services only, as upstream
        vif_type, details = vif(p)
        out.update({"binding:host_id": p.host, "binding:vnic_type": p.vnic_type,
                    "binding:profile": dict(p.binding_profile),
                    "binding:vif_type": vif_type, "binding:vif_details": details})
    return out


def router(r: m.Router, gw_port: m.Port | None) -> dict[str, Any]:
    gateway = None
    if gw_port is not None:
        gateway = {"network_id": gw_port.network_id, "enable_snat": r.enable_snat,
                   "external_fixed_ips": [{"subnet_id": a.subnet_id,
                                           "ip_address": a.ip_address}
                                          for a in gw_port.fixed_ips]}
    return {
        **standard(r), "name": r.name, "admin_state_up": r.admin_state_up,
        "status": r.status, "external_gateway_info": gateway,
        "routes": [dict(x) for x in r.routes],
    }


def floatingip(fip: m.FloatingIP, fixed_port: m.Port | None) -> dict[str, Any]:
    details = None
    if fixed_port is not None:
        details = {"name": fixed_port.name, "network_id": fixed_port.network_id,
                   "mac_address": fixed_port.mac_address,
                   "admin_state_up": fixed_port.admin_state_up,
                   "status": fixed_port.status, "device_id": fixed_port.device_id,
                   "device_owner": fixed_port.device_owner}
    return {
        **standard(fip), "floating_network_id": fip.floating_network_id,
        "floating_ip_address": fip.floating_ip_address, "port_id": fip.fixed_port_id,
        "fixed_ip_address": fip.fixed_ip_address, "router_id": fip.router_id,
        "status": "ACTIVE" if fip.fixed_port_id else "DOWN", "port_details": details,
    }


def security_group_rule(rule: m.SecurityGroupRule) -> dict[str, Any]:
    return {
        **standard(rule), "security_group_id": rule.security_group_id,
        "direction": rule.direction, "ethertype": rule.ethertype,
        "protocol": rule.protocol, "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max, "remote_ip_prefix": rule.remote_ip_prefix,
        "remote_group_id": rule.remote_group_id,
    }


def security_group(sg: m.SecurityGroup) -> dict[str, Any]:
    return {
        **standard(sg), "name": sg.name, "stateful": sg.stateful,
        "security_group_rules": [security_group_rule(r) for r in sg.rules],
    }
