"""VPCs, subnets and network interfaces: the project's networks, subnets and ports.

A ``vpc-`` id names a network the project may use (its own or a shared one; not
an external network), a ``subnet-`` id a subnet of one, an ``eni-`` id a port a
guest may hold (not a router's, DHCP's or floating IP's). A VPC's CIDR is its
first IPv4 subnet's. Network interfaces can be made and deleted (ports);
networks and subnets are made natively.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ec2.core import describe, filters, ids, paging, tags
from ec2.core.addresses import association_uuid, instance_of
from ec2.core.context import Body, Ctx
from ec2.core.describe import Item, Seen, missing_as
from ec2.core.regions import zone_id
from ec2.errors import IncorrectState, InvalidParameterValue
from ec2.params import Params

VPC_FILTERS = (
    "cidr", "cidr-block-association.cidr-block", "cidr-block-association.state",
    "dhcp-options-id", "ipv6-cidr-block-association.ipv6-cidr-block", "is-default",
    "owner-id", "state", "vpc-id")
SUBNET_FILTERS = (
    "availability-zone", "availability-zone-id", "available-ip-address-count", "cidr",
    "cidr-block", "cidrBlock", "default-for-az", "ipv6-cidr-block-association.ipv6-cidr-block",
    "owner-id", "state", "subnet-id", "vpc-id", "map-public-ip-on-launch")
ENI_FILTERS = (
    "addresses.private-ip-address", "association.allocation-id", "association.association-id",
    "association.public-ip", "attachment.instance-id", "attachment.status",
    "availability-zone", "description", "group-id", "group-name", "interface-type",
    "mac-address", "network-interface-id", "owner-id", "private-ip-address",
    "requester-managed", "source-dest-check", "status", "subnet-id", "vpc-id")


async def project_networks(ctx: Ctx) -> list[dict[str, Any]]:
    """The networks the project may put ports on: its own and shared, not external."""
    nets = await ctx.network.list_of("networks")
    return [n for n in nets if not n.get("router:external")
            and (n.get("project_id") == ctx.project or n.get("shared"))]


def _ipv4(subnets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in subnets if s.get("ip_version") == 4]


def _vpc_item(net: dict[str, Any], subs: list[dict[str, Any]], seen: Seen) -> Item:
    ident = seen.id(ids.VPC, net["id"]) or ""
    v4 = [s["cidr"] for s in _ipv4(subs)]
    v6 = [s["cidr"] for s in subs if s.get("ip_version") == 6]
    item_tags = seen.tags_of(ident)
    view = {
        "vpcId": ident, "state": "available", "cidrBlock": v4[0] if v4 else None,
        "cidrBlockAssociationSet": [{"cidrBlock": c, "cidrBlockState": {"state": "associated"}}
                                    for c in v4],
        "ipv6CidrBlockAssociationSet": [{"ipv6CidrBlock": c, "ipv6CidrBlockState": {
            "state": "associated"}} for c in v6],
        "dhcpOptionsId": "default", "instanceTenancy": "default", "isDefault": False,
        "ownerId": net.get("project_id"), "tagSet": tags.tag_set(item_tags),
    }
    fields = {"vpc-id": ident, "cidr": view["cidrBlock"], "state": "available",
              "cidr-block-association.cidr-block": v4,
              "cidr-block-association.state": ["associated" for _ in v4],
              "ipv6-cidr-block-association.ipv6-cidr-block": v6, "is-default": False,
              "owner-id": net.get("project_id"), "dhcp-options-id": "default"}
    return Item(ident, view, fields, item_tags)


async def describe_vpcs(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.VPC.check(v) for v in p.strings("VpcId")]
    found = filters.parse(p, VPC_FILTERS)
    page = paging.parse(p, ids_param="VpcId")
    nets = await project_networks(ctx)
    subnets = await ctx.network.list_of("subnets", network_id=[n["id"] for n in nets]) \
        if nets else []
    seen = await describe.see(ctx, {ids.VPC: {n["id"]: "vpc" for n in nets}},
                              tagged=[ids.VPC], complete=ids.VPC)
    items = [_vpc_item(n, [s for s in subnets if s["network_id"] == n["id"]], seen)
             for n in nets]
    return describe.answer(items, "vpcSet", kind=ids.VPC, wanted=wanted, found=found,
                           page=page)


def available_count(sub: dict[str, Any], used: int) -> int:
    """Addresses of the subnet's allocation pools not held by a port the project sees."""
    total = 0
    for pool in sub.get("allocation_pools") or []:
        total += int(ipaddress.ip_address(pool["end"])) - \
            int(ipaddress.ip_address(pool["start"])) + 1
    return max(total - used, 0)


