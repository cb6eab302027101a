"""Block device mappings: RunInstances' ``BlockDeviceMapping.N`` as compute's
``block_device_mapping_v2``, and an instance's volumes as EC2's ``blockDeviceMapping``.

EC2 names devices as the guest's kernel once did (``/dev/sda1``, ``/dev/xvdf``,
``/dev/sdb``); compute's guests see virtio disks (``/dev/vda``...). A name is read
as its disk (``sda1``, ``xvda``, ``vda`` are all the first disk, the root), and
compute names each volume in the order the mappings' disks come; the names shown
are compute's. The root device is the image's (a plain image: its disk copied
for the instance; an ``Ebs`` mapping of the root makes it a volume made from the
image, of ``VolumeSize``), or, for an image registered from a snapshot, a volume
made from that snapshot. ``Ebs`` with a ``SnapshotId`` is a volume made from the
snapshot, with only a ``VolumeSize`` a blank volume; ``VirtualName``
``ephemeralN`` a local blank disk; ``NoDevice`` takes a device of the image away
(never the root). Volumes made here go with the instance unless
``DeleteOnTermination`` is false, as EC2's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ec2.core import ids, images
from ec2.core.context import Ctx
from ec2.core.describe import Seen, missing_as
from ec2.core.wire import aws_time
from ec2.errors import InvalidParameterValue
from ec2.params import Params

ROOT = "/dev/vda"  # compute's root device
MAX_SIZE = 16384  # GiB
GiB = 1 << 30
_DEVICE = re.compile(r"(?:/dev/)?(sd|xvd|vd|hd)([a-z]{1,2})([0-9]{0,2})", re.ASCII)
_EPHEMERAL = re.compile(r"ephemeral[0-9]{1,2}", re.ASCII)


def invalid(message: str) -> InvalidParameterValue:
    return InvalidParameterValue(message, "InvalidBlockDeviceMapping")


def disk_of(device: str) -> str | None:
    """The virtio disk a device name means (``/dev/sda1`` -> ``vda``), None when the
    name is no disk's."""
    found = _DEVICE.fullmatch(device)
    return f"vd{found.group(2)}" if found else None


@dataclass
class Plan:
    """What compute is asked for: the mappings, and whether the image is the root."""

    devices: list[dict[str, Any]]
    image_root: bool


def _image_size(image: dict[str, Any]) -> int:
    """GiB the image needs as a volume."""
    data = int(image.get("virtual_size") or image.get("size") or 0)
    return max(int(image.get("min_disk") or 0), math.ceil(data / GiB), 1)


def _volume_type(ebs: Params, known: list[str] | None) -> str | None:
    vtype = ebs.text("VolumeType", max_len=255)
    if vtype in (None, "", "standard"):
        return None
    if known is None or vtype not in known:
        raise invalid(f"The volume type '{vtype}' does not exist.")
    return vtype


async def _snapshot(ctx: Ctx, ident: str) -> tuple[str, int]:
    """(uuid, GiB) of a completed snapshot."""
    uuid = await ctx.resolve(ids.SNAPSHOT, ident)
    with missing_as(ids.SNAPSHOT, ident):
        snap = await ctx.volumes.show_snapshot(uuid)
    if snap.get("status") != "available":
        raise invalid(f"The snapshot '{ident}' is not completed yet.")
    return uuid, int(snap.get("size") or 1)


