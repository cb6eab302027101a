"""Images: the image service's, with the caller's token.

``ami-``/``aki-``/``ari-`` ids name the image service's UUIDs (kernel and ramdisk
images by their ``aki``/``ari`` formats). Launch permission is the image's
visibility and members: ``all`` is ``public`` (which the image service lets only
admins set), a project id a member of a ``shared`` image. An image registered
from a snapshot (an EBS-backed AMI) holds no data: its root device is the
snapshot, kept in the image's ``block_device_mapping`` property in Nova's form,
so a server booted from it (natively or by RunInstances) gets a volume made
from the snapshot.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from common.errors import Forbidden, StrataError
from ec2.client import image_prefix
from ec2.core import describe, filters, ids, paging, tags
from ec2.core.context import Body, Ctx
from ec2.core.describe import Item, Seen, missing_as
from ec2.core.wire import aws_time
from ec2.errors import (
    Duplicate,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    UnauthorizedOperation,
)
from ec2.params import Params

log = logging.getLogger(__name__)

IMAGE_FILTERS = (
    "architecture", "block-device-mapping.delete-on-termination",
    "block-device-mapping.device-name", "block-device-mapping.snapshot-id",
    "block-device-mapping.volume-size", "block-device-mapping.volume-type", "description",
    "hypervisor", "image-id", "image-type", "is-public", "kernel-id", "manifest-location",
    "name", "owner-alias", "owner-id", "platform", "product-code", "ramdisk-id",
    "root-device-name", "root-device-type", "state", "state-reason-code",
    "virtualization-type")
_TYPES = {"ami": "machine", "aki": "kernel", "ari": "ramdisk"}
_STATES = {"active": "available", "killed": "failed", "deleted": "deregistered",
           "pending_delete": "deregistered", "deactivated": "disabled"}
DEFAULT_ROOT = "/dev/sda1"
ATTRIBUTES = ("description", "kernel", "ramdisk", "launchPermission", "productCodes",
              "blockDeviceMapping", "sriovNetSupport", "bootMode", "imdsSupport")


def prefix_of(img: dict[str, Any]) -> str:
    """``aki``/``ari`` for kernel and ramdisk images, ``ami`` for the rest."""
    return image_prefix(img.get("container_format"), img.get("disk_format"))


def block_devices(img: dict[str, Any]) -> list[dict[str, Any]]:
    """The image's ``block_device_mapping`` property (Nova's v2 entries), or []."""
    raw = img.get("block_device_mapping")
    try:
        found = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def _image_item(img: dict[str, Any], seen: Seen) -> Item:
    ident = seen.id(ids.IMAGE, img["id"]) or ""
    devices = block_devices(img)
    root_name = str(img.get("root_device_name") or "/dev/vda")
    mappings: list[dict[str, Any]] = [{
        "deviceName": d.get("device_name") or root_name,
        "ebs": {"snapshotId": seen.id(ids.SNAPSHOT, d.get("snapshot_id")),
                "volumeSize": d.get("volume_size"),
                "deleteOnTermination": bool(d.get("delete_on_termination")),
                "volumeType": "standard", "encrypted": False},
    } for d in devices if d.get("source_type") in ("snapshot", "volume")]
    ebs_root = any(d.get("boot_index") in (0, "0") for d in devices) or bool(mappings)
    state = _STATES.get(str(img.get("status")), "pending")
    item_tags = seen.tags_of(ident)
    description = img.get("description")
    view = {
        "imageId": ident, "imageLocation": img.get("image_location") or
        f"{img.get('owner') or ''}/{img.get('name') or ''}",
        "imageState": state, "imageOwnerId": img.get("owner"),
        "creationDate": aws_time(img.get("created_at")),
        "isPublic": img.get("visibility") == "public",
        "architecture": img.get("architecture") or "x86_64",
        "imageType": _TYPES[ident.split("-", 1)[0]] if ident else "machine",
        "kernelId": seen.id(ids.IMAGE, img.get("kernel_id")),
        "ramdiskId": seen.id(ids.IMAGE, img.get("ramdisk_id")),
        "platform": "windows" if img.get("os_type") == "windows" else None,
        "platformDetails": "Windows" if img.get("os_type") == "windows" else "Linux/UNIX",
        "usageOperation": "RunInstances", "name": img.get("name"),
        "description": description, "rootDeviceType": "ebs" if ebs_root else "instance-store",
        "rootDeviceName": root_name, "blockDeviceMapping": mappings,
        "virtualizationType": "hvm", "hypervisor": "xen", "tagSet": tags.tag_set(item_tags),
        "enaSupport": False,
    }
    fields = {
        "image-id": ident, "name": img.get("name"), "state": state,
        "owner-id": img.get("owner"), "is-public": view["isPublic"],
        "architecture": view["architecture"], "image-type": view["imageType"],
        "kernel-id": view["kernelId"], "ramdisk-id": view["ramdiskId"],
        "description": description, "platform": view["platform"],
        "root-device-name": root_name, "root-device-type": view["rootDeviceType"],
        "virtualization-type": "hvm", "hypervisor": "xen",
        "manifest-location": view["imageLocation"],
        "block-device-mapping.device-name": [b["deviceName"] for b in mappings],
        "block-device-mapping.snapshot-id": [b["ebs"]["snapshotId"] for b in mappings],
        "block-device-mapping.volume-size": [b["ebs"]["volumeSize"] for b in mappings],
        "block-device-mapping.volume-type": [b["ebs"]["volumeType"] for b in mappings],
        "block-device-mapping.delete-on-termination": [
            b["ebs"]["deleteOnTermination"] for b in mappings],
    }
    return Item(ident, view, fields, item_tags)


async def see_images(ctx: Ctx, images: list[dict[str, Any]]) -> Seen:
    """Ids for the images and the kernels, ramdisks and snapshots they name."""
    related = {str(img[k]): "aki" if k == "kernel_id" else "ari"
               for img in images for k in ("kernel_id", "ramdisk_id") if img.get(k)}
    return await describe.see(ctx, {
        ids.IMAGE: {**related, **{img["id"]: prefix_of(img) for img in images}},
        ids.SNAPSHOT: {str(d["snapshot_id"]): "snap" for img in images
                       for d in block_devices(img) if d.get("snapshot_id")},
    }, tagged=[ids.IMAGE])


async def visible_images(ctx: Ctx) -> list[dict[str, Any]]:
    """The images the caller may launch: the image service's default listing (public,
    own, shared and accepted) and those shared with it still pending acceptance."""
    images = await ctx.images.list()
    try:
        pending = await ctx.images.list(visibility="shared", member_status="pending")
    except StrataError as exc:
        log.debug("ec2: pending shared images not listed: %s", exc)
        pending = []
    known = {img["id"] for img in images}
    return images + [img for img in pending if img["id"] not in known]


async def describe_images(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.IMAGE.check(i) for i in p.strings("ImageId")]
    owners = p.strings("Owner")
    executable = p.strings("ExecutableBy")
    found = filters.parse(p, IMAGE_FILTERS)
    page = paging.parse(p, low=1, ids_param="ImageId")
    if wanted:
        native = await ctx.resolve_many(ids.IMAGE, wanted)
        images = []
        for ident in wanted:
            if ident not in native:
                raise ids.IMAGE.missing(ident)
            with missing_as(ids.IMAGE, ident):
                images.append(await ctx.images.show(native[ident]))
    else:
        images = await visible_images(ctx)
    if owners:
        mine = {ctx.project if o == "self" else o for o in owners}
        images = [i for i in images if i.get("owner") in mine]
    if executable:
        who = {ctx.project if e == "self" else e for e in executable}
        images = [i for i in images if ("all" in who and i.get("visibility") == "public")
                  or (who - {"all"} and (i.get("visibility") != "private"
                                          or i.get("owner") in who))]
    seen = await see_images(ctx, images)
    items = [_image_item(i, seen) for i in images]
    return describe.answer(items, "imagesSet", kind=ids.IMAGE, wanted=wanted, found=found,
                           page=page)


async def _image(ctx: Ctx, ident: str) -> dict[str, Any]:
    uuid = await ctx.resolve(ids.IMAGE, ident)
    with missing_as(ids.IMAGE, ident):
        return await ctx.images.show(uuid)


async def _snapshot_mapping(ctx: Ctx, item: Params, root: str) -> dict[str, Any]:
    """One ``BlockDeviceMapping.N`` of RegisterImage as Nova's v2 entry."""
    device = item.required("DeviceName", max_len=64)
    ebs = item.child("Ebs")
    if ebs is None or ebs.text("SnapshotId") is None:
        raise MissingParameter(f"The request must contain the parameter {item.path}."
                               "Ebs.SnapshotId (images are registered from snapshots)")
    snap_ident = ebs.required("SnapshotId")
    snap_uuid = await ctx.resolve(ids.SNAPSHOT, snap_ident)
    with missing_as(ids.SNAPSHOT, snap_ident):
        snap = await ctx.volumes.show_snapshot(snap_uuid)
    size = ebs.integer("VolumeSize", low=1, high=16384) or int(snap.get("size") or 1)
    if size < int(snap.get("size") or 1):
        raise InvalidParameterValue(f"Volume of {size} GiB is smaller than snapshot "
                                    f"{snap_ident} ({snap.get('size')} GiB)")
    return {"device_name": device, "source_type": "snapshot", "destination_type": "volume",
            "snapshot_id": snap_uuid, "volume_size": size,
            "delete_on_termination": ebs.boolean("DeleteOnTermination", True),
            "boot_index": 0 if device == root else None, "device_type": "disk",
            "disk_bus": "virtio"}


