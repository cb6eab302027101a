"""Instances: compute's servers, with the caller's token.

``i-`` ids name servers' UUIDs, ``r-`` ids reservations: the servers one
``RunInstances`` made (compute's ``reservation_id``; which server is in which is
kept in ``ec2_reservations``, compute showing it to admins only), or a server made
natively, a reservation of its own. A terminated instance is one compute deleted;
it is described for an hour after (compute lists deleted servers by
``changes-since``), as EC2 does. ``DescribeInstances`` pages by instance (ordered by
id), each page grouped in its reservations.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import BadRequest, Conflict, Forbidden, NotFound, TooLarge
from compute.client import CREATE_VERSION, TYPED_VOLUMES_VERSION
from ec2 import models as m
from ec2.core import blockdevices, describe, filters, ids, paging, tags
from ec2.core.context import Body, Ctx
from ec2.core.describe import Item, Seen, missing_as
from ec2.core.wire import aws_time
from ec2.errors import (
    IncorrectState,
    InvalidParameterValue,
    LimitExceeded,
    MissingParameter,
    ResourceNotFound,
    UnsupportedOperation,
    native_message,
)
from ec2.params import Params

DEFAULT_TYPE = "m1.small"
MAX_COUNT = 100
TERMINATED_FOR = datetime.timedelta(hours=1)
MAX_USER_DATA = 16384  # bytes, before base64, as EC2's limit

PENDING, RUNNING, SHUTTING_DOWN = ("pending", 0), ("running", 16), ("shutting-down", 32)
TERMINATED, STOPPING, STOPPED = ("terminated", 48), ("stopping", 64), ("stopped", 80)

INSTANCE_FILTERS = (
    "availability-zone", "image-id", "instance-id", "instance-state-code",
    "instance-state-name", "instance-type", "key-name", "launch-time",
    "private-ip-address", "reservation-id", "instance.group-id", "instance.group-name",
    "owner-id", "subnet-id", "vpc-id", "root-device-name", "root-device-type",
    "block-device-mapping.device-name", "block-device-mapping.volume-id",
    "block-device-mapping.status", "block-device-mapping.delete-on-termination",
    "block-device-mapping.attach-time")


def ec2_state(server: dict[str, Any]) -> tuple[str, int]:
    """EC2's (name, code) of a server, from its status and task."""
    status = str(server.get("status", ""))
    task = server.get("OS-EXT-STS:task_state")
    if status in ("DELETED", "SOFT_DELETED"):
        return TERMINATED
    if task == "deleting":
        return SHUTTING_DOWN
    if task == "powering-off":
        return STOPPING
    if task == "powering-on":
        return PENDING
    if status in ("BUILD", "REBUILD"):
        return PENDING
    if status in ("ACTIVE", "REBOOT", "HARD_REBOOT", "PASSWORD", "MIGRATING", "RESIZE",
                  "VERIFY_RESIZE"):
        return RUNNING
    return STOPPED  # SHUTOFF, PAUSED, SUSPENDED, SHELVED, ERROR, ...


def flavor_name(server: dict[str, Any]) -> str:
    flavor = server.get("flavor") or {}
    return str(flavor.get("original_name") or flavor.get("id") or "")


def _private_ip(server: dict[str, Any]) -> str | None:
    for addrs in (server.get("addresses") or {}).values():
        for a in addrs:
            if a.get("OS-EXT-IPS:type", "fixed") == "fixed" and a.get("version") == 4:
                return str(a["addr"])
    return None


def _public_ip(server: dict[str, Any]) -> str | None:
    for addrs in (server.get("addresses") or {}).values():
        for a in addrs:
            if a.get("OS-EXT-IPS:type") == "floating":
                return str(a["addr"])
    return None


def _image_uuid(server: dict[str, Any]) -> str | None:
    image = server.get("image")
    return str(image["id"]) if isinstance(image, dict) and image.get("id") else None