async def plan(ctx: Ctx, p: Params, image: dict[str, Any], image_uuid: str) -> Plan:
    """The ``block_device_mapping_v2`` of a RunInstances (all checked before anything is
    made)."""
    base: dict[str, dict[str, Any]] = {}  # disk -> entry: the image's own mappings
    for own in images.block_devices(image):
        disk = disk_of(str(own.get("device_name") or ROOT))
        if disk:
            base[disk] = {k: v for k, v in own.items() if k != "device_name"}
    root = disk_of(str(image.get("root_device_name") or ROOT)) or "vda"
    from_snapshot = bool(base)  # an image registered from a snapshot holds no data
    items = p.structs("BlockDeviceMapping")
    known: list[str] | None = None
    if any((i.child("Ebs") or Params()).text("VolumeType") not in (None, "", "standard")
           for i in items):
        known = [str(t.get("name")) for t in await ctx.volumes.list_types()]
    asked: set[str] = set()
    for item in items:
        device = item.required("DeviceName", max_len=64)
        disk = disk_of(device)
        if disk is None:
            raise invalid(f"Invalid device name {device[:64]}")
        if disk in asked:
            raise invalid(f"The device {device} is mapped more than once.")
        asked.add(disk)
        ebs, virtual = item.child("Ebs"), item.text("VirtualName")
        if item.has("NoDevice"):
            if disk == root:
                raise invalid("The root device cannot be left out (NoDevice).")
            base.pop(disk, None)
            continue
        if (ebs is None) == (virtual is None):
            raise invalid(f"The mapping of {device} needs one of Ebs, VirtualName or "
                          "NoDevice.")
        if virtual is not None:
            if disk == root or not _EPHEMERAL.fullmatch(virtual):
                raise invalid(f"Invalid virtual name {virtual[:64]} for {device} (an "
                              "instance store device other than the root: ephemeralN)")
            base[disk] = {"source_type": "blank", "destination_type": "local",
                          "delete_on_termination": True}
            continue
        assert ebs is not None
        if ebs.boolean("Encrypted"):
            raise InvalidParameterValue("Encrypted volumes are not offered by this cloud.")
        size = ebs.integer("VolumeSize", low=1, high=MAX_SIZE)
        entry: dict[str, Any] = {
            "destination_type": "volume",
            "delete_on_termination": ebs.boolean("DeleteOnTermination", True)}
        if vtype := _volume_type(ebs, known):
            entry["volume_type"] = vtype
        snap_ident = ebs.text("SnapshotId")
        if snap_ident:
            snap_uuid, snap_size = await _snapshot(ctx, snap_ident)
            if size is not None and size < snap_size:
                raise invalid(f"Volume of size {size} GiB is smaller than snapshot "
                              f"'{snap_ident}', expect size >= {snap_size}")
            entry.update(source_type="snapshot", uuid=snap_uuid,
                         volume_size=size or snap_size)
        elif disk in base and base[disk].get("source_type") in ("snapshot", "volume"):
            least = int(base[disk].get("volume_size") or 1)  # the image's own mapping
            if size is not None and size < least:
                raise invalid(f"Volume of size {size} GiB is smaller than the image's "
                              f"{device} ({least} GiB)")
            entry = {**base[disk], **entry, "volume_size": size or least}
        elif disk == root:  # the image's disk as a volume
            least = _image_size(image)
            if size is not None and size < least:
                raise invalid(f"Volume of size {size} GiB is smaller than the image "
                              f"({least} GiB)")
            entry.update(source_type="image", uuid=image_uuid, volume_size=size or least)
        elif size is None:
            raise invalid(f"The mapping of {device} needs Ebs.SnapshotId or "
                          "Ebs.VolumeSize.")
        else:
            entry.update(source_type="blank", volume_size=size)
        base[disk] = entry
    if from_snapshot and root not in base:
        raise invalid("The image has no root device mapping.")
    devices = []
    for disk in sorted(base, key=lambda d: (d != root, len(d), d)):
        out = {k: v for k, v in base[disk].items() if k not in ("boot_index", "snapshot_id")}
        if base[disk].get("snapshot_id") and not out.get("uuid"):
            out["uuid"] = base[disk]["snapshot_id"]
        if disk == root:
            out["boot_index"] = 0
        devices.append(out)
    return Plan(devices, image_root=root not in base)


# -- the instance's mappings, as DescribeInstances shows them ------------------------------


def volume_uuids(server: dict[str, Any]) -> list[str]:
    return [str(v["id"]) for v in server.get("os-extended-volumes:volumes_attached") or []
            if v.get("id")]


def mappings(server: dict[str, Any], volumes: dict[str, dict[str, Any]],
             seen: Seen) -> list[dict[str, Any]]:
    """EC2's ``blockDeviceMapping`` of a server: its volumes by device name."""
    out = []
    for attached in server.get("os-extended-volumes:volumes_attached") or []:
        vol = volumes.get(str(attached.get("id"))) or {}
        here: dict[str, Any] = next((a for a in vol.get("attachments") or []
                     if a.get("server_id") == server["id"]), {})
        status = {"attaching": "attaching", "detaching": "detaching"}.get(
            str(vol.get("status")), "attached")
        out.append({"deviceName": here.get("device") or "", "ebs": {
            "volumeId": seen.id(ids.VOLUME, str(attached.get("id"))), "status": status,
            "attachTime": aws_time(here.get("attached_at")),
            "deleteOnTermination": bool(attached.get("delete_on_termination"))}})
    return sorted(out, key=lambda m: (len(m["deviceName"]), m["deviceName"]))


def root_volume(server: dict[str, Any], volumes: dict[str, dict[str, Any]]
                ) -> dict[str, Any] | None:
    """The volume a server boots from, if one."""
    for uuid in volume_uuids(server):
        vol = volumes.get(uuid) or {}
        if any(a.get("server_id") == server["id"] and a.get("device") == ROOT
               for a in vol.get("attachments") or []):
            return vol
    return None