async def register_image(ctx: Ctx, p: Params) -> Body:
    name = p.required("Name", max_len=128)
    if len(name) < 3:
        raise InvalidParameterValue("AMI names must be between 3 and 128 characters long.")
    if p.text("ImageLocation"):
        raise InvalidParameterValue("Images are registered here from snapshots "
                                    "(BlockDeviceMapping with Ebs.SnapshotId); image "
                                    "bundles in the object store are not offered.")
    pairs = tags.specifications(p, "image")
    items = p.structs("BlockDeviceMapping")
    if not items:
        raise MissingParameter("The request must contain the parameter "
                               "BlockDeviceMapping (the root device's snapshot)")
    root = p.text("RootDeviceName") or items[0].text("DeviceName") or DEFAULT_ROOT
    devices = [await _snapshot_mapping(ctx, item, root) for item in items]
    if not any(d["boot_index"] == 0 for d in devices):
        raise InvalidParameterValue(f"No block device mapping names the root device {root}")
    spec: dict[str, Any] = {
        "name": name, "disk_format": "raw", "container_format": "bare",
        "visibility": "private", "root_device_name": root, "bdm_v2": "True",
        "block_device_mapping": json.dumps(devices),
        "architecture": p.text("Architecture", choices=("i386", "x86_64", "arm64")) or
        "x86_64"}
    description = p.text("Description", max_len=255)
    if description:
        spec["description"] = description
    for param, prop in (("KernelId", "kernel_id"), ("RamdiskId", "ramdisk_id")):
        ident = p.text(param)
        if ident:
            spec[prop] = (await _image(ctx, ident))["id"]
    if any(i.get("owner") == ctx.project for i in await ctx.images.list(name=name)):
        raise Duplicate(f"AMI name {name} is already in use by AMI of this project",
                        "InvalidAMIName.Duplicate")
    img = await ctx.images.create(spec)
    try:
        await ctx.images.upload(img["id"], b"")  # no data: the root is the snapshot
        ident = await ctx.id_of(ids.IMAGE, img["id"], "ami")
        if pairs:
            await ctx.run(lambda s: tags.put(s, ctx.project, ident, "image", pairs))
    except BaseException:
        await _quietly_delete(ctx, img["id"])
        raise
    return {"imageId": ident}


