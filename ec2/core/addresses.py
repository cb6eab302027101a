"""Elastic IP addresses: the networking service's floating IPs, with the caller's token.

``eipalloc-`` ids name floating IP UUIDs; an association (``eipassoc-``) is a
floating IP on a port, its id kept for as long as that pair lasts. Addresses
come from the external network ``[ec2] external_network`` names (by default
``public``; empty: the first external network). An address is associated with
an instance (its first port) or a network interface (``eni-``, a port).
"""

from __future__ import annotations

from typing import Any

from common.errors import Conflict, NotFound
from ec2.core import describe, filters, ids, tags
from ec2.core.context import Body, Ctx
from ec2.core.describe import Item, Seen, limit_as, missing_as
from ec2.errors import (
    IncorrectState,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    ResourceNotFound,
)
from ec2.params import Params

ADDRESS_FILTERS = (
    "allocation-id", "association-id", "domain", "instance-id", "network-border-group",
    "network-interface-id", "network-interface-owner-id", "private-ip-address", "public-ip",
    "public-ipv4-pool")


def association_uuid(fip: dict[str, Any]) -> str | None:
    return f"{fip['id']}:{fip['port_id']}" if fip.get("port_id") else None


def instance_of(port: dict[str, Any] | None) -> str | None:
    """The server a port belongs to, when it is a server's."""
    if port and str(port.get("device_owner", "")).startswith("compute:"):
        return str(port.get("device_id")) or None
    return None


async def _see(ctx: Ctx, fips: list[dict[str, Any]], ports: dict[str, dict[str, Any]],
               complete: bool) -> Seen:
    current = {f["id"]: association_uuid(f) for f in fips}
    wanted = {
        ids.ADDRESS: {f["id"]: "eipalloc" for f in fips},
        ids.ASSOCIATION: {u: "eipassoc" for u in current.values() if u},
        ids.NETWORK_INTERFACE: {p: "eni" for p in ports},
        ids.INSTANCE: {i: "i" for i in map(instance_of, ports.values()) if i},
        ids.SUBNET: {str(p["fixed_ips"][0]["subnet_id"]): "subnet" for p in ports.values()
                     if p.get("fixed_ips")},
    }

    def retire(s: Any) -> None:
        ids.retire_ended(s, ids.ASSOCIATION, current)

    await ctx.run(retire)
    return await describe.see(ctx, wanted, tagged=[ids.ADDRESS],
                              complete=ids.ADDRESS if complete else None)


def _item(fip: dict[str, Any], seen: Seen, ports: dict[str, dict[str, Any]],
          pool: str, region: str) -> Item:
    ident = seen.id(ids.ADDRESS, fip["id"]) or ""
    port = ports.get(fip.get("port_id") or "")
    subnet = port["fixed_ips"][0]["subnet_id"] if port and port.get("fixed_ips") else None
    item_tags = seen.tags_of(ident)
    view = {
        "publicIp": fip.get("floating_ip_address"), "allocationId": ident, "domain": "vpc",
        "instanceId": seen.id(ids.INSTANCE, instance_of(port)),
        "associationId": seen.id(ids.ASSOCIATION, association_uuid(fip)),
        "networkInterfaceId": seen.id(ids.NETWORK_INTERFACE, fip.get("port_id")),
        "networkInterfaceOwnerId": port.get("project_id") if port else None,
        "privateIpAddress": fip.get("fixed_ip_address"),
        "subnetId": seen.id(ids.SUBNET, subnet),
        "tagSet": tags.tag_set(item_tags), "publicIpv4Pool": pool,
        "networkBorderGroup": region,
    }
    fields = {
        "allocation-id": ident, "association-id": view["associationId"], "domain": "vpc",
        "instance-id": view["instanceId"], "network-interface-id": view["networkInterfaceId"],
        "network-interface-owner-id": view["networkInterfaceOwnerId"],
        "private-ip-address": view["privateIpAddress"], "public-ip": view["publicIp"],
        "network-border-group": region, "public-ipv4-pool": pool,
    }
    return Item(ident, view, fields, item_tags)


