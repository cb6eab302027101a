"""Security groups: the networking service's, with the caller's token.

``sg-`` ids name Neutron's group UUIDs. EC2's ``IpPermissions`` become Neutron
rules, one per source (an IPv4 or IPv6 range, or a group, which reaches both
families); a rule set is added all or nothing, and described back grouped by
protocol and ports, as EC2 shows them. Ports: TCP/UDP ``0``-``65535`` is any
port (Neutron's no range); ICMP's ``FromPort``/``ToPort`` are its type and code,
``-1`` any.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any

from common.errors import Conflict, StrataError
from common.httpclient import RemoteError
from ec2.core import describe, filters, ids, paging, tags
from ec2.core.context import Body, Ctx
from ec2.core.describe import Item, Seen, limit_as, missing_as
from ec2.errors import (
    Duplicate,
    IncorrectState,
    InvalidParameterValue,
    LimitExceeded,
    MissingParameter,
    ResourceNotFound,
)
from ec2.params import Params
from network.client import neutron_type

log = logging.getLogger(__name__)

GROUP_FILTERS = tuple(
    [f"{prefix}ip-permission.{f}" for prefix in ("", "egress.")
     for f in ("cidr", "from-port", "group-id", "group-name", "ipv6-cidr", "protocol",
               "to-port", "prefix-list-id", "user-id")]
    + ["description", "group-id", "group-name", "owner-id", "vpc-id"])
_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "ipv6-icmp": "icmpv6"}
_NEUTRON = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "ipv6-icmp"}


@dataclass(frozen=True)
class Rule:
    """One Neutron rule as EC2 sees it: what it lets through, from where."""

    direction: str  # ingress | egress
    protocol: str  # EC2's: -1, tcp, udp, icmp, icmpv6 or a number
    from_port: int | None
    to_port: int | None
    ethertype: str
    cidr: str | None
    group: str | None  # remote group UUID

    def neutron(self, group_id: str) -> dict[str, Any]:
        proto = None if self.protocol == "-1" else _NEUTRON.get(self.protocol, self.protocol)
        lo, hi = self.from_port, self.to_port
        if self.protocol in ("tcp", "udp"):
            lo, hi = (None, None) if (lo, hi) == (0, 65535) else (max(lo or 1, 1), hi)
        elif self.protocol in ("icmp", "icmpv6"):
            lo, hi = (None if lo == -1 else lo), (None if hi == -1 else hi)
        else:
            lo = hi = None
        return {"security_group_id": group_id, "direction": self.direction,
                "ethertype": self.ethertype, "protocol": proto, "port_range_min": lo,
                "port_range_max": hi, "remote_ip_prefix": self.cidr,
                "remote_group_id": self.group}


def ec2_protocol(native: str | None) -> str:
    if native in (None, "", "any"):
        return "-1"
    return _NAMES.get(str(native), str(native))


def rule_of(native: dict[str, Any]) -> Rule:
    """A Neutron rule in EC2's terms."""
    proto = ec2_protocol(native.get("protocol"))
    lo, hi = native.get("port_range_min"), native.get("port_range_max")
    if proto in ("tcp", "udp"):
        lo, hi = (0, 65535) if lo is None else (lo, hi)
    elif proto in ("icmp", "icmpv6"):
        lo, hi = (-1 if lo is None else lo), (-1 if hi is None else hi)
    else:
        lo = hi = None
    cidr = native.get("remote_ip_prefix")
    if cidr is None and native.get("remote_group_id") is None:
        cidr = "0.0.0.0/0" if native.get("ethertype") == "IPv4" else "::/0"
    return Rule(str(native.get("direction")), proto, lo, hi, str(native.get("ethertype")),
                cidr, native.get("remote_group_id"))


def permissions(rules: list[Rule], seen: Seen, names: dict[str, str],
                owner: str) -> list[dict[str, Any]]:
    """EC2's ``ipPermissions``: rules grouped by protocol and ports."""
    grouped: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for r in rules:
        perm = grouped.setdefault((r.protocol, r.from_port, r.to_port), {
            "ipProtocol": r.protocol, "fromPort": r.from_port, "toPort": r.to_port,
            "groups": [], "ipRanges": [], "ipv6Ranges": [], "prefixListIds": []})
        if r.group is not None:
            pair = {"groupId": seen.id(ids.SECURITY_GROUP, r.group),
                    "groupName": names.get(r.group), "userId": owner}
            if pair not in perm["groups"]:
                perm["groups"].append(pair)
        elif r.ethertype == "IPv6":
            perm["ipv6Ranges"].append({"cidrIpv6": r.cidr})
        else:
            perm["ipRanges"].append({"cidrIp": r.cidr})
    return list(grouped.values())


