"""Security groups and their rules, with Neutron's validation and its ``default`` group.

Every project gets a group named ``default`` on first use (listing its groups,
creating a network or a port): egress open for IPv4 and IPv6, ingress only from
members of the same group. A new group starts with the two egress rules. The
data path enforces the rules with connection tracking (replies pass).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from network import models as m
from network import quotas
from network.core.base import Ctx, assign, get_security_group
from network.errors import (
    SecurityGroupCannotRemoveDefault,
    SecurityGroupCannotUpdateDefault,
    SecurityGroupDefaultAlreadyExists,
    SecurityGroupEthertypeConflictWithProtocol,
    SecurityGroupInUse,
    SecurityGroupInvalidIcmpValue,
    SecurityGroupInvalidPortRange,
    SecurityGroupInvalidPortValue,
    SecurityGroupInvalidProtocolForPortRange,
    SecurityGroupMissingIcmpType,
    SecurityGroupProtocolRequiredWithPorts,
    SecurityGroupRemoteGroupAndRemoteIpPrefix,
    SecurityGroupRuleExists,
    SecurityGroupRuleInvalidEtherType,
    SecurityGroupRuleInvalidProtocol,
    SecurityGroupRuleParameterConflict,
)
from network.policy import check_owner, target_project

# IP protocols a rule may name (IANA names as Neutron accepts them); or 0-255.
PROTOCOLS = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1,
    "igmp": 2, "ip": 0, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58,
    "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89,
    "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}  # tcp, udp, dccp, sctp, udplite
ICMP_PROTOCOLS = {1, 58}
IPV6_ONLY = {"ipv6-icmp", "icmpv6", "ipv6-encap", "ipv6-frag", "ipv6-nonxt", "ipv6-opts",
             "ipv6-route", "58"}
ETHERTYPES = {"ipv4": "IPv4", "ipv6": "IPv6"}
DEFAULT_NAME = "default"


def _rule(sg: m.SecurityGroup, direction: str, ethertype: str,
          remote_group_id: str | None = None) -> m.SecurityGroupRule:
    return m.SecurityGroupRule(id=m.new_id(), project_id=sg.project_id,
                               security_group_id=sg.id, direction=direction,
                               ethertype=ethertype, remote_group_id=remote_group_id)


def _egress_rules(sg: m.SecurityGroup) -> list[m.SecurityGroupRule]:
    return [_rule(sg, "egress", "IPv4"), _rule(sg, "egress", "IPv6")]


def ensure_default(ctx: Ctx, project_id: str) -> m.SecurityGroup:
    """The project's ``default`` group, made now if it has none."""
    row = ctx.s.get(m.DefaultSecurityGroup, project_id)
    if row is not None:
        sg = ctx.s.get(m.SecurityGroup, row.security_group_id)
        assert sg is not None
        return sg
    sg = m.SecurityGroup(id=m.new_id(), project_id=project_id, name=DEFAULT_NAME,
                         description="Default security group", tags=[])
    ctx.s.add(sg)
    sg.rules = [*_egress_rules(sg), _rule(sg, "ingress", "IPv4", sg.id),
                _rule(sg, "ingress", "IPv6", sg.id)]
    try:
        with ctx.s.begin_nested():
            ctx.s.add(m.DefaultSecurityGroup(project_id=project_id, security_group_id=sg.id))
            ctx.s.flush()
    except IntegrityError:  # made meanwhile by another transaction (PostgreSQL)
        ctx.s.expunge(sg)
        return ensure_default(ctx, project_id)
    return sg


def is_default(ctx: Ctx, sg: m.SecurityGroup) -> bool:
    row = ctx.s.get(m.DefaultSecurityGroup, sg.project_id)
    return row is not None and row.security_group_id == sg.id


def get_for_use(ctx: Ctx, ident: str) -> m.SecurityGroup:
    """A group a port of the caller may join (visible to the caller)."""
    return get_security_group(ctx, ident)


def create_group(ctx: Ctx, attrs: dict[str, Any]) -> m.SecurityGroup:
    project = target_project(ctx.caller, attrs, "security_group")
    ensure_default(ctx, project)
    if attrs.get("name") == DEFAULT_NAME:
        raise SecurityGroupDefaultAlreadyExists()
    quotas.check(ctx.s, ctx.cfg, project, {"security_group": 1})
    sg = m.SecurityGroup(id=m.new_id(), project_id=project, tags=[])
    assign(sg, attrs, ("name", "description", "stateful", "tags"))
    ctx.s.add(sg)
    sg.rules = _egress_rules(sg)
    ctx.s.flush()
    return sg


def update_group(ctx: Ctx, sg: m.SecurityGroup, attrs: dict[str, Any]) -> m.SecurityGroup:
    check_owner(ctx.caller, sg.project_id, "update_security_group")
    if "name" in attrs and attrs["name"] != sg.name and is_default(ctx, sg):
        raise SecurityGroupCannotUpdateDefault()
    assign(sg, attrs, ("name", "description", "stateful"))
    sg.touch()
    return sg


def delete_group(ctx: Ctx, sg: m.SecurityGroup) -> None:
    check_owner(ctx.caller, sg.project_id, "delete_security_group")
    default = is_default(ctx, sg)
    if default and not ctx.caller.is_admin:
        raise SecurityGroupCannotRemoveDefault()
    in_use = ctx.s.scalar(select(m.PortSecurityGroup.port_id).where(
        m.PortSecurityGroup.security_group_id == sg.id))
    if in_use is not None:
        raise SecurityGroupInUse(sg.id)
    ctx.s.execute(delete(m.SecurityGroupRule).where(
        m.SecurityGroupRule.remote_group_id == sg.id,
        m.SecurityGroupRule.security_group_id != sg.id))
    if default:
        ctx.s.execute(delete(m.DefaultSecurityGroup).where(
            m.DefaultSecurityGroup.project_id == sg.project_id))
    ctx.s.delete(sg)
    ctx.s.flush()


