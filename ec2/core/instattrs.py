"""DescribeInstanceAttribute and ModifyInstanceAttribute: one attribute of an instance.

Read from compute's server and what DescribeInstances shows of it. ``userData`` is
the one RunInstances gave (kept in ``ec2_reservations``; compute shows a server's
user data to admins only, so an admin sees compute's); ``kernel``/``ramdisk`` are
the image's; ``disableApiTermination`` is compute's lock (a locked server is not
deleted by its owner; the lock holds stop and start too);
``instanceInitiatedShutdownBehavior`` is ``stop`` (a guest's own shutdown stops the
server); ``sourceDestCheck`` is the port's security (anti-spoofing).

A change goes through compute: the lock, the security groups (``GroupId.N``, the
whole set, through ``addSecurityGroup``/``removeSecurityGroup``). What compute
cannot change yet (the instance type, which is a resize; kernel, ramdisk and user
data of a stopped instance; source/destination check...) is ``UnsupportedOperation``
after the instance, its state and the value are checked as EC2 checks them; a value
that is already the instance's is no change.
"""

from __future__ import annotations

import base64
from typing import Any

from common.errors import BadRequest, Conflict, NotFound
from ec2 import models as m
from ec2.core import ids, instances
from ec2.core.context import Body, Ctx
from ec2.core.describe import missing_as
from ec2.errors import (
    IncorrectState,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    UnsupportedOperation,
    native_message,
)
from ec2.params import Params

ATTRIBUTES = (
    "instanceType", "kernel", "ramdisk", "userData", "disableApiTermination",
    "instanceInitiatedShutdownBehavior", "rootDeviceName", "blockDeviceMapping",
    "productCodes", "sourceDestCheck", "groupSet", "ebsOptimized", "sriovNetSupport",
    "enaSupport", "enclaveOptions", "disableApiStop")
# ModifyInstanceAttribute's ``<Name>.Value`` parameters, by the attribute they change
_MODIFIABLE = {
    "InstanceType": "instanceType", "Kernel": "kernel", "Ramdisk": "ramdisk",
    "UserData": "userData", "DisableApiTermination": "disableApiTermination",
    "InstanceInitiatedShutdownBehavior": "instanceInitiatedShutdownBehavior",
    "SourceDestCheck": "sourceDestCheck", "EbsOptimized": "ebsOptimized",
    "EnaSupport": "enaSupport", "SriovNetSupport": "sriovNetSupport",
    "DisableApiStop": "disableApiStop"}
_WHEN_STOPPED = ("instanceType", "kernel", "ramdisk", "userData", "ebsOptimized",
                 "enaSupport", "sriovNetSupport")
# what this cloud's instances always are, so asking for it again changes nothing
_FIXED = {"instanceInitiatedShutdownBehavior": "stop", "ebsOptimized": "false",
          "enaSupport": "false", "disableApiStop": "false", "sriovNetSupport": "simple"}


def _unknown(attr: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Value ({attr[:64]}) for parameter attribute is invalid. "
                                 "Unknown attribute.")


async def _user_data(ctx: Ctx, uuid: str, server: dict[str, Any]) -> str | None:
    if server.get("OS-EXT-SRV-ATTR:user_data"):
        return str(server["OS-EXT-SRV-ATTR:user_data"])
    row = await ctx.run(lambda s: s.get(m.Reservation, uuid))
    return row.user_data if row is not None else None


async def _boot_image_id(ctx: Ctx, lst: instances.Listing, server: dict[str, Any],
                         prop: str, prefix: str) -> str | None:
    """The kernel or ramdisk (``aki``/``ari`` id) the server booted with."""
    uuid = server.get(f"OS-EXT-SRV-ATTR:{prop}")
    image_uuid = lst.image_uuid(server)
    if not uuid and image_uuid:
        try:
            uuid = (await ctx.images.show(image_uuid)).get(prop)
        except NotFound:
            uuid = None
    return await ctx.id_of(ids.IMAGE, str(uuid), prefix) if uuid else None


def _value(value: Any) -> dict[str, Any]:
    return {"value": value} if value is not None else {}


async def describe_instance_attribute(ctx: Ctx, p: Params) -> Body:
    ident = p.required("InstanceId")
    attr = p.required("Attribute")
    if attr not in ATTRIBUTES:
        raise _unknown(attr)
    uuid, server = await instances.instance_server(ctx, ident)
    lst = await instances.listing(ctx, [server])
    view = lst.item(server, ctx.project).view
    port = lst.nics.get(uuid) or {}
    values: dict[str, Any] = {
        "instanceType": _value(view["instanceType"]),
        "rootDeviceName": _value(view["rootDeviceName"]),
        "blockDeviceMapping": view["blockDeviceMapping"], "productCodes": [],
        "groupSet": view["groupSet"],
        "disableApiTermination": _value(bool(server.get("locked"))),
        "sourceDestCheck": _value(bool(port.get("port_security_enabled", True))),
        "enclaveOptions": {"enabled": False},
        **{name: _value(value == "true" if value in ("true", "false") else value)
           for name, value in _FIXED.items()},
    }
    if attr == "userData":
        values[attr] = _value(await _user_data(ctx, uuid, server))
    elif attr in ("kernel", "ramdisk"):
        values[attr] = _value(await _boot_image_id(ctx, lst, server, f"{attr}_id",
                                                   "aki" if attr == "kernel" else "ari"))
    return {"instanceId": ident, attr: values[attr]}