class Listing:
    """Servers and what their views need: ids, reservations, tags, group ids."""

    def __init__(self, servers: list[dict[str, Any]], seen: Seen,
                 reservations: dict[str, str], groups: dict[str, str],
                 nics: dict[str, dict[str, Any]],
                 volumes: dict[str, dict[str, Any]]) -> None:
        self.servers = servers
        self.seen = seen
        self.reservations = reservations  # server uuid -> r- id
        self.groups = groups  # group name -> sg- id
        self.nics = nics  # server uuid -> its first port
        self.volumes = volumes  # volume uuid -> the block store's volume

    def image_uuid(self, server: dict[str, Any]) -> str | None:
        """The server's image, or the one its root volume was made from."""
        root = blockdevices.root_volume(server, self.volumes)
        meta = (root or {}).get("volume_image_metadata") or {}
        return _image_uuid(server) or (str(meta["image_id"]) if meta.get("image_id")
                                       else None)

    def item(self, server: dict[str, Any], owner: str) -> Item:
        seen = self.seen
        ident = seen.id(ids.INSTANCE, server["id"]) or ""
        name, code = ec2_state(server)
        group_names = [g.get("name") for g in server.get("security_groups") or []]
        group_set = [{"groupName": g, "groupId": self.groups.get(str(g))}
                     for g in dict.fromkeys(group_names)]
        private_ip = _private_ip(server)
        item_tags = seen.tags_of(ident)
        port = self.nics.get(server["id"]) or {}
        fixed = (port.get("fixed_ips") or [{}])[0]
        subnet_id = seen.id(ids.SUBNET, fixed.get("subnet_id"))
        vpc_id = seen.id(ids.VPC, port.get("network_id"))
        mappings = blockdevices.mappings(server, self.volumes, seen)
        root_type = "ebs" if not _image_uuid(server) or any(
            m["deviceName"] == blockdevices.ROOT for m in mappings) else "instance-store"
        view: dict[str, Any] = {
            "instanceId": ident,
            "imageId": seen.id(ids.IMAGE, self.image_uuid(server)) or "",
            "instanceState": {"code": code, "name": name},
            "privateDnsName": "", "dnsName": "",
            "keyName": server.get("key_name"), "amiLaunchIndex": 0,
            "instanceType": flavor_name(server),
            "launchTime": aws_time(server.get("created")),
            "placement": {"availabilityZone": server.get("OS-EXT-AZ:availability_zone")
                          or "", "tenancy": "default"},
            "monitoring": {"state": "disabled"},
            "privateIpAddress": private_ip, "ipAddress": _public_ip(server),
            "subnetId": subnet_id, "vpcId": vpc_id,
            "groupSet": group_set, "architecture": "x86_64",
            "rootDeviceType": root_type,
            "rootDeviceName": blockdevices.ROOT, "virtualizationType": "hvm",
            "hypervisor": "xen", "tagSet": tags.tag_set(item_tags),
            "blockDeviceMapping": mappings,
        }
        if name == "terminated":
            view["stateReason"] = {"code": "Client.UserInitiatedShutdown",
                                   "message": "Client.UserInitiatedShutdown: User initiated "
                                              "shutdown"}
        fields = {
            "instance-id": ident, "image-id": view["imageId"],
            "instance-state-name": name, "instance-state-code": code,
            "instance-type": view["instanceType"], "key-name": view["keyName"],
            "launch-time": view["launchTime"], "private-ip-address": private_ip,
            "availability-zone": view["placement"]["availabilityZone"],
            "reservation-id": self.reservations.get(server["id"]),
            "instance.group-id": [g["groupId"] for g in group_set],
            "instance.group-name": [g["groupName"] for g in group_set],
            "owner-id": owner, "subnet-id": subnet_id, "vpc-id": vpc_id,
            "root-device-name": blockdevices.ROOT, "root-device-type": root_type,
            "block-device-mapping.device-name": [m["deviceName"] for m in mappings],
            "block-device-mapping.volume-id": [m["ebs"]["volumeId"] for m in mappings],
            "block-device-mapping.status": [m["ebs"]["status"] for m in mappings],
            "block-device-mapping.delete-on-termination": [
                m["ebs"]["deleteOnTermination"] for m in mappings],
            "block-device-mapping.attach-time": [m["ebs"]["attachTime"] for m in mappings],
        }
        return Item(ident, view, fields, item_tags)