# -- rules -------------------------------------------------------------------------------


def _protocol(value: Any) -> str | None:
    """A rule's protocol as stored: None (any), a lower-case name, or a number as text."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "any"):
        return None
    if text in PROTOCOLS:
        return text
    if text.isdigit() and 0 <= int(text) <= 255 and not isinstance(value, bool):
        return str(int(text))
    raise SecurityGroupRuleInvalidProtocol(value, sorted(PROTOCOLS))


def protocol_number(protocol: str | None) -> int | None:
    if protocol is None:
        return None
    return PROTOCOLS[protocol] if protocol in PROTOCOLS else int(protocol)


def _port(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise SecurityGroupInvalidPortValue(value)
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise SecurityGroupInvalidPortValue(value) from None
    if not 0 <= port <= 65535 or str(port) != str(value).strip():
        raise SecurityGroupInvalidPortValue(value)
    return port


def _ports(number: int | None, lo: int | None, hi: int | None) -> None:
    if lo is None and hi is None:
        return
    if number is None:
        raise SecurityGroupProtocolRequiredWithPorts()
    if number in PORT_PROTOCOLS:
        if lo is None or hi is None:
            raise SecurityGroupInvalidPortRange()
        if lo == 0 or hi == 0:
            raise SecurityGroupInvalidPortValue(0)
        if lo > hi:
            raise SecurityGroupInvalidPortRange()
    elif number in ICMP_PROTOCOLS:
        for field, attr, value in (("type", "port_range_min", lo),
                                   ("code", "port_range_max", hi)):
            if value is not None and not 0 <= value <= 255:
                raise SecurityGroupInvalidIcmpValue(field, attr, value)
        if lo is None and hi is not None:
            raise SecurityGroupMissingIcmpType(hi)
    else:
        raise SecurityGroupInvalidProtocolForPortRange(str(number))


def parse_rule(attrs: dict[str, Any]) -> dict[str, Any]:
    """A rule's attributes, checked and normalized as Neutron does."""
    ethertype = ETHERTYPES.get(str(attrs.get("ethertype", "IPv4")).lower())
    if ethertype is None:
        raise SecurityGroupRuleInvalidEtherType(attrs.get("ethertype"))
    prefix, remote_group = attrs.get("remote_ip_prefix"), attrs.get("remote_group_id")
    if prefix is not None and remote_group is not None:
        raise SecurityGroupRemoteGroupAndRemoteIpPrefix()
    lo, hi = _port(attrs.get("port_range_min")), _port(attrs.get("port_range_max"))
    protocol = _protocol(attrs.get("protocol"))
    _ports(protocol_number(protocol), lo, hi)
    if ethertype == "IPv4" and protocol in IPV6_ONLY:
        raise SecurityGroupEthertypeConflictWithProtocol(ethertype, str(protocol))
    if prefix is not None:
        net = ipaddress.ip_network(prefix, strict=False)
        if f"IPv{net.version}" != ethertype:
            raise SecurityGroupRuleParameterConflict(ethertype, prefix)
    return {"direction": attrs["direction"], "ethertype": ethertype, "protocol": protocol,
            "port_range_min": lo, "port_range_max": hi, "remote_ip_prefix": prefix,
            "remote_group_id": remote_group, "description": attrs.get("description", "")}


def _same(rule: m.SecurityGroupRule, want: dict[str, Any]) -> bool:
    def norm(prefix: str | None) -> str | None:
        if prefix is None:
            return None
        net = ipaddress.ip_network(prefix, strict=False)
        return None if net.prefixlen == 0 else str(net)

    return (rule.direction, rule.ethertype, rule.protocol, rule.port_range_min,
            rule.port_range_max, norm(rule.remote_ip_prefix), rule.remote_group_id) == (
        want["direction"], want["ethertype"], want["protocol"], want["port_range_min"],
        want["port_range_max"], norm(want["remote_ip_prefix"]), want["remote_group_id"])


def create_rule(ctx: Ctx, attrs: dict[str, Any]) -> m.SecurityGroupRule:
    sg = get_security_group(ctx, attrs["security_group_id"])
    check_owner(ctx.caller, sg.project_id, "create_security_group_rule")
    want = parse_rule(attrs)
    if want["remote_group_id"] is not None:
        get_security_group(ctx, want["remote_group_id"])
    for rule in sg.rules:
        if _same(rule, want):
            raise SecurityGroupRuleExists(rule.id)
    quotas.check(ctx.s, ctx.cfg, sg.project_id, {"security_group_rule": 1})
    rule = m.SecurityGroupRule(id=m.new_id(), project_id=sg.project_id,
                               security_group_id=sg.id, **want)
    sg.rules.append(rule)
    sg.touch()
    ctx.s.flush()
    return rule


def delete_rule(ctx: Ctx, rule: m.SecurityGroupRule) -> None:
    check_owner(ctx.caller, rule.project_id, "delete_security_group_rule")
    sg = ctx.s.get(m.SecurityGroup, rule.security_group_id)
    if sg is not None:
        sg.touch()
    ctx.s.delete(rule)
    ctx.s.flush()
