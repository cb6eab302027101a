"""A server create request checked against the other services, before any row is made.

Nova checks all of this in its API before it answers 202, with the user's token:
the image exists, is visible and active, and fits the flavor (disk, minimum disk and
RAM); the flavor and key pair are the caller's to use; volumes to boot from or attach
are available; snapshots exist (an image made of volume snapshots, by ``createImage``
of a volume-backed server, boots from new volumes made of them); the availability
zone exists; networks, ports and
security groups resolve (:mod:`compute.core.networking`). Every failure is its 400
(or 409 for a port in use); nothing is made until everything holds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore.client import VolumeClient
from common.httpclient import RemoteError, RemoteNotFound
from compute import models as m
from compute.core import flavors, keypairs, networking, snapshots
from compute.core.requests import BlockDevice, CreateRequest
from compute.core.scheduler import COMPUTE_BINARY
from compute.core.servers import Prepared
from compute.errors import FlavorNotFound, Invalid, PolicyNotAuthorized
from compute.policy import Caller
from compute.state import ComputeState

GiB = 1 << 30
# what a server keeps of its image (the agent needs it again to fetch and boot it)
IMAGE_FIELDS = ("id", "name", "disk_format", "container_format", "checksum",
                "os_hash_algo", "os_hash_value", "size", "virtual_size", "min_disk",
                "min_ram", "kernel_id", "ramdisk_id", "os_command_line", "hw_disk_bus",
                "owner", "visibility")


def image_subset(image: Mapping[str, Any]) -> dict[str, Any]:
    return {k: image[k] for k in IMAGE_FIELDS if image.get(k) is not None}


async def show_image(st: ComputeState, who: Caller, image_id: str) -> dict[str, Any]:
    """The image as the caller sees it (400 when it does not exist or is not active)."""
    try:
        image = await st.images(who.token).show(image_id)
    except RemoteNotFound:
        raise Invalid(f"Image {image_id} could not be found.") from None
    except RemoteError as exc:
        if exc.answered is not None and 400 <= exc.answered < 500:
            raise Invalid(f"Image {image_id} could not be found.") from None
        raise
    if image.get("status") != "active":
        raise Invalid(f"Image {image_id} is not active.")
    return image


def check_image_fits(image: Mapping[str, Any], flavor: Mapping[str, Any]) -> int:
    """The root disk (GiB) a server of ``flavor`` gets from ``image``; 400 when the
    image does not fit (Nova's messages)."""
    root_gb = int(flavor["root_gb"])
    size = int(image.get("size") or 0)
    virtual = int(image.get("virtual_size") or 0) or size
    min_disk = int(image.get("min_disk") or 0)
    min_ram = int(image.get("min_ram") or 0)
    if min_ram > int(flavor["memory_mb"]):
        raise Invalid("Flavor's memory is too small for requested image.")
    if root_gb:
        disk = root_gb * GiB
        if max(size, virtual) > disk:
            raise Invalid(f"Flavor's disk is too small for requested image. Flavor disk is "
                          f"{disk} bytes, image is {max(size, virtual)} bytes.")
        if min_disk * GiB > disk:
            raise Invalid(f"Flavor's disk is smaller than the minimum size specified in "
                          f"image metadata. Flavor disk is {disk} bytes, minimum size is "
                          f"{min_disk * GiB} bytes.")
        return root_gb
    return max(min_disk, math.ceil(virtual / GiB) if virtual else 1)


def _check_volume_fits(image: Mapping[str, Any], size_gb: int) -> None:
    min_disk = int(image.get("min_disk") or 0)
    size = int(image.get("virtual_size") or image.get("size") or 0)
    need = max(min_disk * GiB, size)
    if need > size_gb * GiB:
        raise Invalid(f"Volume is smaller than the minimum size specified in image metadata."
                      f" Volume size is {size_gb * GiB} bytes, minimum size is {need} bytes.")


async def _volume(client: VolumeClient, volume_id: str) -> dict[str, Any]:
    try:
        volume = await client.show_volume(volume_id)
    except RemoteError as exc:
        if exc.answered is not None and 400 <= exc.answered < 500:
            raise Invalid(f"Block Device Mapping is Invalid: failed to get volume "
                          f"{volume_id}.") from None
        raise
    if volume.get("status") != "available":
        raise Invalid(f"Invalid volume: volume '{volume_id}' status must be 'available'. "
                      f"Currently in '{volume.get('status')}'")
    return volume


async def check_devices(st: ComputeState, who: Caller, devices: tuple[BlockDevice, ...]
                        ) -> dict[str, Any]:
    """Check the volumes, snapshots and images the mappings name; the boot disk's image
    metadata when a volume is the root ({} otherwise)."""
    boot_meta: dict[str, Any] = {}
    client = st.volumes(who.token, who.project_id or "")
    for bd in devices:
        if bd.destination_type != "volume" and bd.source_type != "blank":
            continue
        meta: dict[str, Any] = {}
        if bd.source_type == "volume" and bd.uuid:
            volume = await _volume(client, bd.uuid)
            meta = dict(volume.get("volume_image_metadata") or {})
            if meta.get("image_id"):
                meta["id"] = meta["image_id"]
        elif bd.source_type == "snapshot" and bd.uuid:
            try:
                snap = await client.show_snapshot(bd.uuid)
            except RemoteError as exc:
                if exc.answered is not None and 400 <= exc.answered < 500:
                    raise Invalid(f"Block Device Mapping is Invalid: failed to get snapshot "
                                  f"{bd.uuid}.") from None
                raise
            if snap.get("status") != "available":
                raise Invalid(f"Invalid snapshot: snapshot {bd.uuid} is not available")
            if bd.volume_size is not None and bd.volume_size < int(snap.get("size") or 0):
                raise Invalid("Block Device Mapping is Invalid: the volume is smaller than "
                              "its snapshot.")
            source = await _snapshot_source_meta(client, snap)
            meta = source
        elif bd.source_type == "image" and bd.uuid:
            image = await show_image(st, who, bd.uuid)
            size = bd.volume_size or max(int(image.get("min_disk") or 0), math.ceil(
                int(image.get("virtual_size") or image.get("size") or 1) / GiB))
            _check_volume_fits(image, size)
            meta = image_subset(image)
        if bd.boot_index == 0:
            boot_meta = meta
    return boot_meta


async def _snapshot_source_meta(client: VolumeClient, snap: Mapping[str, Any]
                                ) -> dict[str, Any]:
    try:
        volume = await client.show_volume(str(snap.get("volume_id")))
    except RemoteError:
        return {}
    meta = dict(volume.get("volume_image_metadata") or {})
    if meta.get("image_id"):
        meta["id"] = meta["image_id"]
    return meta


def boots_from_volume(req: CreateRequest) -> bool:
    return any(bd.boot_index == 0 and bd.destination_type == "volume"
               for bd in req.block_devices)


def _zones(s: Session) -> set[str]:
    return set(s.scalars(select(m.Service.zone).where(m.Service.binary == COMPUTE_BINARY)))


def _flavor_and_key(s: Session, who: Caller, req: CreateRequest
                    ) -> tuple[dict[str, Any], str | None, set[str]]:
    try:
        flavor = flavors.get(s, who, req.flavor_ref)
    except FlavorNotFound:
        raise Invalid(f"Flavor {req.flavor_ref} could not be found.") from None
    if flavor.disabled:
        raise Invalid(f"Flavor {req.flavor_ref} could not be found.")
    key_data = None
    if req.key_name is not None:
        try:
            key_data = keypairs.get(s, who.user_id, req.key_name).public_key
        except keypairs.KeypairNotFound:
            raise Invalid("Invalid key_name provided.") from None
    return flavors.snapshot(flavor), key_data, _zones(s)


async def prepare(st: ComputeState, who: Caller, req: CreateRequest) -> Prepared:
    flavor, key_data, zones = await st.db.run(lambda s: _flavor_and_key(s, who, req))
    if req.availability_zone is not None and req.availability_zone not in zones:
        raise Invalid("The requested availability zone is not available")
    if req.host is not None and not who.is_admin:
        raise PolicyNotAuthorized("compute:servers:create:requested_destination")
    image: dict[str, Any] = {}
    root_gb = int(flavor["root_gb"])
    if req.image_ref:
        full = await show_image(st, who, req.image_ref)
        if full.get("disk_format") in ("aki", "ari"):
            raise Invalid(f"Image {req.image_ref} is a kernel or ramdisk: it cannot be a "
                          "server's disk.")
        named = snapshots.image_devices(full)
        if named and not boots_from_volume(req):
            # a volume-backed server's snapshot: new volumes from its snapshots (they
            # replace the image as a local root disk, which clients may ask for)
            kept = tuple(bd for bd in req.block_devices if not (
                bd.source_type == "image" and bd.destination_type == "local"
                and bd.uuid == req.image_ref))
            req = dataclasses.replace(req, block_devices=(*named, *kept))
        if not boots_from_volume(req):
            root_gb = check_image_fits(full, flavor)
        image = image_subset(full)
    boot_meta = await check_devices(st, who, req.block_devices)
    if boots_from_volume(req):
        image = boot_meta or image
        root_gb = 0
        if int(image.get("min_ram") or 0) > int(flavor["memory_mb"]):
            raise Invalid("Flavor's memory is too small for requested image.")
    nets, groups = await networking.resolve(st, who, req)
    zone = req.availability_zone or st.cfg.compute.availability_zone
    return Prepared(req=req, flavor=flavor, image=image, key_data=key_data,
                    security_groups=groups, networks=nets, devices=req.block_devices,
                    root_gb=root_gb, zone=zone, group_id=req.group)