async def _quietly_delete(ctx: Ctx, uuid: str) -> None:
    try:
        await ctx.images.delete(uuid)
    except StrataError as exc:
        log.warning("ec2: image %s left after a failed register: %s", uuid, exc)


async def deregister_image(ctx: Ctx, p: Params) -> Body:
    ident = p.required("ImageId")
    img = await _image(ctx, ident)
    if img.get("owner") != ctx.project and not ctx.caller.is_admin:
        raise UnauthorizedOperation(f"You are not authorized to deregister {ident}")
    with missing_as(ids.IMAGE, ident):
        await ctx.images.delete(img["id"])
    if p.boolean("DeleteAssociatedSnapshots"):
        for device in block_devices(img):
            if device.get("snapshot_id"):
                try:
                    await ctx.volumes.delete_snapshot(str(device["snapshot_id"]))
                except StrataError as exc:
                    log.info("ec2: snapshot %s of %s kept: %s", device["snapshot_id"],
                             ident, exc)
    await ctx.run(lambda s: tags.forget(s, [ident]))
    return {"return": True}


async def describe_image_attribute(ctx: Ctx, p: Params) -> Body:
    ident = p.required("ImageId")
    attribute = p.text("Attribute", required=True, choices=ATTRIBUTES) or ""
    img = await _image(ctx, ident)
    body: Body = {"imageId": ident}
    if attribute == "launchPermission":
        perms: list[dict[str, Any]] = []
        if img.get("visibility") == "public":
            perms.append({"group": "all"})
        elif img.get("visibility") == "shared" and img.get("owner") == ctx.project:
            perms += [{"userId": m["member_id"]} for m in await ctx.images.members(img["id"])]
        body["launchPermission"] = perms
    elif attribute == "description":
        body["description"] = {"value": img.get("description")}
    elif attribute in ("kernel", "ramdisk"):
        seen = await see_images(ctx, [img])
        body[attribute] = {"value": seen.id(ids.IMAGE, img.get(f"{attribute}_id"))}
    elif attribute == "blockDeviceMapping":
        body["blockDeviceMapping"] = _image_item(img, await see_images(ctx, [img])).view[
            "blockDeviceMapping"]
    elif attribute == "productCodes":
        body["productCodes"] = []
    else:
        body[attribute] = {}
    return body