def _subnet_item(sub: dict[str, Any], seen: Seen, used: int, zone: str, region: str) -> Item:
    ident = seen.id(ids.SUBNET, sub["id"]) or ""
    v6 = sub.get("ip_version") == 6
    item_tags = seen.tags_of(ident)
    view = {
        "subnetId": ident, "state": "available",
        "vpcId": seen.id(ids.VPC, sub.get("network_id")),
        "cidrBlock": None if v6 else sub.get("cidr"),
        "ipv6CidrBlockAssociationSet": [{"ipv6CidrBlock": sub.get("cidr"),
                                         "ipv6CidrBlockState": {"state": "associated"}}]
        if v6 else [],
        "availableIpAddressCount": available_count(sub, used),
        "availabilityZone": zone, "availabilityZoneId": zone_id(region, zone),
        "defaultForAz": False, "mapPublicIpOnLaunch": False,
        "assignIpv6AddressOnCreation": False, "ipv6Native": v6,
        "ownerId": sub.get("project_id"), "tagSet": tags.tag_set(item_tags),
    }
    fields = {"subnet-id": ident, "vpc-id": view["vpcId"], "state": "available",
              "cidr-block": view["cidrBlock"], "cidr": view["cidrBlock"],
              "cidrBlock": view["cidrBlock"],
              "ipv6-cidr-block-association.ipv6-cidr-block": sub.get("cidr") if v6 else None,
              "availability-zone": zone, "availability-zone-id": view["availabilityZoneId"],
              "available-ip-address-count": view["availableIpAddressCount"],
              "default-for-az": False, "map-public-ip-on-launch": False,
              "owner-id": sub.get("project_id")}
    return Item(ident, view, fields, item_tags)


async def describe_subnets(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.SUBNET.check(s) for s in p.strings("SubnetId")]
    found = filters.parse(p, SUBNET_FILTERS)
    page = paging.parse(p, ids_param="SubnetId")
    nets = await project_networks(ctx)
    net_ids = [n["id"] for n in nets]
    subs = await ctx.network.list_of("subnets", network_id=net_ids) if nets else []
    ports = await ctx.network.list_of("ports", network_id=net_ids) if nets else []
    used: dict[str, int] = {}
    for port in ports:
        for fixed in port.get("fixed_ips") or []:
            used[fixed["subnet_id"]] = used.get(fixed["subnet_id"], 0) + 1
    seen = await describe.see(ctx, {ids.SUBNET: {s["id"]: "subnet" for s in subs},
                                    ids.VPC: {n: "vpc" for n in net_ids}},
                              tagged=[ids.SUBNET], complete=ids.SUBNET)
    items = [_subnet_item(s, seen, used.get(s["id"], 0), ctx.settings.zone,
                          ctx.settings.region) for s in subs]
    return describe.answer(items, "subnetSet", kind=ids.SUBNET, wanted=wanted, found=found,
                           page=page)


# -- network interfaces (ports) -----------------------------------------------------------


def is_interface(port: dict[str, Any]) -> bool:
    """A port a guest may hold: not one the networking service keeps for itself."""
    return not str(port.get("device_owner") or "").startswith("network:")