def _read_reservations(s: Session, uuids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(uuids), ids.CHUNK):
        rows = s.execute(select(m.Reservation.instance_uuid, m.Reservation.reservation_id)
                         .where(m.Reservation.instance_uuid.in_(uuids[i:i + ids.CHUNK])))
        out.update({u: r for u, r in rows})
    # a server made natively is a reservation of its own
    missing = {u: "r" for u in uuids if u not in out}
    out.update(ids.assign(s, ids.RESERVATION, missing) if missing else {})
    return out


async def _group_ids(ctx: Ctx) -> dict[str, str]:
    """The project's security groups by name -> their sg- ids (a name two groups share
    names neither)."""
    if not ctx.cfg.network.enabled:
        return {}
    groups = await ctx.network.list_security_groups(project_id=ctx.project)
    by_name: dict[str, list[str]] = {}
    for g in groups:
        by_name.setdefault(str(g.get("name")), []).append(str(g["id"]))
    unique = {name: uuids[0] for name, uuids in by_name.items() if len(uuids) == 1}
    found = await ctx.assign_ids(ids.SECURITY_GROUP, {u: "sg" for u in unique.values()})
    return {name: found[u] for name, u in unique.items()}


async def _nics(ctx: Ctx, uuids: list[str]) -> dict[str, dict[str, Any]]:
    """server uuid -> its first port (by creation), for its subnet and VPC."""
    if not ctx.cfg.network.enabled or not uuids:
        return {}
    wanted = set(uuids)
    out: dict[str, dict[str, Any]] = {}
    ports = await ctx.network.list_ports(project_id=ctx.project)
    for port in sorted(ports, key=lambda p: str(p.get("created_at") or "")):
        if port.get("device_id") in wanted:
            out.setdefault(str(port["device_id"]), port)
    return out