async def external_network(ctx: Ctx) -> dict[str, Any]:
    """The network addresses are allocated from."""
    name = ctx.settings.external_network
    found = await ctx.network.list_of("networks", **{"router:external": True})
    for net in found:
        if not name or net.get("name") == name:
            return net
    raise IncorrectState(f"This cloud has no external network{f' {name!r}' if name else ''} "
                         "to allocate addresses from", "InvalidAddress.NotFound")


async def _fip_ports(ctx: Ctx, fips: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    port_ids = sorted({f["port_id"] for f in fips if f.get("port_id")})
    if not port_ids:
        return {}
    return {p["id"]: p for p in await ctx.network.list_of("ports", id=port_ids)}


async def describe_addresses(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.ADDRESS.check(a) for a in p.strings("AllocationId")]
    public_ips = p.strings("PublicIp")
    found = filters.parse(p, ADDRESS_FILTERS)
    fips = await ctx.network.list_of("floatingips", project_id=ctx.project)
    by_ip = {f.get("floating_ip_address") for f in fips}
    for ip in public_ips:
        if ip not in by_ip:
            raise ResourceNotFound(f"Address '{ip}' not found.", "InvalidAddress.NotFound")
    if public_ips:
        fips = [f for f in fips if f.get("floating_ip_address") in public_ips]
    ports = await _fip_ports(ctx, fips)
    seen = await _see(ctx, fips, ports, complete=not public_ips)
    names = {n["id"]: n.get("name") for n in
             await ctx.network.list_of("networks", **{"router:external": True})}
    items = [_item(f, seen, ports, str(names.get(f.get("floating_network_id")) or ""),
                   ctx.settings.region) for f in fips]
    return describe.answer(items, "addressesSet", kind=ids.ADDRESS, wanted=wanted,
                           found=found)


async def allocate_address(ctx: Ctx, p: Params) -> Body:
    p.text("Domain", choices=("vpc", "standard"))
    pairs = tags.specifications(p, "elastic-ip")
    net = await external_network(ctx)
    pool = p.text("PublicIpv4Pool")
    if pool and pool != net.get("name"):
        raise InvalidParameterValue(f"The address pool '{pool}' does not exist")
    attrs: dict[str, Any] = {"floating_network_id": net["id"]}
    if p.text("Address"):
        attrs["floating_ip_address"] = p.required("Address")
    with limit_as("AddressLimitExceeded"):
        fip = await ctx.network.create_one("floatingips", **attrs)
    try:
        ident = await ctx.id_of(ids.ADDRESS, fip["id"])
        if pairs:
            await ctx.run(lambda s: tags.put(s, ctx.project, ident, "elastic-ip", pairs))
    except BaseException:
        await ctx.network.delete_one("floatingips", fip["id"])
        raise
    return {"publicIp": fip.get("floating_ip_address"), "allocationId": ident,
            "domain": "vpc", "publicIpv4Pool": net.get("name"),
            "networkBorderGroup": ctx.settings.region}


async def _find(ctx: Ctx, p: Params) -> tuple[str, dict[str, Any]]:
    """(its EC2 id, the floating IP) named by ``AllocationId`` or ``PublicIp``."""
    alloc, public_ip = p.text("AllocationId"), p.text("PublicIp")
    if alloc and public_ip:
        raise InvalidParameterCombination("Specify AllocationId or PublicIp, not both")
    if alloc:
        uuid = await ctx.resolve(ids.ADDRESS, alloc)
        with missing_as(ids.ADDRESS, alloc):
            return alloc, await ctx.network.show_one("floatingips", uuid)
    if not public_ip:
        raise MissingParameter("The request must contain the parameter AllocationId")
    found = await ctx.network.list_of("floatingips", floating_ip_address=public_ip,
                                      project_id=ctx.project)
    if not found:
        raise ResourceNotFound(f"Address '{public_ip}' not found.", "InvalidAddress.NotFound")
    return await ctx.id_of(ids.ADDRESS, found[0]["id"]), found[0]


async def target_port(ctx: Ctx, p: Params) -> dict[str, Any]:
    """The port an association is for: ``NetworkInterfaceId``'s, or the first of
    ``InstanceId``'s."""
    instance, eni = p.text("InstanceId"), p.text("NetworkInterfaceId")
    if instance and eni:
        raise InvalidParameterCombination("Specify InstanceId or NetworkInterfaceId, not both")
    if eni:
        uuid = await ctx.resolve(ids.NETWORK_INTERFACE, eni)
        with missing_as(ids.NETWORK_INTERFACE, eni):
            return await ctx.network.show_one("ports", uuid)
    if not instance:
        raise MissingParameter("The request must contain the parameter InstanceId or "
                               "NetworkInterfaceId")
    uuid = await ctx.resolve(ids.INSTANCE, instance)
    ports = await ctx.network.list_of("ports", device_id=uuid)
    if not ports:
        raise ids.INSTANCE.missing(instance)
    return sorted(ports, key=lambda port: (str(port.get("created_at")), port["id"]))[0]


async def associate_address(ctx: Ctx, p: Params) -> Body:
    alloc, fip = await _find(ctx, p)
    port = await target_port(ctx, p)
    fixed = p.text("PrivateIpAddress")
    addresses = [a["ip_address"] for a in port.get("fixed_ips") or []
                 if ":" not in a["ip_address"]]
    if fixed is not None and fixed not in addresses:
        raise InvalidParameterValue(f"The private IP address {fixed} is not on the "
                                    "network interface")
    if fip.get("port_id") and fip["port_id"] != port["id"] and \
            not p.boolean("AllowReassociation", False) and p.text("AllocationId"):
        raise IncorrectState(f"The address {alloc} is already associated",
                             "Resource.AlreadyAssociated")
    if not addresses:
        raise IncorrectState("The network interface has no IPv4 address",
                             "InvalidNetworkInterface.InUse")
    try:
        updated = await ctx.network.update_one("floatingips", fip["id"], port_id=port["id"],
                                               fixed_ip_address=fixed or addresses[0])
    except NotFound as exc:
        raise IncorrectState(f"The address cannot reach that network interface: "
                             f"{exc.message}", "Gateway.NotAttached") from exc
    except Conflict as exc:
        raise IncorrectState(exc.message, "Resource.AlreadyAssociated") from exc
    uuid = association_uuid(updated) or ""

    def record(s: Any) -> str:
        ids.retire_ended(s, ids.ASSOCIATION, {fip["id"]: uuid})
        return ids.assign(s, ids.ASSOCIATION, {uuid: "eipassoc"})[uuid]

    return {"return": True, "associationId": await ctx.run(record)}


async def disassociate_address(ctx: Ctx, p: Params) -> Body:
    assoc, public_ip = p.text("AssociationId"), p.text("PublicIp")
    if assoc:
        uuid = await ctx.resolve(ids.ASSOCIATION, assoc)
        fip_id = uuid.split(":", 1)[0]
        with missing_as(ids.ASSOCIATION, assoc):
            fip = await ctx.network.show_one("floatingips", fip_id)
        if association_uuid(fip) != uuid:
            raise ids.ASSOCIATION.missing(assoc)
    elif public_ip:
        _, fip = await _find(ctx, p)
    else:
        raise MissingParameter("The request must contain the parameter AssociationId")
    if fip.get("port_id"):
        await ctx.network.update_one("floatingips", fip["id"], port_id=None)
    await ctx.run(lambda s: ids.retire_ended(s, ids.ASSOCIATION, {fip["id"]: None}))
    return {"return": True}


async def release_address(ctx: Ctx, p: Params) -> Body:
    alloc, fip = await _find(ctx, p)
    if fip.get("port_id"):
        raise IncorrectState(f"The address {alloc} is associated; disassociate it first",
                             "InvalidIPAddress.InUse")
    with missing_as(ids.ADDRESS, alloc):
        await ctx.network.delete_one("floatingips", fip["id"])

    def forget(s: Any) -> None:
        ids.retire_ended(s, ids.ASSOCIATION, {fip["id"]: None})
        tags.forget(s, [alloc])

    await ctx.run(forget)
    return {"return": True}


ACTIONS = {
    "DescribeAddresses": describe_addresses, "AllocateAddress": allocate_address,
    "AssociateAddress": associate_address, "DisassociateAddress": disassociate_address,
    "ReleaseAddress": release_address,
}