def _perm_fields(perms: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}ip-permission.protocol": [p["ipProtocol"] for p in perms],
        f"{prefix}ip-permission.from-port": [p["fromPort"] for p in perms],
        f"{prefix}ip-permission.to-port": [p["toPort"] for p in perms],
        f"{prefix}ip-permission.cidr": [r["cidrIp"] for p in perms for r in p["ipRanges"]],
        f"{prefix}ip-permission.ipv6-cidr": [r["cidrIpv6"] for p in perms
                                             for r in p["ipv6Ranges"]],
        f"{prefix}ip-permission.group-id": [g["groupId"] for p in perms for g in p["groups"]],
        f"{prefix}ip-permission.group-name": [g["groupName"] for p in perms
                                              for g in p["groups"]],
        f"{prefix}ip-permission.user-id": [g["userId"] for p in perms for g in p["groups"]],
    }


def _group_item(group: dict[str, Any], seen: Seen, names: dict[str, str]) -> Item:
    ident = seen.id(ids.SECURITY_GROUP, group["id"]) or ""
    rules = [rule_of(r) for r in group.get("security_group_rules") or []]
    owner = str(group.get("project_id") or group.get("tenant_id") or "")
    ingress = permissions([r for r in rules if r.direction == "ingress"], seen, names, owner)
    egress = permissions([r for r in rules if r.direction == "egress"], seen, names, owner)
    item_tags = seen.tags_of(ident)
    view = {"ownerId": owner, "groupId": ident, "groupName": group.get("name"),
            "groupDescription": group.get("description") or "",
            "ipPermissions": ingress, "ipPermissionsEgress": egress,
            "tagSet": tags.tag_set(item_tags)}
    fields = {"group-id": ident, "group-name": group.get("name"), "owner-id": owner,
              "description": view["groupDescription"], "vpc-id": None,
              **_perm_fields(ingress, ""), **_perm_fields(egress, "egress.")}
    return Item(ident, view, fields, item_tags)


async def _see_groups(ctx: Ctx, groups: list[dict[str, Any]], complete: bool) -> Seen:
    remote = {str(r["remote_group_id"]): "sg" for g in groups
              for r in g.get("security_group_rules") or [] if r.get("remote_group_id")}
    return await describe.see(ctx, {
        ids.SECURITY_GROUP: {**remote, **{g["id"]: "sg" for g in groups}}},
        tagged=[ids.SECURITY_GROUP], complete=ids.SECURITY_GROUP if complete else None)


async def describe_security_groups(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.SECURITY_GROUP.check(g) for g in p.strings("GroupId")]
    names = p.strings("GroupName")
    found = filters.parse(p, GROUP_FILTERS)
    page = paging.parse(p, ids_param="GroupId")
    groups = await ctx.network.list_of("security-groups", project_id=ctx.project)
    by_name = {g.get("name"): g for g in groups}
    for name in names:
        if name not in by_name:
            raise ResourceNotFound(f"The security group '{name}' does not exist",
                                   "InvalidGroup.NotFound")
    if names:
        groups = [g for g in groups if g.get("name") in names]
    seen = await _see_groups(ctx, groups, complete=not names)
    group_names = {g["id"]: str(g.get("name")) for g in groups}
    items = [_group_item(g, seen, group_names) for g in groups]
    return describe.answer(items, "securityGroupInfo", kind=ids.SECURITY_GROUP,
                           wanted=wanted, found=found, page=page)


async def find_group(ctx: Ctx, group_id: str | None, name: str | None) -> dict[str, Any]:
    """The group by ``sg-`` id or by its name in the caller's project."""
    if group_id:
        uuid = await ctx.resolve(ids.SECURITY_GROUP, group_id)
        with missing_as(ids.SECURITY_GROUP, group_id):
            return await ctx.network.show_one("security-groups", uuid)
    if not name:
        raise MissingParameter("The request must contain the parameter groupName or groupId")
    found = await ctx.network.list_of("security-groups", name=name, project_id=ctx.project)
    if not found:
        raise ResourceNotFound(f"The security group '{name}' does not exist",
                               "InvalidGroup.NotFound")
    return found[0]