async def _volumes(ctx: Ctx, servers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The block store's volumes of the servers (one listing), by uuid."""
    wanted = {u for s in servers for u in blockdevices.volume_uuids(s)}
    if not wanted or not ctx.cfg.blockstore.enabled:
        return {}
    return {str(v["id"]): v for v in await ctx.volumes.list_volumes() if v["id"] in wanted}


async def listing(ctx: Ctx, servers: list[dict[str, Any]], complete: bool = False) -> Listing:
    uuids = [s["id"] for s in servers]
    nics = await _nics(ctx, uuids)
    volumes = await _volumes(ctx, servers)
    images = {u: "ami" for u in filter(None, map(_image_uuid, servers))}
    images.update({str(m["image_id"]): "ami" for v in volumes.values()
                   if (m := v.get("volume_image_metadata") or {}).get("image_id")})
    subnets = {str(f["subnet_id"]): "subnet" for p in nics.values()
               for f in (p.get("fixed_ips") or [])[:1] if f.get("subnet_id")}
    seen = await describe.see(ctx, {
        ids.INSTANCE: {u: "i" for u in uuids},
        ids.IMAGE: images, ids.SUBNET: subnets,
        ids.VOLUME: {u: "vol" for s in servers for u in blockdevices.volume_uuids(s)},
        ids.VPC: {str(p["network_id"]): "vpc" for p in nics.values()},
    }, tagged=[ids.INSTANCE], complete=ids.INSTANCE if complete else None)
    reservations = await ctx.run(lambda s: _read_reservations(s, uuids))
    return Listing(servers, seen, reservations, await _group_ids(ctx), nics, volumes)


def reservations_of(lst: Listing, items: list[Item], owner: str) -> list[dict[str, Any]]:
    """The items grouped by reservation, in the order of their first instance."""
    by_id = {i.id: i for i in items}
    groups: dict[str, list[dict[str, Any]]] = {}
    for server in lst.servers:
        ident = lst.seen.id(ids.INSTANCE, server["id"]) or ""
        if ident in by_id:
            groups.setdefault(lst.reservations[server["id"]], []).append(by_id[ident].view)
    out = []
    for rid, views in groups.items():
        for index, view in enumerate(views):
            view["amiLaunchIndex"] = index
        names = {g["groupName"]: g for v in views for g in v["groupSet"]}
        out.append({"reservationId": rid, "ownerId": owner, "groupSet": list(names.values()),
                    "instancesSet": views})
    return out


async def all_servers(ctx: Ctx) -> list[dict[str, Any]]:
    """The project's servers, and those deleted within the hour (terminated)."""
    live = await ctx.compute.list_servers()
    gone = await _deleted(ctx)
    known = {s["id"] for s in live}
    return live + [s for s in gone if s["id"] not in known]


async def describe_instances(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.INSTANCE.check(v) for v in p.strings("InstanceId")]
    found = filters.parse(p, INSTANCE_FILTERS)
    page = paging.parse(p, high=1000, ids_param="InstanceId")
    servers = await all_servers(ctx)
    lst = await listing(ctx, servers, complete=True)
    items = [lst.item(s, ctx.project) for s in servers]
    chosen = describe.answer(items, "set", kind=ids.INSTANCE, wanted=wanted, found=found,
                             page=page)
    keep = {v["instanceId"] for v in chosen["set"]}
    body: Body = {"reservationSet": reservations_of(
        lst, [i for i in items if i.id in keep], ctx.project)}
    if "nextToken" in chosen:
        body["nextToken"] = chosen["nextToken"]
    return body


# -- RunInstances -------------------------------------------------------------------------


async def flavor_id(ctx: Ctx, instance_type: str) -> str:
    for flavor in await ctx.compute.list_flavors():
        if flavor.get("name") == instance_type:
            return str(flavor["id"])
    raise InvalidParameterValue(f"Invalid value '{instance_type[:64]}' for InstanceType.")


def _user_data(p: Params) -> str | None:
    raw = p.text("UserData")
    if raw is None:
        return None
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterValue("Invalid BASE64 encoding of user data.") from None
    if len(data) > MAX_USER_DATA:
        raise InvalidParameterValue(f"User data is limited to {MAX_USER_DATA} bytes.")
    return base64.b64encode(data).decode()


async def _groups(ctx: Ctx, p: Params) -> list[str]:
    """The native ids of SecurityGroupId.N and the names of SecurityGroup.N (checked)."""
    out: list[str] = []
    for ident in p.strings("SecurityGroupId"):
        uuid = await ctx.resolve(ids.SECURITY_GROUP, ident)
        with missing_as(ids.SECURITY_GROUP, ident):
            await ctx.network.show_one("security-groups", uuid)
        out.append(uuid)
    out.extend(p.strings("SecurityGroup"))
    return out


async def _network(ctx: Ctx, p: Params) -> list[dict[str, str]] | None:
    subnet_ident = p.text("SubnetId")
    if subnet_ident is None:
        return None
    uuid = await ctx.resolve(ids.SUBNET, subnet_ident)
    with missing_as(ids.SUBNET, subnet_ident):
        subnet = await ctx.network.show_one("subnets", uuid)
    nic = {"uuid": str(subnet["network_id"])}
    if ip := p.text("PrivateIpAddress"):
        nic["fixed_ip"] = ip
    return [nic]


async def run_instances(ctx: Ctx, p: Params) -> Body:
    image_ident = p.required("ImageId")
    low = p.integer("MinCount", required=True, low=1, high=MAX_COUNT)
    high = p.integer("MaxCount", required=True, low=1, high=MAX_COUNT)
    assert low is not None and high is not None
    if low > high:
        raise InvalidParameterValue(f"MinCount ({low}) must be at most MaxCount ({high}).")
    pairs = tags.specifications(p, "instance")
    user_data = _user_data(p)
    image_uuid = await ctx.resolve(ids.IMAGE, image_ident)
    with missing_as(ids.IMAGE, image_ident):
        image = await ctx.images.show(image_uuid)
    if image.get("status") != "active":
        raise InvalidParameterValue(f"The image id '[{image_ident}]' is not active",
                                    "InvalidAMIID.Unavailable")
    flavor = await flavor_id(ctx, p.text("InstanceType") or DEFAULT_TYPE)
    disks = await blockdevices.plan(ctx, p, image, image_uuid)
    server: dict[str, Any] = {"name": p.text("ClientToken") or image_ident,
                              "flavorRef": flavor, "min_count": low, "max_count": high}
    if disks.image_root:
        server["imageRef"] = image_uuid
    if disks.devices:
        server["block_device_mapping_v2"] = disks.devices
    if key_name := p.text("KeyName"):
        try:
            await ctx.compute.show_keypair(key_name)
        except NotFound:
            raise ResourceNotFound(f"The key pair '{key_name}' does not exist",
                                   "InvalidKeyPair.NotFound") from None
        server["key_name"] = key_name
    if user_data is not None:
        server["user_data"] = user_data
    if groups := await _groups(ctx, p):
        server["security_groups"] = [{"name": g} for g in groups]
    if zone := p.text("Placement.AvailabilityZone"):
        server["availability_zone"] = zone
    if (nics := await _network(ctx, p)) is not None:
        server["networks"] = nics
    version = CREATE_VERSION
    if any(d.get("volume_type") for d in disks.devices):  # named from 2.67, as networks
        version = TYPED_VOLUMES_VERSION
        server.setdefault("networks", "auto")
    try:
        native_rid = await ctx.compute.create_servers(server, version)
    except (Forbidden, TooLarge) as exc:
        raise LimitExceeded(native_message(exc), "InstanceLimitExceeded") from None
    except (BadRequest, Conflict) as exc:  # Conflict: several networks, none named
        message = native_message(exc)
        raise InvalidParameterValue(message, "InvalidBlockDeviceMapping" if message.startswith(
            "Block Device Mapping is Invalid") else None) from None
    made = await ctx.compute.list_servers(reservation_id=native_rid)
    made.sort(key=lambda s: (len(str(s.get("name"))), str(s.get("name"))))
    rid = await ctx.id_of(ids.RESERVATION, native_rid)
    uuids = [s["id"] for s in made]

    def record(s: Session) -> None:
        for uuid in uuids:
            s.merge(m.Reservation(instance_uuid=uuid, reservation_id=rid,
                                  user_data=user_data))
        for ident in ids.assign(s, ids.INSTANCE, {u: "i" for u in uuids}).values():
            if pairs:
                tags.put(s, ctx.project, ident, "instance", pairs)

    await ctx.run(record)
    lst = await listing(ctx, made)
    items = [lst.item(s, ctx.project) for s in made]
    rsv = reservations_of(lst, items, ctx.project)
    return rsv[0] if rsv else {"reservationId": rid, "ownerId": ctx.project,
                               "groupSet": [], "instancesSet": []}


# -- state changes ------------------------------------------------------------------------


async def _servers(ctx: Ctx, p: Params) -> list[tuple[str, str, dict[str, Any]]]:
    """(EC2 id, uuid, server) of each InstanceId.N, all checked before anything is done."""
    idents = p.strings("InstanceId")
    if not idents:
        raise MissingParameter("The request must contain the parameter InstanceId")
    out = []
    for ident in dict.fromkeys(idents):
        out.append((ident, *await instance_server(ctx, ident)))
    return out


async def instance_server(ctx: Ctx, ident: str) -> tuple[str, dict[str, Any]]:
    """(uuid, server) of an instance id; a server deleted within the hour is there,
    terminated."""
    uuid = await ctx.resolve(ids.INSTANCE, ident)
    try:
        return uuid, await ctx.compute.show_server(uuid)
    except NotFound:
        pass
    for server in await _deleted(ctx):
        if server["id"] == uuid:
            return uuid, {**server, "status": "DELETED"}
    raise ids.INSTANCE.missing(ident)


async def _deleted(ctx: Ctx) -> list[dict[str, Any]]:
    since = (datetime.datetime.now(datetime.UTC) - TERMINATED_FOR).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return await ctx.compute.list_servers(**{"changes-since": since, "deleted": "true"})


def _change(ident: str, before: tuple[str, int], after: tuple[str, int]) -> dict[str, Any]:
    return {"instanceId": ident,
            "previousState": {"code": before[1], "name": before[0]},
            "currentState": {"code": after[1], "name": after[0]}}


def _incorrect(ident: str, state: str, verb: str) -> IncorrectState:
    return IncorrectState(f"The instance '{ident}' is not in a state from which it can be "
                          f"{verb} (it is {state}).", "IncorrectInstanceState")


async def terminate_instances(ctx: Ctx, p: Params) -> Body:
    targets = await _servers(ctx, p)
    for ident, _, server in targets:
        if server.get("locked") and ec2_state(server) != TERMINATED:
            raise UnsupportedOperation(
                f"The instance '{ident}' may not be terminated. Modify its "
                "'disableApiTermination' instance attribute and try again.",
                "OperationNotPermitted")
    changes = []
    for ident, uuid, server in targets:
        before = ec2_state(server)
        if before == TERMINATED:
            changes.append(_change(ident, before, before))
            continue
        try:
            await ctx.compute.delete_server(uuid)
        except NotFound:
            pass  # deleted meanwhile
        except Conflict as exc:
            raise _incorrect(ident, before[0], "terminated") from exc
        changes.append(_change(ident, before, SHUTTING_DOWN))
    return {"instancesSet": changes}


async def _act(ctx: Ctx, p: Params, action: str, args: Any, allowed: set[str],
               verb: str, after: tuple[str, int]) -> Body:
    targets = await _servers(ctx, p)
    for ident, _, server in targets:
        state = ec2_state(server)[0]
        if state not in allowed:
            raise _incorrect(ident, state, verb)
    changes = []
    for ident, uuid, server in targets:
        before = ec2_state(server)
        if before[0] == after[0] or (after == STOPPING and before == STOPPED) or \
                (after == PENDING and before == RUNNING):
            changes.append(_change(ident, before, before))
            continue
        try:
            await ctx.compute.action(uuid, action, args)
        except Conflict as exc:
            raise _incorrect(ident, before[0], verb) from exc
        changes.append(_change(ident, before, after))
    return {"instancesSet": changes}


async def stop_instances(ctx: Ctx, p: Params) -> Body:
    return await _act(ctx, p, "os-stop", None, {"running", "stopping", "stopped"},
                      "stopped", STOPPING)


async def start_instances(ctx: Ctx, p: Params) -> Body:
    return await _act(ctx, p, "os-start", None, {"stopped", "pending", "running"},
                      "started", PENDING)


async def reboot_instances(ctx: Ctx, p: Params) -> Body:
    targets = await _servers(ctx, p)
    for ident, _, server in targets:
        state = ec2_state(server)[0]
        if state != "running":
            raise _incorrect(ident, state, "rebooted")
    for ident, uuid, _ in targets:
        try:
            await ctx.compute.action(uuid, "reboot", {"type": "SOFT"})
        except Conflict as exc:
            raise _incorrect(ident, "busy", "rebooted") from exc
    return {"return": True}


async def get_console_output(ctx: Ctx, p: Params) -> Body:
    ident = p.required("InstanceId")
    uuid, server = await instance_server(ctx, ident)
    output = ""
    if ec2_state(server)[0] in ("running", "stopping", "stopped"):
        with missing_as(ids.INSTANCE, ident):
            try:
                output = await ctx.compute.console_output(uuid)
            except Conflict:
                output = ""
    return {"instanceId": ident, "timestamp": aws_time(server.get("updated")),
            "output": base64.b64encode(output.encode()).decode()}


ACTIONS = {
    "RunInstances": run_instances, "DescribeInstances": describe_instances,
    "TerminateInstances": terminate_instances, "StopInstances": stop_instances,
    "StartInstances": start_instances, "RebootInstances": reboot_instances,
    "GetConsoleOutput": get_console_output,
}
