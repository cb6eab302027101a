"""A server's guest as the virt driver takes it, rebuilt from the database at any time.

The spec comes from the server's rows alone (its disks with their stored connection
info, its ports, its image's kernel and ramdisk, its config drive), so a start or
hard reboot of a guest whose domain is gone, or a restarted agent, defines the same
guest again. Base images are fetched into the host's cache when missing; the root
disk is a qcow2 overlay on its base in the server's directory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from compute import models as m
from compute.agent.context import AgentContext, log
from compute.agent.networks import nic_of
from compute.core.metadata import drive_data, ec2_ids
from compute.errors import VirtError
from compute.virt import configdrive
from compute.virt.driver import DirectBoot, Disk, InstanceSpec, IscsiDisk, LocalDisk, Nic
from compute.virt.imagecache import CachedImage
from diskimage import qemu
from imagestore.client import ImageClient

DEFAULT_CMDLINE = "root=/dev/vda console=ttyS0"
GiB = 1 << 30


def _stream(client: ImageClient, image_id: str) -> Callable[[], AsyncIterator[bytes]]:
    async def chunks() -> AsyncIterator[bytes]:
        download = await client.download(image_id)
        try:
            async for chunk in download:
                yield chunk
        finally:
            await download.close()

    return chunks


async def fetch_image(ctx: AgentContext, uuid: str, image_id: str,
                      known: dict[str, Any] | None = None) -> CachedImage:
    """The cached base of ``image_id`` (fetched as the server's user when missing)."""
    cached = await ctx.cache.cached(image_id)
    if cached is not None:
        return cached
    client = ctx.images(uuid)
    meta = known if known and known.get("disk_format") else await client.show(image_id)
    return await ctx.cache.fetch(
        image_id, _stream(client, image_id), disk_format=str(meta["disk_format"]),
        container_format=str(meta.get("container_format") or "bare"),
        checksum=meta.get("checksum"), hash_algo=meta.get("os_hash_algo"),
        hash_value=meta.get("os_hash_value"))


def root_path(ctx: AgentContext, uuid: str) -> Path:
    return ctx.instance_dir(uuid) / "disk"


async def make_root(ctx: AgentContext, inst: m.Instance) -> Path | None:
    """The image root of an image-backed server: a qcow2 overlay on its cached base of
    the server's root disk size (made when missing). None for a volume root."""
    if not inst.image_ref:
        return None
    path = root_path(ctx, inst.uuid)
    if path.exists():
        return path
    base = await fetch_image(ctx, inst.uuid, inst.image_ref, inst.image_meta)
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await ctx.cache.create_overlay(base, path, inst.root_gb * GiB)
    return path


async def make_ephemeral(ctx: AgentContext, inst: m.Instance) -> dict[int, Path]:
    """Blank local disks (ephemeral): a qcow2 each, by mapping id."""
    out: dict[int, Path] = {}
    for bdm in inst.block_devices:
        if bdm.source_type == "blank" and bdm.destination_type == "local":
            path = ctx.instance_dir(inst.uuid) / f"disk.eph{bdm.id}"
            if not path.exists():
                size = (bdm.volume_size or inst.ephemeral_gb or 1) * GiB
                await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
                await qemu.create(path, "qcow2", size)
            out[bdm.id] = path
    return out


async def direct_boot(ctx: AgentContext, inst: m.Instance) -> DirectBoot | None:
    """Kernel and ramdisk of an image that names them (``kernel_id``/``ramdisk_id``)."""
    meta = inst.image_meta or {}
    kernel_id = inst.kernel_id or meta.get("kernel_id")
    if not kernel_id:
        return None
    kernel = await fetch_image(ctx, inst.uuid, str(kernel_id))
    ramdisk_id = inst.ramdisk_id or meta.get("ramdisk_id")
    ramdisk = await fetch_image(ctx, inst.uuid, str(ramdisk_id)) if ramdisk_id else None
    return DirectBoot(str(kernel.path), str(ramdisk.path) if ramdisk else None,
                      str(meta.get("os_command_line") or DEFAULT_CMDLINE))


def disks(inst: m.Instance, root: Path | None, ephemeral: dict[int, Path]) -> list[Disk]:
    out: list[Disk] = []
    for bdm in sorted(inst.block_devices, key=lambda b: (b.boot_index is None,
                                                         b.boot_index or 0, b.id)):
        device = (bdm.device_name or "").removeprefix("/dev/")
        if bdm.destination_type == "local" and bdm.source_type == "image":
            if root is None:
                raise VirtError(f"the root disk of server {inst.uuid} is missing")
            out.append(Disk(LocalDisk(str(root), "qcow2"), device or "vda", boot_index=0))
        elif bdm.destination_type == "local" and bdm.id in ephemeral:
            out.append(Disk(LocalDisk(str(ephemeral[bdm.id]), "qcow2"), device))
        elif bdm.destination_type == "volume" and bdm.connection_info and \
                bdm.status in ("attached", "attaching"):
            out.append(Disk(IscsiDisk.from_connection_info(bdm.connection_info), device,
                            boot_index=bdm.boot_index, serial=bdm.volume_id or ""))
    return out


def nics(inst: m.Instance) -> list[Nic]:
    return [nic_of(vif) for vif in inst.interfaces]


async def config_drive(ctx: AgentContext, inst: m.Instance,
                       network_data: dict[str, Any] | None) -> Path:
    """Write the server's config drive (again: it is cheap, and says what is true now)."""
    data = drive_data(inst, network_data=network_data, local_ipv4=_first_ipv4(inst),
                      ids=await ec2_ids(ctx.st.ec2(), inst, ctx.st.ec2_ids))
    path = ctx.instance_dir(inst.uuid) / "disk.config"
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(configdrive.build, data, path)
    return path


def _first_ipv4(inst: m.Instance) -> str:
    for vif in inst.interfaces:
        for addr in vif.fixed_ips:
            if int(addr.get("version", 4)) == 4:
                return str(addr["ip_address"])
    return ""


def spec(ctx: AgentContext, inst: m.Instance, disk_list: list[Disk], nic_list: list[Nic],
         drive: Path | None, boot: DirectBoot | None) -> InstanceSpec:
    return InstanceSpec(
        uuid=inst.uuid, name=inst.display_name, vcpus=inst.vcpus,
        memory_mib=inst.memory_mb, disks=tuple(disk_list),
        console_log=str(ctx.console_log(inst.uuid)), nics=tuple(nic_list),
        config_drive=str(drive) if drive else None, direct_boot=boot,
        metadata={"project": inst.project_id, "user": inst.user_id,
                  "flavor": str((inst.flavor or {}).get("name", "")),
                  "image": inst.image_ref or ""})


async def full_spec(ctx: AgentContext, inst: m.Instance,
                    network_data: Callable[[m.Instance], Any] | None = None
                    ) -> InstanceSpec:
    """The whole guest of ``inst`` from its rows, making what is missing on this host
    (root overlay, ephemeral disks, config drive, cached kernel)."""
    root = await make_root(ctx, inst)
    ephemeral = await make_ephemeral(ctx, inst)
    boot = await direct_boot(ctx, inst)
    drive = None
    if inst.config_drive:
        nd = await network_data(inst) if network_data is not None else None
        drive = await config_drive(ctx, inst, nd)
    await asyncio.to_thread(ctx.instance_dir(inst.uuid).mkdir, parents=True, exist_ok=True)
    log.debug("guest of %s: root %s, %d disks, %d nics", inst.uuid, root,
              len(inst.block_devices), len(inst.interfaces))
    return spec(ctx, inst, disks(inst, root, ephemeral), nics(inst), drive, boot)