async def create_security_group(ctx: Ctx, p: Params) -> Body:
    name = p.required("GroupName", max_len=255)
    description = p.required("GroupDescription", max_len=255)
    if name.startswith("sg-"):
        raise InvalidParameterValue("Group names may not start with 'sg-'")
    vpc = p.text("VpcId")
    if vpc:
        await ctx.resolve(ids.VPC, vpc)
    pairs = tags.specifications(p, "security-group")
    if await ctx.network.list_of("security-groups", name=name, project_id=ctx.project):
        raise Duplicate(f"The security group '{name}' already exists",
                        "InvalidGroup.Duplicate")
    with limit_as("SecurityGroupLimitExceeded"):
        group = await _neutron(ctx.network.create_one("security-groups", name=name,
                                                      description=description))
    try:
        ident = await ctx.id_of(ids.SECURITY_GROUP, group["id"])
        if pairs:
            await ctx.run(lambda s: tags.put(s, ctx.project, ident, "security-group", pairs))
    except BaseException:
        await ctx.network.delete_one("security-groups", group["id"])
        raise
    return {"return": True, "groupId": ident, "tagSet": tags.tag_set(dict(pairs))}


async def delete_security_group(ctx: Ctx, p: Params) -> Body:
    group = await find_group(ctx, p.text("GroupId"), p.text("GroupName"))
    ident = await ctx.id_of(ids.SECURITY_GROUP, group["id"])
    if group.get("name") == "default":
        raise IncorrectState("The default security group cannot be deleted", "CannotDelete")
    with missing_as(ids.SECURITY_GROUP, ident):
        await _neutron(ctx.network.delete_one("security-groups", group["id"]))
    await ctx.run(lambda s: tags.forget(s, [ident]))
    return {"return": True, "groupId": ident}


async def _neutron(call: Any) -> Any:
    """A networking call with Neutron's conflicts in EC2's words."""
    try:
        return await call
    except Conflict as exc:
        kind = neutron_type(exc) if isinstance(exc, RemoteError) else ""
        if kind == "SecurityGroupInUse":
            raise IncorrectState(f"The security group is in use: {exc.message}",
                                 "DependencyViolation") from exc
        if kind == "SecurityGroupRuleExists":
            raise Duplicate("The specified rule already exists in the security group",
                            "InvalidPermission.Duplicate") from exc
        if kind == "OverQuota":
            raise LimitExceeded(exc.message, "RulesPerSecurityGroupLimitExceeded") from exc
        raise


def _port(item: Params, name: str) -> int | None:
    return item.integer(name, low=-1, high=65535)


async def _sources(ctx: Ctx, item: Params) -> list[tuple[str, str | None, str | None]]:
    """(ethertype, cidr, remote group UUID) of each source of one permission."""
    out: list[tuple[str, str | None, str | None]] = []
    for rng in item.structs("IpRanges"):
        out.append(("IPv4", _cidr(rng.required("CidrIp"), 4), None))
    for rng in item.structs("Ipv6Ranges"):
        out.append(("IPv6", _cidr(rng.required("CidrIpv6"), 6), None))
    for pair in item.structs("Groups"):
        remote = await find_group(ctx, pair.text("GroupId"), pair.text("GroupName"))
        out += [("IPv4", None, remote["id"]), ("IPv6", None, remote["id"])]
    if item.structs("PrefixListIds"):
        raise InvalidParameterValue("Prefix lists are not offered by this cloud")
    return out


def _cidr(value: str, version: int) -> str:
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidParameterValue(f"Value ({value[:64]}) for parameter cidrIp is invalid. "
                                    "This is not a valid CIDR block.") from None
    if net.version != version:
        raise InvalidParameterValue(f"CIDR block {value} is not an IPv{version} block")
    return str(net)


def _protocol(item: Params) -> tuple[str, int | None, int | None]:
    raw = item.required("IpProtocol").lower()
    proto = _NAMES.get(raw, raw)
    if proto == "all":
        proto = "-1"
    if proto not in ("-1", "tcp", "udp", "icmp", "icmpv6") and not (
            proto.isdigit() and 0 <= int(proto) <= 255):
        raise InvalidParameterValue(f"Invalid IP protocol: {raw[:32]}")
    lo, hi = _port(item, "FromPort"), _port(item, "ToPort")
    if proto in ("tcp", "udp"):
        if lo is None or hi is None:
            raise MissingParameter(f"The request must contain the parameters FromPort and "
                                   f"ToPort for protocol {proto}")
        if lo < 0 or hi < 0 or lo > hi:
            raise InvalidParameterValue(f"Invalid port range {lo}-{hi} for {proto}")
    elif proto in ("icmp", "icmpv6"):
        lo, hi = (-1 if lo is None else lo), (-1 if hi is None else hi)
        if lo == -1 and hi != -1:
            raise InvalidParameterValue("An ICMP code needs an ICMP type")
        if lo > 255 or hi > 255:
            raise InvalidParameterValue("ICMP types and codes are -1 (any) to 255")
    else:
        lo = hi = None
    return proto, lo, hi


