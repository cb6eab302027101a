"""Resize, confirm and revert on this host (the server stays where it is).

Resize: the guest is powered off, its root overlay copied aside (``disk.resize``, so
a revert finds the disk as it was) and grown to the new flavor's disk when larger
(never shrunk), the domain defined again with the new vCPUs and RAM, the server's
rows given the new flavor, and the guest started again when it ran before:
VERIFY_RESIZE. Confirm drops the copy; revert powers off, puts the copy back, defines
the old vCPUs and RAM, gives back the old flavor and starts the guest when it ran
before the resize.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from typing import Any

from compute.agent import guest
from compute.agent.context import AgentContext, log
from compute.agent.lifecycle import power_state, respawn
from compute.core import resize as rules
from compute.core import states
from compute.errors import InstanceNotFound
from compute.virt import diskops

GiB = 1 << 30


def _backup(ctx: AgentContext, uuid: str) -> str:
    return str(ctx.instance_dir(uuid) / "disk.resize")


async def _power_off(ctx: AgentContext, uuid: str) -> None:
    with contextlib.suppress(InstanceNotFound):
        await ctx.driver.power_off(uuid, grace=float(ctx.cfg.shutdown_timeout))


async def _define(ctx: AgentContext, uuid: str, flavor: dict[str, Any]) -> None:
    with contextlib.suppress(InstanceNotFound):  # no domain: the next start defines it
        await ctx.driver.resize(uuid, int(flavor["vcpus"]), int(flavor["memory_mb"]))


async def _start_if(ctx: AgentContext, uuid: str, was: str) -> tuple[str, int]:
    """Start the guest again when it ran before the resize; (vm_state, power_state)."""
    if was != states.ACTIVE:
        return states.STOPPED, states.SHUTDOWN
    try:
        await ctx.driver.power_on(uuid)
    except InstanceNotFound:
        await respawn(ctx, uuid)
    return states.ACTIVE, await power_state(ctx, uuid)


async def resize(ctx: AgentContext, uuid: str) -> None:
    inst = await ctx.load(uuid)
    meta = dict(inst.system_metadata or {})
    new = meta[rules.NEW_FLAVOR]
    was = str(meta.get(rules.OLD_VM_STATE) or states.ACTIVE)
    await ctx.update(uuid, task_state=states.RESIZE_MIGRATING)
    await _power_off(ctx, uuid)
    await ctx.update(uuid, task_state=states.RESIZE_MIGRATED)
    root = guest.root_path(ctx, uuid)
    root_gb = inst.root_gb
    if inst.image_ref:
        root_gb = max(int(new["root_gb"]), inst.root_gb)
        if await asyncio.to_thread(root.exists):
            backup = _backup(ctx, uuid)
            if not await asyncio.to_thread(os.path.exists, backup):
                await asyncio.to_thread(shutil.copyfile, root, backup)
            if await diskops.grow(str(root), root_gb * GiB):
                log.info("server %s: root disk grown to %d GiB", uuid, root_gb)
    await ctx.update(uuid, task_state=states.RESIZE_FINISH,
                     **rules.flavor_values(new, root_gb))
    await _define(ctx, uuid, new)
    vm_state, power = await _start_if(ctx, uuid, was)
    del vm_state  # VERIFY_RESIZE whether it runs or not; confirm/revert restore it
    await ctx.update(uuid, vm_state=states.RESIZED, task_state=None, power_state=power)
    log.info("server %s resized to %s", uuid, new.get("name"))


async def confirm(ctx: AgentContext, uuid: str) -> None:
    inst = await ctx.load(uuid)
    if inst.vm_state != states.RESIZED:
        return
    meta = dict(inst.system_metadata or {})
    with contextlib.suppress(FileNotFoundError):
        await asyncio.to_thread(os.unlink, _backup(ctx, uuid))
    was = str(meta.get(rules.OLD_VM_STATE) or states.ACTIVE)
    await ctx.update(uuid, vm_state=was if was == states.STOPPED else states.ACTIVE,
                     task_state=None, system_metadata=rules.finished(meta))


async def revert(ctx: AgentContext, uuid: str) -> None:
    inst = await ctx.load(uuid)
    meta = dict(inst.system_metadata or {})
    old = meta[rules.OLD_FLAVOR]
    was = str(meta.get(rules.OLD_VM_STATE) or states.ACTIVE)
    await _power_off(ctx, uuid)
    backup = _backup(ctx, uuid)
    if await asyncio.to_thread(os.path.exists, backup):
        await asyncio.to_thread(os.replace, backup, guest.root_path(ctx, uuid))
    await ctx.update(uuid, **rules.flavor_values(
        old, int(meta.get(rules.OLD_ROOT_GB, inst.root_gb))))
    await _define(ctx, uuid, old)
    vm_state, power = await _start_if(ctx, uuid, was)
    await ctx.update(uuid, vm_state=vm_state, task_state=None, power_state=power,
                     system_metadata=rules.finished(meta))
    log.info("server %s back to %s", uuid, old.get("name"))
