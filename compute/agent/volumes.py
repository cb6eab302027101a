"""A server's volumes, through the block store's attachments API as Nova drives Cinder.

At build: a mapping whose source is an image, a snapshot or nothing gets a new volume
(as the user, in their project; ``wait`` until available), then every volume an
attachment connected to this host (its ``connection_info`` is stored with the
mapping, so the guest can be defined again from the database); once the guest runs
the attachments are completed (the volumes go ``in-use``). Hot attach and detach
work the same way on a running server. Releasing deletes the attachments and, when
the server goes, the volumes marked ``delete_on_termination``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from sqlalchemy.orm import Session

from common.httpclient import RemoteError, RemoteNotFound
from compute import models as m
from compute.agent.context import AgentContext, log
from compute.errors import DeviceNotFound, InstanceNotFound, VirtError
from compute.virt.driver import Disk, IscsiDisk

VOLUME_TIMEOUT = 900.0


def _bdm(inst: m.Instance, bdm_id: int) -> m.BlockDeviceMapping | None:
    return next((b for b in inst.block_devices if b.id == bdm_id), None)


async def _save(ctx: AgentContext, bdm_id: int,
                change: Callable[[m.BlockDeviceMapping], None]) -> None:
    def write(s: Session) -> None:
        row = s.get(m.BlockDeviceMapping, bdm_id)
        if row is not None:
            change(row)

    await ctx.db(write)


async def prepare(ctx: AgentContext, inst: m.Instance) -> None:
    """Create the volumes the mappings ask for and connect every volume to this host."""
    for bdm in inst.block_devices:
        if bdm.destination_type != "volume":
            continue
        volume_id = bdm.volume_id
        if volume_id is None:
            client = await ctx.volumes(inst.uuid, inst.project_id, as_user=True)
            made = await client.create_volume(
                int(bdm.volume_size or 1), image_id=bdm.image_id,
                snapshot_id=bdm.snapshot_id, volume_type=bdm.volume_type,
                availability_zone=None, name="")
            volume_id = str(made["id"])

            def made_for(row: m.BlockDeviceMapping, v: str = volume_id) -> None:
                row.volume_id = v

            await _save(ctx, bdm.id, made_for)
            log.info("server %s: volume %s made for %s", inst.uuid, volume_id,
                     bdm.device_name)
            await client.wait_volume(volume_id, ("available",), within=VOLUME_TIMEOUT)
        client = await ctx.volumes(inst.uuid, inst.project_id)
        attachment = await client.create_attachment(
            volume_id, inst.uuid, connector=ctx.connector(bdm.device_name))
        info = attachment.get("connection_info") or {}
        IscsiDisk.from_connection_info(info)  # a volume the guest cannot use fails here

        def keep(row: m.BlockDeviceMapping, a: str = str(attachment["id"]),
                 c: dict[str, object] = info) -> None:
            row.attachment_id, row.connection_info = a, c

        await _save(ctx, bdm.id, keep)


async def complete(ctx: AgentContext, inst: m.Instance) -> None:
    client = await ctx.volumes(inst.uuid, inst.project_id)
    for bdm in inst.block_devices:
        if bdm.destination_type == "volume" and bdm.attachment_id:
            await client.complete_attachment(bdm.attachment_id)
            await _save(ctx, bdm.id, lambda row: setattr(row, "status", "attached"))


async def release(ctx: AgentContext, inst: m.Instance, *, terminate: bool) -> list[str]:
    """Detach every volume from the server (and delete those to delete with it when
    ``terminate``); what could not be done, for the log."""
    problems: list[str] = []
    client = await ctx.volumes(inst.uuid, inst.project_id)
    for bdm in inst.block_devices:
        if bdm.destination_type != "volume":
            continue
        if bdm.attachment_id:
            try:
                await client.delete_attachment(bdm.attachment_id)
            except RemoteNotFound:
                pass
            except RemoteError as exc:
                problems.append(f"attachment {bdm.attachment_id}: {exc.message}")
                continue
        if terminate and bdm.delete_on_termination and bdm.volume_id:
            try:
                await client.wait_volume(bdm.volume_id, ("available", "error"), within=60)
                await client.delete_volume(bdm.volume_id)
            except RemoteNotFound:
                pass
            except RemoteError as exc:
                problems.append(f"volume {bdm.volume_id}: {exc.message}")
    return problems


def forget_released(inst: m.Instance) -> None:
    """After :func:`release` with ``terminate``: the volumes deleted with the server are
    no longer its disks; the others are no longer attached."""
    for bdm in list(inst.block_devices):
        if bdm.destination_type != "volume":
            continue
        if bdm.delete_on_termination:
            inst.block_devices.remove(bdm)
        else:
            bdm.attachment_id, bdm.connection_info, bdm.status = None, None, "detached"


async def attach(ctx: AgentContext, uuid: str, bdm_id: int) -> None:
    """Connect a reserved attachment to this host and hot-plug its disk."""
    inst = await ctx.load(uuid)
    bdm = _bdm(inst, bdm_id)
    if bdm is None or not bdm.attachment_id or not bdm.volume_id:
        return
    client = await ctx.volumes(uuid, inst.project_id)
    try:
        attachment = await client.update_attachment(bdm.attachment_id,
                                                    ctx.connector(bdm.device_name))
        info = attachment.get("connection_info") or {}
        disk = Disk(IscsiDisk.from_connection_info(info),
                    (bdm.device_name or "").removeprefix("/dev/"), serial=bdm.volume_id)
        await _save(ctx, bdm_id, lambda row: setattr(row, "connection_info", info))
        try:
            device = await ctx.driver.attach_volume(uuid, disk)
        except InstanceNotFound:  # no domain now: the next start defines it with the disk
            device = disk.device
        await client.complete_attachment(bdm.attachment_id)
    except BaseException:
        with contextlib.suppress(RemoteError):
            await client.delete_attachment(bdm.attachment_id)
        await _forget(ctx, bdm_id)
        raise

    def done(row: m.BlockDeviceMapping) -> None:
        row.status = "attached"
        row.device_name = f"/dev/{device}"

    await _save(ctx, bdm_id, done)


async def _forget(ctx: AgentContext, bdm_id: int) -> None:
    """Delete the mapping's row (the disk is gone from the guest and the block store)."""
    def drop(s: Session) -> None:
        row = s.get(m.BlockDeviceMapping, bdm_id)
        if row is not None:
            s.delete(row)

    await ctx.db(drop)


async def detach(ctx: AgentContext, uuid: str, bdm_id: int) -> None:
    """Unplug the disk, delete its attachment, forget the mapping."""
    inst = await ctx.load(uuid)
    bdm = _bdm(inst, bdm_id)
    if bdm is None:
        return
    device = (bdm.device_name or "").removeprefix("/dev/")
    try:
        await ctx.driver.detach_volume(uuid, device)
    except (DeviceNotFound, InstanceNotFound):
        pass
    except VirtError:
        await _save(ctx, bdm_id, lambda row: setattr(row, "status", "attached"))
        raise
    if bdm.attachment_id:
        client = await ctx.volumes(uuid, inst.project_id)
        with contextlib.suppress(RemoteNotFound):
            await client.delete_attachment(bdm.attachment_id)
    await _forget(ctx, bdm_id)