async def _requested(ctx: Ctx, p: Params, direction: str) -> list[Rule]:
    """The rules Authorize/Revoke name, from ``IpPermissions.N`` or the flat form."""
    items = p.structs("IpPermissions")
    flat = p.text("IpProtocol")
    out: list[Rule] = []
    if flat is not None:
        proto, lo, hi = _protocol(p)
        sources: list[tuple[str, str | None, str | None]] = []
        if p.text("CidrIp"):
            sources.append(("IPv4", _cidr(p.required("CidrIp"), 4), None))
        source_group = p.text("SourceSecurityGroupName")
        if source_group:
            remote = await find_group(ctx, None, source_group)
            sources += [("IPv4", None, remote["id"]), ("IPv6", None, remote["id"])]
        if not sources:
            sources.append(("IPv4", "0.0.0.0/0", None))
        out += _rules(direction, proto, lo, hi, sources)
    for item in items:
        proto, lo, hi = _protocol(item)
        sources = await _sources(ctx, item)
        if not sources:
            raise MissingParameter(f"{item.path} must name at least one IP range or group")
        out += _rules(direction, proto, lo, hi, sources)
    if not out:
        raise MissingParameter("The request must contain the parameter IpPermissions")
    return list(dict.fromkeys(out))


def _rules(direction: str, proto: str, lo: int | None, hi: int | None,
           sources: list[tuple[str, str | None, str | None]]) -> list[Rule]:
    out = []
    for ethertype, cidr, group in sources:
        if (proto == "icmp" and ethertype == "IPv6") or (proto == "icmpv6" and
                                                         ethertype == "IPv4"):
            continue  # a group source reaches only the protocol's family
        out.append(Rule(direction, proto, lo, hi, ethertype, cidr, group))
    return out


async def _authorize(ctx: Ctx, p: Params, direction: str) -> Body:
    group_id = p.text("GroupId")
    if direction == "egress" and not group_id:
        raise MissingParameter("The request must contain the parameter groupId")
    group = await find_group(ctx, group_id, p.text("GroupName"))
    wanted = await _requested(ctx, p, direction)
    existing = {rule_of(r) for r in group.get("security_group_rules") or []}
    if any(r in existing for r in wanted):
        raise Duplicate("The specified rule already exists in the security group",
                        "InvalidPermission.Duplicate")
    made: list[str] = []
    try:
        for rule in wanted:
            native = await _neutron(ctx.network.create_one(
                "security-group-rules", **rule.neutron(group["id"])))
            made.append(native["id"])
    except BaseException:
        for rule_id in made:
            try:
                await ctx.network.delete_one("security-group-rules", rule_id)
            except StrataError as exc:
                log.warning("ec2: rule %s left after a failed authorize: %s", rule_id, exc)
        raise
    return {"return": True}


async def _revoke(ctx: Ctx, p: Params, direction: str) -> Body:
    group_id = p.text("GroupId")
    if direction == "egress" and not group_id:
        raise MissingParameter("The request must contain the parameter groupId")
    group = await find_group(ctx, group_id, p.text("GroupName"))
    wanted = await _requested(ctx, p, direction)
    by_rule: dict[Rule, list[str]] = {}
    for native in group.get("security_group_rules") or []:
        by_rule.setdefault(rule_of(native), []).append(native["id"])
    plain = [r for r in wanted if r.group is None]
    if any(r not in by_rule for r in plain) or not any(r in by_rule for r in wanted):
        raise ResourceNotFound("The specified rule does not exist in this security group.",
                               "InvalidPermission.NotFound")
    for rule in wanted:
        for rule_id in by_rule.get(rule, []):
            with missing_as(ids.SECURITY_GROUP, group_id or group["id"]):
                await ctx.network.delete_one("security-group-rules", rule_id)
    return {"return": True}


async def authorize_ingress(ctx: Ctx, p: Params) -> Body:
    return await _authorize(ctx, p, "ingress")


async def authorize_egress(ctx: Ctx, p: Params) -> Body:
    return await _authorize(ctx, p, "egress")


async def revoke_ingress(ctx: Ctx, p: Params) -> Body:
    return await _revoke(ctx, p, "ingress")


async def revoke_egress(ctx: Ctx, p: Params) -> Body:
    return await _revoke(ctx, p, "egress")


ACTIONS = {
    "DescribeSecurityGroups": describe_security_groups,
    "CreateSecurityGroup": create_security_group,
    "DeleteSecurityGroup": delete_security_group,
    "AuthorizeSecurityGroupIngress": authorize_ingress,
    "AuthorizeSecurityGroupEgress": authorize_egress,
    "RevokeSecurityGroupIngress": revoke_ingress,
    "RevokeSecurityGroupEgress": revoke_egress,
}