async def _launch_permission(ctx: Ctx, p: Params, img: dict[str, Any]) -> None:
    adds: list[tuple[str, str]] = []
    removes: list[tuple[str, str]] = []
    perm = p.child("LaunchPermission")
    if perm is not None:
        for target, part in ((adds, "Add"), (removes, "Remove")):
            for item in perm.structs(part):
                group, user = item.text("Group"), item.text("UserId")
                if (group is None) == (user is None):
                    raise InvalidParameterCombination(f"{item.path} needs a Group or a "
                                                      "UserId")
                target.append(("group", group) if group is not None else ("user", user or ""))
    op = p.text("OperationType", choices=("add", "remove"))
    legacy = [("group", g) for g in p.strings("UserGroup")] + \
        [("user", u) for u in p.strings("UserId")]
    if legacy:
        if op is None:
            raise MissingParameter("The request must contain the parameter OperationType")
        (adds if op == "add" else removes).extend(legacy)
    if not adds and not removes:
        raise MissingParameter("The request must contain the parameter LaunchPermission")
    for kind, value in adds + removes:
        if kind == "group" and value != "all":
            raise InvalidParameterValue(f"Invalid launch permission group '{value}': only "
                                        "'all' is known")
    visibility = str(img.get("visibility"))
    members = {m["member_id"] for m in await ctx.images.members(img["id"])} \
        if visibility == "shared" else set()
    users_add = [u for k, u in adds if k == "user"]
    users_remove = [u for k, u in removes if k == "user"]
    if ("group", "all") in adds:
        visibility = "public"
    elif ("group", "all") in removes and visibility == "public":
        visibility = "shared" if members or users_add else "private"
    if users_add and visibility == "private":
        visibility = "shared"
    if visibility != img.get("visibility"):
        await ctx.images.update(img["id"], [{"op": "replace", "path": "/visibility",
                                             "value": visibility}])
    for user in users_add:
        if user not in members and user != img.get("owner"):
            await ctx.images.add_member(img["id"], user)
    for user in users_remove:
        if user in members:
            await ctx.images.remove_member(img["id"], user)


async def modify_image_attribute(ctx: Ctx, p: Params) -> Body:
    ident = p.required("ImageId")
    img = await _image(ctx, ident)
    attribute = p.text("Attribute")
    description = p.child("Description")
    if description is not None or attribute == "description":
        value = description.text("Value") if description is not None else p.text("Value")
        op = "replace" if "description" in img else "add"
        try:
            await ctx.images.update(img["id"], [{"op": op, "path": "/description",
                                                 "value": value or ""}])
        except Forbidden as exc:
            raise UnauthorizedOperation(f"You are not authorized to modify {ident}") from exc
        return {"return": True}
    if attribute not in (None, "launchPermission"):
        raise InvalidParameterValue(f"The attribute '{attribute}' cannot be modified here "
                                    "(description and launchPermission can)")
    with missing_as(ids.IMAGE, ident):
        try:
            await _launch_permission(ctx, p, img)
        except Forbidden as exc:
            raise UnauthorizedOperation(f"You are not authorized to change the launch "
                                        f"permission of {ident}") from exc
    return {"return": True}


ACTIONS = {
    "DescribeImages": describe_images, "RegisterImage": register_image,
    "DeregisterImage": deregister_image, "DescribeImageAttribute": describe_image_attribute,
    "ModifyImageAttribute": modify_image_attribute,
}
