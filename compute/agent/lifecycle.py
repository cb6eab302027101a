"""Build, delete and rebuild a server on this host.

Build, as Nova's compute manager does it: task ``block_device_mapping`` (volumes made
and connected), ``networking`` (ports made and bound to this host), ``spawning`` (root
overlay on the cached image, kernel and ramdisk, config drive, the guest defined and
started), then ACTIVE. Each resource is written to the database as it is made, so a
failure, a delete that cancels the build, or a restart in between releases exactly
what exists: the guest, its attachments (and the volumes made for it that go with
it), its ports and its files. A failed build leaves the server in ERROR with a
``fault`` saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback as tb

from sqlalchemy.orm import Session

from blockstore.client import error_message
from common.errors import StrataError
from common.httpclient import RemoteError
from compute import models as m
from compute.agent import guest, images, networks, volumes
from compute.agent.context import AgentContext, log
from compute.core import servers, states
from compute.errors import InstanceNotFound, ServerNotFound

BUILD_EVENT = "compute__do_build_and_run_instance"


def describe(exc: BaseException) -> str:
    """What a fault says about a failure: the message made for users, else its type."""
    if isinstance(exc, RemoteError):
        return f"{exc.message}: {error_message(exc)}"[:255]
    if isinstance(exc, StrataError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"[:255]


async def release(ctx: AgentContext, uuid: str, *, terminate: bool) -> None:
    """Take the server off this host: its guest, volumes, ports and files."""
    with contextlib.suppress(InstanceNotFound):
        await ctx.driver.destroy(uuid)
    try:
        inst = await ctx.load(uuid)
    except ServerNotFound:
        return
    problems = await volumes.release(ctx, inst, terminate=terminate)
    problems += await networks.release(ctx, inst)
    await ctx.remove_files(uuid)
    for problem in problems:
        log.warning("server %s: could not release %s", uuid, problem)


async def respawn(ctx: AgentContext, uuid: str) -> None:
    """Define and start the guest again from the database (its domain is gone)."""
    inst = await ctx.load(uuid)
    spec = await guest.full_spec(ctx, inst, lambda i: networks.network_data(ctx, i))
    await ctx.driver.spawn(spec)


async def power_state(ctx: AgentContext, uuid: str) -> int:
    """Nova's power state of the guest now (NOSTATE when there is none)."""
    try:
        return states.POWER_OF[(await ctx.driver.info(uuid)).state]
    except InstanceNotFound:
        return states.NOSTATE


async def build(ctx: AgentContext, uuid: str) -> None:
    inst = await ctx.load(uuid)
    if inst.deleted or inst.task_state == states.DELETING or inst.vm_state != states.BUILDING:
        return
    try:
        async with ctx.builds:
            await ctx.update(uuid, task_state=states.BLOCK_DEVICE_MAPPING)
            await volumes.prepare(ctx, inst)
            await ctx.update(uuid, task_state=states.NETWORKING)
            await networks.allocate(ctx, inst)
            await ctx.update(uuid, task_state=states.SPAWNING)
            inst = await ctx.load(uuid)
            spec = await guest.full_spec(ctx, inst, lambda i: networks.network_data(ctx, i))
            info = await ctx.driver.spawn(spec)
            await volumes.complete(ctx, await ctx.load(uuid))
    except asyncio.CancelledError:
        log.info("server %s: build stopped (deleted while building)", uuid)
        await asyncio.shield(release(ctx, uuid, terminate=True))
        raise
    except Exception as exc:
        log.warning("server %s: build failed: %s", uuid, describe(exc),
                    exc_info=not isinstance(exc, StrataError))
        await release(ctx, uuid, terminate=True)
        message = describe(exc)
        details = "".join(tb.format_exception(exc))[-4000:]

        def failed(s: Session) -> None:
            row = s.get(m.Instance, uuid)
            if row is not None and not row.deleted:
                servers.set_fault(row, message, 500, details)
                servers.touch(row, vm_state=states.ERROR, task_state=None,
                              power_state=states.NOSTATE)
                volumes.forget_released(row)
                row.interfaces = []  # the ports went with the release

        await ctx.db(failed)
        raise
    now = m.utcnow()
    await ctx.update(uuid, vm_state=states.ACTIVE, task_state=None,
                     power_state=states.POWER_OF[info.state], launched_at=now, fault=None)
    log.info("server %s is ACTIVE on %s", uuid, ctx.host)


async def delete(ctx: AgentContext, uuid: str) -> None:
    await release(ctx, uuid, terminate=True)
    with contextlib.suppress(ServerNotFound):
        shelved = (await ctx.load(uuid)).system_metadata.get("shelved_image_id")
        if shelved:  # a shelved server's image goes with it, as Nova's does
            await images.drop_image(ctx, uuid, str(shelved))

    def gone(s: Session) -> None:
        row = s.get(m.Instance, uuid)
        if row is not None and not row.deleted:
            servers.mark_deleted(s, row)

    await ctx.db(gone)
    ctx.st.tokens.drop(uuid)
    log.info("server %s deleted", uuid)


async def rebuild(ctx: AgentContext, uuid: str, was_stopped: bool) -> None:
    """The same server on a fresh root from its (new) image: the guest is defined again
    (config drive too), volumes and ports stay."""
    with contextlib.suppress(InstanceNotFound):
        await ctx.driver.destroy(uuid)
    await asyncio.to_thread(guest.root_path(ctx, uuid).unlink, True)
    await ctx.update(uuid, task_state=states.REBUILD_SPAWNING)
    inst = await ctx.load(uuid)
    spec = await guest.full_spec(ctx, inst, lambda i: networks.network_data(ctx, i))
    info = await ctx.driver.spawn(spec)
    power = states.POWER_OF[info.state]
    if was_stopped:
        await ctx.driver.power_off(uuid, grace=0)
        power = states.SHUTDOWN
    await ctx.update(uuid, vm_state=states.STOPPED if was_stopped else states.ACTIVE,
                     task_state=None, power_state=power, launched_at=m.utcnow())