async def see_interfaces(ctx: Ctx, ports: list[dict[str, Any]], complete: bool = False
                         ) -> tuple[Seen, dict[str, dict[str, Any]], dict[str, str]]:
    """Ids and tags for ports and what they name; (seen, floating IP by port, group names)."""
    fips = await ctx.network.list_of("floatingips", port_id=[p["id"] for p in ports]) \
        if ports else []
    by_port = {str(f["port_id"]): f for f in fips if f.get("port_id")}
    group_ids = sorted({g for p in ports for g in p.get("security_groups") or []})
    groups = await ctx.network.list_of("security-groups", id=group_ids) if group_ids else []
    seen = await describe.see(ctx, {
        ids.NETWORK_INTERFACE: {p["id"]: "eni" for p in ports},
        ids.SUBNET: {str(a["subnet_id"]): "subnet" for p in ports
                     for a in p.get("fixed_ips") or []},
        ids.VPC: {str(p["network_id"]): "vpc" for p in ports},
        ids.INSTANCE: {i: "i" for i in map(instance_of, ports) if i},
        ids.SECURITY_GROUP: {g: "sg" for g in group_ids},
        ids.ADDRESS: {str(f["id"]): "eipalloc" for f in fips},
        ids.ASSOCIATION: {u: "eipassoc" for u in map(association_uuid, fips) if u},
    }, tagged=[ids.NETWORK_INTERFACE],
        complete=ids.NETWORK_INTERFACE if complete else None)
    return seen, by_port, {g["id"]: str(g.get("name")) for g in groups}


def interface_view(port: dict[str, Any], seen: Seen, fip: dict[str, Any] | None,
                   group_names: dict[str, str], zone: str) -> dict[str, Any]:
    """A port as EC2's ``NetworkInterface`` (also an instance's ``networkInterfaceSet``
    item)."""
    ident = seen.id(ids.NETWORK_INTERFACE, port["id"])
    v4 = [a for a in port.get("fixed_ips") or [] if ":" not in a["ip_address"]]
    v6 = [a for a in port.get("fixed_ips") or [] if ":" in a["ip_address"]]
    instance = seen.id(ids.INSTANCE, instance_of(port))
    association = {
        "publicIp": fip.get("floating_ip_address"), "ipOwnerId": fip.get("project_id"),
        "allocationId": seen.id(ids.ADDRESS, fip["id"]),
        "associationId": seen.id(ids.ASSOCIATION, association_uuid(fip)),
    } if fip else None
    first = (v4 or v6 or [{}])[0]
    return {
        "networkInterfaceId": ident, "subnetId": seen.id(ids.SUBNET, first.get("subnet_id")),
        "vpcId": seen.id(ids.VPC, port.get("network_id")), "availabilityZone": zone,
        "description": port.get("description") or "", "ownerId": port.get("project_id"),
        "requesterManaged": False, "status": "in-use" if port.get("device_id") else
        "available", "macAddress": port.get("mac_address"),
        "privateIpAddress": v4[0]["ip_address"] if v4 else None, "sourceDestCheck": True,
        "interfaceType": "interface",
        "groupSet": [{"groupId": seen.id(ids.SECURITY_GROUP, g),
                      "groupName": group_names.get(g)} for g in port.get("security_groups")
                     or []],
        "attachment": {"instanceId": instance, "deviceIndex": 0, "status": "attached",
                       "deleteOnTermination": True, "instanceOwnerId": port.get("project_id")}
        if instance else None,
        "association": association,
        "privateIpAddressesSet": [{"privateIpAddress": a["ip_address"], "primary": n == 0,
                                   "association": association if n == 0 else None}
                                  for n, a in enumerate(v4)],
        "ipv6AddressesSet": [{"ipv6Address": a["ip_address"]} for a in v6],
        "tagSet": tags.tag_set(seen.tags_of(ident)),
    }


