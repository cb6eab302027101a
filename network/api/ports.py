"""Ports."""

from __future__ import annotations

from typing import Any

from network import models as m
from network.api import attributes
from network.api.networks import STANDARD
from network.api.resources import Kind
from network.core import ports, views
from network.core.base import Ctx, get_port, ports_query
from network.errors import HTTPBadRequest, PortNotFound

FIXED_IP_KEYS = ("ip_address", "subnet_id", "ip_address_substr")


def fixed_ips_filter(item: dict[str, Any], values: list[str]) -> bool:
    """``fixed_ips=ip_address=A&fixed_ips=subnet_id=S``: one of the port's fixed IPs has
    one of the given addresses (or contains a given ``ip_address_substr``) and is on one
    of the given subnets."""
    wanted: dict[str, set[str]] = {}
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep or key not in FIXED_IP_KEYS:
            raise HTTPBadRequest(f"Invalid input for fixed_ips. Reason: '{value}' is not of "
                                 "the form ip_address=..., subnet_id=... or "
                                 "ip_address_substr=....")
        wanted.setdefault(key, set()).add(arg)

    def fits(fixed: dict[str, str]) -> bool:
        return (("ip_address" not in wanted or fixed["ip_address"] in wanted["ip_address"])
                and ("subnet_id" not in wanted or fixed["subnet_id"] in wanted["subnet_id"])
                and ("ip_address_substr" not in wanted or any(
                    s in fixed["ip_address"] for s in wanted["ip_address_substr"])))

    return any(fits(f) for f in item.get("fixed_ips", []))


def _rows(ctx: Ctx) -> list[m.Port]:
    return list(ctx.s.scalars(ports_query(ctx.caller).order_by(m.Port.created_at, m.Port.id)))


PORTS = Kind(
    path="ports", collection="ports", member="port", spec=attributes.PORT,
    fields=(*STANDARD, "name", "network_id", "mac_address", "admin_state_up", "status",
            "device_id", "device_owner", "fixed_ips", "allowed_address_pairs",
            "security_groups", "port_security_enabled", "binding:host_id",
            "binding:vnic_type", "binding:profile", "binding:vif_type",
            "binding:vif_details"),
    missing=PortNotFound, rows=_rows, one=get_port,
    render=lambda ctx, rows: [views.port(r, ctx.caller) for r in rows],
    create=ports.create_port, update=ports.update_port, delete=ports.delete_port,
    special={"fixed_ips": fixed_ips_filter})

KINDS = (PORTS,)