def _requested(p: Params) -> tuple[str, Params]:
    """The one attribute a ModifyInstanceAttribute changes, and its parameters (a
    ``Value``, or the whole request for ``GroupId.N``/``BlockDeviceMapping.N``)."""
    given: list[tuple[str, Params]] = []
    if (attr := p.text("Attribute")) is not None:
        if attr not in ATTRIBUTES:
            raise _unknown(attr)
        given.append((attr, p))
    for name, attribute in _MODIFIABLE.items():
        if (node := p.child(name)) is not None:
            given.append((attribute, node))
    if p.has("GroupId"):
        given.append(("groupSet", p))
    if p.has("BlockDeviceMapping"):
        given.append(("blockDeviceMapping", p))
    if not given:
        raise MissingParameter("The request must contain one attribute to change "
                               "(Attribute and Value, or <Attribute>.Value)")
    if len(given) > 1:
        raise InvalidParameterCombination("Fields for multiple attribute types specified: "
                                          + ", ".join(a for a, _ in given))
    return given[0]


async def _set_groups(ctx: Ctx, ident: str, uuid: str, server: dict[str, Any],
                      p: Params) -> None:
    wanted: dict[str, str] = {}  # name -> uuid
    for group_ident in p.strings("GroupId"):
        group_uuid = await ctx.resolve(ids.SECURITY_GROUP, group_ident)
        with missing_as(ids.SECURITY_GROUP, group_ident):
            group = await ctx.network.show_one("security-groups", group_uuid)
        wanted[str(group["name"])] = group_uuid
    if not wanted:
        raise MissingParameter("The request must contain the parameter GroupId")
    current = {str(g.get("name")) for g in server.get("security_groups") or []}
    try:
        for name, group_uuid in wanted.items():
            if name not in current:
                await ctx.compute.action(uuid, "addSecurityGroup", {"name": group_uuid})
        for name in current - set(wanted):
            await ctx.compute.action(uuid, "removeSecurityGroup", {"name": name})
    except Conflict as exc:
        raise IncorrectState(native_message(exc), "IncorrectInstanceState") from None
    except BadRequest as exc:
        raise InvalidParameterValue(native_message(exc)) from None


async def modify_instance_attribute(ctx: Ctx, p: Params) -> Body:
    ident = p.required("InstanceId")
    attr, node = _requested(p)
    uuid, server = await instances.instance_server(ctx, ident)
    state = instances.ec2_state(server)[0]
    if state == "terminated":
        raise IncorrectState(f"The instance '{ident}' is terminated.",
                             "IncorrectInstanceState")
    if attr == "groupSet":
        await _set_groups(ctx, ident, uuid, server, p)
        return {"return": True}
    if attr == "blockDeviceMapping":
        raise UnsupportedOperation("Changing an attached volume's DeleteOnTermination is "
                                   "not offered by this cloud.")
    value = node.required("Value")
    if attr == "instanceType":
        await instances.flavor_id(ctx, value)  # an unknown type is refused first
    if attr in _WHEN_STOPPED and state != "stopped":
        raise IncorrectState(f"The instance '{ident}' is not in the 'stopped' state.",
                             "IncorrectInstanceState")
    if attr == "disableApiTermination":
        locked = node.boolean("Value")
        if locked != bool(server.get("locked")):
            try:
                await ctx.compute.action(uuid, "lock" if locked else "unlock")
            except Conflict as exc:
                raise IncorrectState(native_message(exc), "IncorrectInstanceState") from None
        return {"return": True}
    if attr == "userData":
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise InvalidParameterValue("Invalid BASE64 encoding of user data.") from None
    current = {"instanceType": instances.flavor_name(server),
               "sourceDestCheck": "true", **_FIXED}.get(attr)
    if attr == "instanceInitiatedShutdownBehavior" and value not in ("stop", "terminate"):
        raise InvalidParameterValue(f"Value ({value[:64]}) for parameter "
                                    "instanceInitiatedShutdownBehavior is invalid.")
    if attr == "sourceDestCheck":
        lst = await instances.listing(ctx, [server])
        port = lst.nics.get(uuid) or {}
        current = "true" if port.get("port_security_enabled", True) else "false"
    if current is not None and current in (value, value.lower()):
        return {"return": True}
    what = {"instanceType": "Changing the instance type (a resize)"}.get(
        attr, f"Changing {attr}")
    raise UnsupportedOperation(f"{what} is not offered by this cloud yet.")


ACTIONS = {"DescribeInstanceAttribute": describe_instance_attribute,
           "ModifyInstanceAttribute": modify_instance_attribute}
