"""Shelve, offload and unshelve a server on this host.

Shelve powers the guest off and, for an image-backed server, uploads its root disk
(flattened) as the image ``<name>-shelved`` the API made; then, unless
``[compute] shelve_offload`` is false, offloads it: the domain and every local file
(overlay, config drive, console log) leave the host, its resources are freed for
the scheduler, and it is SHELVED_OFFLOADED. Its ports stay (bound, with their
addresses), and so do a volume-backed server's volumes, attached. Unshelve boots the
guest again: from the shelved image (a new overlay on it; the image is deleted once
the guest runs) or from its volumes.
"""

from __future__ import annotations

import asyncio
import contextlib

from compute import models as m
from compute.agent import guest, images
from compute.agent.context import AgentContext, log
from compute.agent.lifecycle import power_state, respawn
from compute.core import states
from compute.errors import InstanceNotFound

SHELVED_IMAGE, SHELVED_AT = "shelved_image_id", "shelved_at"
GiB = 1 << 30


async def shelve(ctx: AgentContext, uuid: str, image_id: str | None) -> None:
    with contextlib.suppress(InstanceNotFound):
        await ctx.driver.power_off(uuid, grace=float(ctx.cfg.shutdown_timeout))
    inst = await ctx.load(uuid)
    if image_id:
        try:
            await images.upload_root(ctx, inst, ctx.images(uuid), image_id,
                                     uploading=states.SHELVING_IMAGE_UPLOADING)
        except BaseException:
            await asyncio.shield(images.drop_image(ctx, uuid, image_id))
            raise
    meta = {**(inst.system_metadata or {}),
            SHELVED_AT: m.utcnow().isoformat(), SHELVED_IMAGE: image_id}
    await ctx.update(uuid, vm_state=states.SHELVED, power_state=states.SHUTDOWN,
                     task_state=states.SHELVING_OFFLOADING if ctx.cfg.shelve_offload
                     else None, system_metadata=meta)
    log.info("server %s shelved%s", uuid, f" as image {image_id}" if image_id else "")
    if ctx.cfg.shelve_offload:
        await offload(ctx, uuid)


async def offload(ctx: AgentContext, uuid: str) -> None:
    with contextlib.suppress(InstanceNotFound):
        await ctx.driver.destroy(uuid)
    await ctx.remove_files(uuid)
    await ctx.update(uuid, vm_state=states.SHELVED_OFFLOADED, task_state=None,
                     power_state=states.NOSTATE)
    log.info("server %s offloaded from %s", uuid, ctx.host)


async def unshelve(ctx: AgentContext, uuid: str) -> None:
    inst = await ctx.load(uuid)
    meta = dict(inst.system_metadata or {})
    image_id = meta.get(SHELVED_IMAGE)
    await ctx.update(uuid, task_state=states.SPAWNING)
    root = guest.root_path(ctx, uuid)
    if inst.image_ref and image_id and not await asyncio.to_thread(root.exists):
        base = await guest.fetch_image(ctx, uuid, str(image_id))
        await asyncio.to_thread(root.parent.mkdir, parents=True, exist_ok=True)
        await ctx.cache.create_overlay(base, root, inst.root_gb * GiB)
    await respawn(ctx, uuid)
    for key in (SHELVED_IMAGE, SHELVED_AT):
        meta.pop(key, None)
    await ctx.update(uuid, vm_state=states.ACTIVE, task_state=None,
                     power_state=await power_state(ctx, uuid), system_metadata=meta)
    if image_id:
        await images.drop_image(ctx, uuid, str(image_id))
    log.info("server %s unshelved", uuid)
