"""What every rule of the networking core shares: the context of one operation, the
visibility of each kind of row, and lookups that answer 404 for what the caller
cannot see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from common.config import NetworkConfig
from common.errors import StrataError
from network import models as m
from network.errors import (
    FloatingIPNotFound,
    NetworkNotFound,
    PortNotFound,
    RouterNotFound,
    SecurityGroupNotFound,
    SecurityGroupRuleNotFound,
    SubnetNotFound,
    SubnetPoolNotFound,
)
from network.policy import Caller

T = TypeVar("T")

# Device owners (as in the data path's contract) of the ports the service makes itself.
OWNER_DHCP = "network:dhcp"
OWNER_ROUTER_INTERFACE = "network:router_interface"
OWNER_ROUTER_GATEWAY = "network:router_gateway"
OWNER_FLOATINGIP = "network:floatingip"
ROUTER_OWNERS = (OWNER_ROUTER_INTERFACE, OWNER_ROUTER_GATEWAY)


@dataclass
class Ctx:
    """One operation: its transaction, its caller, the service's settings."""

    s: Session
    caller: Caller
    cfg: NetworkConfig
    host: str = ""  # this host's agent: DHCP and router ports are bound to it
    # No data path runs here: a port bound to a host is ACTIVE at once, not when plugged.
    instant_active: bool = True


def service_port(owner: str) -> bool:
    return owner.startswith("network:")


# -- visibility ---------------------------------------------------------------------


def networks_query(caller: Caller) -> Select[Any]:
    q = select(m.Network).options(selectinload(m.Network.subnets))
    if caller.privileged:
        return q
    return q.where(or_(m.Network.project_id == (caller.project_id or ""),
                       m.Network.shared.is_(True), m.Network.external.is_(True)))


def subnets_query(caller: Caller) -> Select[Any]:
    q = select(m.Subnet)
    if caller.privileged:
        return q
    shared = select(m.Network.id).where(m.Network.shared.is_(True))
    return q.where(or_(m.Subnet.project_id == (caller.project_id or ""),
                       m.Subnet.network_id.in_(shared)))


def subnetpools_query(caller: Caller) -> Select[Any]:
    q = select(m.SubnetPool)
    if caller.is_admin:
        return q
    return q.where(or_(m.SubnetPool.project_id == (caller.project_id or ""),
                       m.SubnetPool.shared.is_(True)))


def ports_query(caller: Caller) -> Select[Any]:
    q = select(m.Port).options(selectinload(m.Port.fixed_ips),
                               selectinload(m.Port.security_groups))
    if caller.privileged:
        return q
    return q.where(m.Port.project_id == (caller.project_id or ""),
                   m.Port.project_id != "")


def owned_query(caller: Caller, model: type[Any]) -> Select[Any]:
    """Rows of a kind only their project (and admins) see: routers, floating IPs,
    security groups and their rules."""
    q = select(model)
    if caller.is_admin:
        return q
    column: Any = getattr(model, "project_id")  # noqa: B009 (a mapped column)
    return q.where(column == (caller.project_id or ""))


def _one(s: Session, query: Select[Any], model: type[T], ident: str,
         missing: Callable[[str], StrataError]) -> T:
    column: Any = getattr(model, "id")  # noqa: B009 (a mapped column)
    row: T | None = s.scalar(query.where(column == ident))
    if row is None:
        raise missing(ident)
    return row


def get_network(ctx: Ctx, ident: str) -> m.Network:
    return _one(ctx.s, networks_query(ctx.caller), m.Network, ident, NetworkNotFound)


def get_subnet(ctx: Ctx, ident: str) -> m.Subnet:
    return _one(ctx.s, subnets_query(ctx.caller), m.Subnet, ident, SubnetNotFound)


def get_subnetpool(ctx: Ctx, ident: str) -> m.SubnetPool:
    return _one(ctx.s, subnetpools_query(ctx.caller), m.SubnetPool, ident, SubnetPoolNotFound)


def get_port(ctx: Ctx, ident: str) -> m.Port:
    return _one(ctx.s, ports_query(ctx.caller), m.Port, ident, PortNotFound)


def get_router(ctx: Ctx, ident: str) -> m.Router:
    return _one(ctx.s, owned_query(ctx.caller, m.Router), m.Router, ident, RouterNotFound)


def get_floatingip(ctx: Ctx, ident: str) -> m.FloatingIP:
    return _one(ctx.s, owned_query(ctx.caller, m.FloatingIP), m.FloatingIP, ident,
                FloatingIPNotFound)


def get_security_group(ctx: Ctx, ident: str) -> m.SecurityGroup:
    return _one(ctx.s, owned_query(ctx.caller, m.SecurityGroup), m.SecurityGroup, ident,
                SecurityGroupNotFound)


def get_security_group_rule(ctx: Ctx, ident: str) -> m.SecurityGroupRule:
    return _one(ctx.s, owned_query(ctx.caller, m.SecurityGroupRule), m.SecurityGroupRule,
                ident, SecurityGroupRuleNotFound)


def assign(row: Any, attrs: dict[str, Any], names: tuple[str, ...]) -> None:
    """Copy the given ``names`` present in ``attrs`` onto ``row``."""
    for name in names:
        if name in attrs:
            setattr(row, name, attrs[name])
