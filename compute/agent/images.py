"""A server's image for ``createImage`` and ``shelve``, into the image the API made.

Image-backed: the root disk and its backing chain are flattened into one qcow2 by the
driver (``qemu-img convert`` as a subprocess; a running guest is paused for the copy),
then streamed from the file to the image store; the file goes afterwards.
Volume-backed: a block-store snapshot of each volume (waited for until available),
named in the image's ``block_device_mapping``, and no data. On any failure the image
is deleted (and the snapshots made for it), as Nova does, and the server keeps its
state with a fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from common.httpclient import RemoteError, RemoteUnavailable, file_chunks
from compute import models as m
from compute.agent.context import AgentContext, log
from compute.agent.volumes import VOLUME_TIMEOUT
from compute.core import snapshots, states
from imagestore.client import ImageClient


def root_device(inst: m.Instance) -> str:
    for bdm in inst.block_devices:
        if bdm.boot_index == 0 and bdm.device_name:
            return bdm.device_name.removeprefix("/dev/")
    return "vda"


async def upload_root(ctx: AgentContext, inst: m.Instance, client: ImageClient,
                      image_id: str, *, uploading: str = states.IMAGE_UPLOADING) -> None:
    """Flatten the root disk into a new qcow2 and send it as ``image_id``'s data."""
    dest = ctx.instance_dir(inst.uuid) / f"snapshot-{image_id}.qcow2"
    try:
        await ctx.driver.snapshot(inst.uuid, root_device(inst), str(dest), "qcow2")
        await ctx.update(inst.uuid, task_state=uploading)
        await client.upload(image_id, file_chunks(dest))
    finally:
        await asyncio.to_thread(dest.unlink, True)


async def _wait_snapshot(ctx: AgentContext, inst: m.Instance, snapshot_id: str) -> None:
    client = await ctx.volumes(inst.uuid, inst.project_id)
    deadline = time.monotonic() + VOLUME_TIMEOUT
    while True:
        snap = await client.show_snapshot(snapshot_id)
        status = str(snap.get("status"))
        if status == "available":
            return
        if status.startswith("error"):
            raise RemoteUnavailable(f"snapshot {snapshot_id} went to status {status}")
        if time.monotonic() > deadline:
            raise RemoteUnavailable(f"snapshot {snapshot_id} is still {status}")
        await asyncio.sleep(0.5)


async def volume_image(ctx: AgentContext, inst: m.Instance, client: ImageClient,
                       image_id: str) -> None:
    """Snapshot every volume of a volume-backed server; the image names them."""
    volumes = await ctx.volumes(inst.uuid, inst.project_id)
    name = str((await client.show(image_id)).get("name") or image_id)
    made: list[str] = []
    mappings = []
    try:
        for bdm in inst.block_devices:
            if bdm.destination_type != "volume" or not bdm.volume_id:
                continue
            size = int((await volumes.show_volume(bdm.volume_id)).get("size") or 1)
            snap = await volumes.create_snapshot(bdm.volume_id, name=f"snapshot for {name}",
                                                 force=True)
            made.append(str(snap["id"]))
            mappings.append(snapshots.snapshot_mapping(bdm, str(snap["id"]), size))
        for snapshot_id in made:
            await _wait_snapshot(ctx, inst, snapshot_id)
        await ctx.update(inst.uuid, task_state=states.IMAGE_UPLOADING)
        await client.update(image_id, [
            {"op": "add", "path": "/block_device_mapping", "value": json.dumps(mappings)},
            {"op": "add", "path": "/bdm_v2", "value": "True"},
            {"op": "add", "path": "/root_device_name",
             "value": inst.root_device_name or "/dev/vda"}])
        await client.upload(image_id, b"")
    except BaseException:
        for snapshot_id in made:
            with contextlib.suppress(RemoteError):
                await volumes.delete_snapshot(snapshot_id)
        raise


async def drop_image(ctx: AgentContext, uuid: str, image_id: str) -> None:
    """Delete an image made for the server (a failed snapshot, an unshelved server's)."""
    try:
        await ctx.images(uuid).delete(image_id)
    except RemoteError as exc:
        if exc.answered != 404:
            log.warning("server %s: image %s stays: %s", uuid, image_id, exc.message)


async def snapshot(ctx: AgentContext, uuid: str, image_id: str) -> None:
    """``createImage``: the image's data (or volume snapshots); the server's state stays."""
    inst = await ctx.load(uuid)
    client = ctx.images(uuid)
    await ctx.update(uuid, task_state=states.IMAGE_SNAPSHOT)
    try:
        if snapshots.volume_backed(inst):
            await volume_image(ctx, inst, client, image_id)
        else:
            await upload_root(ctx, inst, client, image_id)
    except BaseException:
        await asyncio.shield(drop_image(ctx, uuid, image_id))
        raise
    await ctx.update(uuid, task_state=None)
    log.info("server %s: image %s made", uuid, image_id)
