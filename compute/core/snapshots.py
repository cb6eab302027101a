"""Images of servers (``createImage``, ``shelve``): what the new image says, as Nova
makes it, and how a server boots from an image that names volume snapshots.

The API makes the image (queued) with the user's token, so their project owns it:
its name and the user's metadata, ``image_type`` (``snapshot``), ``instance_uuid``,
``base_image_ref``, ``user_id``, and what booting it needs again from the server's
image (kernel, ramdisk, command line, minimum RAM and disk). The agent fills it: an
image-backed server's root disk flattened into one qcow2; for a volume-backed server a
block-store snapshot of each volume, named in the image's ``block_device_mapping``
(``bdm_v2``), and no data (size 0). A server created from such an image boots from
new volumes made from those snapshots (:func:`image_devices`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from compute import models as m
from compute.core.requests import BlockDevice
from compute.errors import Invalid

# the server image's properties a snapshot keeps (to boot the same way again)
INHERITED = ("kernel_id", "ramdisk_id", "os_command_line", "hw_disk_bus", "architecture",
             "os_distro", "os_type")
MAX_NAME = 255


def check_name(value: Any, field_name: str = "name") -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise Invalid(f"Invalid input for field/attribute {field_name}. Value: {value}.")
    return value


def volume_backed(inst: m.Instance) -> bool:
    return not inst.image_ref


def image_fields(inst: m.Instance, name: str, metadata: Mapping[str, str], *,
                 image_type: str = "snapshot") -> dict[str, Any]:
    """The new image's fields and properties (Glance's: extra properties are strings)."""
    meta = inst.image_meta or {}
    out: dict[str, Any] = {
        "name": name, "container_format": "bare",
        "disk_format": "raw" if volume_backed(inst) else "qcow2",
        "visibility": "private",
        "min_ram": int(meta.get("min_ram") or 0),
        "min_disk": max(int(meta.get("min_disk") or 0), inst.root_gb)}
    for key in INHERITED:
        if meta.get(key):
            out[key] = str(meta[key])
    out.update({k: str(v) for k, v in metadata.items()})
    out.update({"image_type": image_type, "instance_uuid": inst.uuid,
                "user_id": inst.user_id})
    if inst.image_ref:
        out["base_image_ref"] = inst.image_ref
    return out


def snapshot_mapping(bdm: m.BlockDeviceMapping, snapshot_id: str, size: int
                     ) -> dict[str, Any]:
    """A volume's entry in the image's ``block_device_mapping`` (Nova's v2 form)."""
    return {"source_type": "snapshot", "destination_type": "volume",
            "snapshot_id": snapshot_id, "volume_size": size, "boot_index": bdm.boot_index,
            "device_name": bdm.device_name, "delete_on_termination":
            bdm.delete_on_termination, "tag": bdm.tag, "volume_type": bdm.volume_type,
            "disk_bus": "virtio", "device_type": "disk", "guest_format": None,
            "no_device": None, "image_id": None, "volume_id": None}


def image_devices(image: Mapping[str, Any]) -> tuple[BlockDevice, ...]:
    """The block devices an image names (a volume-backed server's snapshot), () for an
    ordinary image."""
    if str(image.get("bdm_v2", "")).lower() != "true" or not image.get(
            "block_device_mapping"):
        return ()
    raw = image["block_device_mapping"]
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise Invalid(f"Image {image.get('id')} has a block_device_mapping that is not "
                      "JSON.") from None
    if not isinstance(items, list):
        raise Invalid(f"Image {image.get('id')} has a block_device_mapping that is not a "
                      "list.")
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        source = item.get("source_type")
        ident = {"snapshot": item.get("snapshot_id"), "volume": item.get("volume_id"),
                 "image": item.get("image_id"), "blank": None}
        if source not in ident or item.get("no_device"):
            continue
        boot = item.get("boot_index")
        out.append(BlockDevice(
            source_type=str(source),
            destination_type=str(item.get("destination_type") or "volume"),
            uuid=ident[source], boot_index=int(boot) if boot is not None else None,
            volume_size=int(item["volume_size"]) if item.get("volume_size") else None,
            delete_on_termination=bool(item.get("delete_on_termination")),
            device_name=item.get("device_name"), tag=item.get("tag"),
            volume_type=item.get("volume_type")))
    return tuple(out)