def _interface_item(port: dict[str, Any], seen: Seen, fip: dict[str, Any] | None,
                    group_names: dict[str, str], zone: str) -> Item:
    view = interface_view(port, seen, fip, group_names, zone)
    assoc = view["association"] or {}
    attach = view["attachment"] or {}
    fields = {
        "network-interface-id": view["networkInterfaceId"], "subnet-id": view["subnetId"],
        "vpc-id": view["vpcId"], "availability-zone": zone, "status": view["status"],
        "description": view["description"], "owner-id": view["ownerId"],
        "mac-address": view["macAddress"], "private-ip-address": view["privateIpAddress"],
        "addresses.private-ip-address": [a["privateIpAddress"]
                                         for a in view["privateIpAddressesSet"]],
        "group-id": [g["groupId"] for g in view["groupSet"]],
        "group-name": [g["groupName"] for g in view["groupSet"]],
        "attachment.instance-id": attach.get("instanceId"),
        "attachment.status": attach.get("status"),
        "association.public-ip": assoc.get("publicIp"),
        "association.allocation-id": assoc.get("allocationId"),
        "association.association-id": assoc.get("associationId"),
        "requester-managed": False, "source-dest-check": True, "interface-type": "interface",
    }
    ident = view["networkInterfaceId"] or ""
    return Item(ident, view, fields, seen.tags_of(ident))


async def describe_network_interfaces(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.NETWORK_INTERFACE.check(e) for e in p.strings("NetworkInterfaceId")]
    found = filters.parse(p, ENI_FILTERS)
    page = paging.parse(p, ids_param="NetworkInterfaceId")
    ports = [port for port in await ctx.network.list_of("ports", project_id=ctx.project)
             if is_interface(port)]
    seen, fips, names = await see_interfaces(ctx, ports, complete=True)
    items = [_interface_item(port, seen, fips.get(port["id"]), names, ctx.settings.zone)
             for port in ports]
    return describe.answer(items, "networkInterfaceSet", kind=ids.NETWORK_INTERFACE,
                           wanted=wanted, found=found, page=page)


async def create_network_interface(ctx: Ctx, p: Params) -> Body:
    subnet_ident = p.required("SubnetId")
    subnet_uuid = await ctx.resolve(ids.SUBNET, subnet_ident)
    with missing_as(ids.SUBNET, subnet_ident):
        subnet = await ctx.network.show_one("subnets", subnet_uuid)
    fixed: dict[str, str] = {"subnet_id": subnet_uuid}
    address = p.text("PrivateIpAddress")
    if address is not None:
        try:
            if ipaddress.ip_address(address) not in ipaddress.ip_network(subnet["cidr"]):
                raise ValueError(address)
        except ValueError:
            raise InvalidParameterValue(f"Address {address[:64]} is not in subnet "
                                        f"{subnet_ident}") from None
        fixed["ip_address"] = address
    groups = [await ctx.resolve(ids.SECURITY_GROUP, g) for g in p.strings("SecurityGroupId")]
    pairs = tags.specifications(p, "network-interface")
    attrs: dict[str, Any] = {"network_id": subnet["network_id"], "fixed_ips": [fixed],
                             "description": p.text("Description", max_len=255) or ""}
    if groups:
        attrs["security_groups"] = groups
    port = await ctx.network.create_one("ports", **attrs)
    try:
        ident = await ctx.id_of(ids.NETWORK_INTERFACE, port["id"])
        if pairs:
            await ctx.run(lambda s: tags.put(s, ctx.project, ident, "network-interface",
                                             pairs))
        seen, _, names = await see_interfaces(ctx, [port])
    except BaseException:
        await ctx.network.delete_one("ports", port["id"])
        raise
    return {"networkInterface": interface_view(port, seen, None, names, ctx.settings.zone)}


async def delete_network_interface(ctx: Ctx, p: Params) -> Body:
    ident = p.required("NetworkInterfaceId")
    uuid = await ctx.resolve(ids.NETWORK_INTERFACE, ident)
    with missing_as(ids.NETWORK_INTERFACE, ident):
        port = await ctx.network.show_one("ports", uuid)
        if port.get("device_id") or not is_interface(port):
            raise IncorrectState(f"Network interface '{ident}' is currently in use.",
                                 "InvalidNetworkInterface.InUse")
        await ctx.network.delete_one("ports", uuid)
    await ctx.run(lambda s: tags.forget(s, [ident]))
    return {"return": True}


ACTIONS = {
    "DescribeVpcs": describe_vpcs, "DescribeSubnets": describe_subnets,
    "DescribeNetworkInterfaces": describe_network_interfaces,
    "CreateNetworkInterface": create_network_interface,
    "DeleteNetworkInterface": delete_network_interface,
}
