"""The agent's operations: one row per task the API (or the conductor) can queue.

Each names Nova's instance action event (``compute_stop_instance``, ...) and the
coroutine that does the work and records the server's new states. An operation that
fails clears the task state, records a fault (build, rebuild and resize also put the
server in ERROR) and its event says Error. Each has a row in the API's action table
(:data:`compute.core.states.ACTIONS`) too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from compute.agent import images, lifecycle, networks, resize, shelve, volumes
from compute.agent.context import AgentContext
from compute.core import states
from compute.errors import InstanceNotFound

Run = Callable[[AgentContext, str, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    event: str  # Nova's instance action event name
    run: Run
    error_state: str | None = None  # vm_state on failure (None: unchanged)
    cancellable: bool = False  # a delete may cancel it half way (builds)


async def _stop(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    with contextlib.suppress(InstanceNotFound):
        await ctx.driver.power_off(uuid, grace=float(ctx.cfg.shutdown_timeout))
    await ctx.update(uuid, vm_state=states.STOPPED, task_state=None,
                     power_state=states.SHUTDOWN)


async def _start(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    try:
        await ctx.driver.power_on(uuid)
    except InstanceNotFound:
        await lifecycle.respawn(ctx, uuid)
    await ctx.update(uuid, vm_state=states.ACTIVE, task_state=None,
                     power_state=states.RUNNING)


def _simple(call: str, vm_state: str, power: int) -> Run:
    async def run(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
        await getattr(ctx.driver, call)(uuid)
        await ctx.update(uuid, vm_state=vm_state, task_state=None, power_state=power)

    return run


async def _reboot(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    if args.get("type") == "HARD":
        # Nova's hard reboot defines the guest again from the database
        with contextlib.suppress(InstanceNotFound):
            await ctx.driver.destroy(uuid)
        await ctx.update(uuid, task_state=states.REBOOT_STARTED_HARD)
        await lifecycle.respawn(ctx, uuid)
    else:
        await ctx.update(uuid, task_state=states.REBOOT_STARTED)
        try:
            await ctx.driver.reboot(uuid, hard=False, grace=float(ctx.cfg.shutdown_timeout))
        except InstanceNotFound:
            await lifecycle.respawn(ctx, uuid)
    await ctx.update(uuid, vm_state=states.ACTIVE, task_state=None,
                     power_state=states.RUNNING)


async def _build(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await lifecycle.build(ctx, uuid)


async def _delete(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await lifecycle.delete(ctx, uuid)


async def _rebuild(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await lifecycle.rebuild(ctx, uuid, bool(args.get("was_stopped")))


async def _attach(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await volumes.attach(ctx, uuid, int(args["bdm_id"]))


async def _detach(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await volumes.detach(ctx, uuid, int(args["bdm_id"]))


async def _snapshot(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await images.snapshot(ctx, uuid, str(args["image_id"]))


async def _shelve(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await shelve.shelve(ctx, uuid, str(args["image_id"]) if args.get("image_id") else None)


async def _attach_port(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await networks.attach_port(ctx, uuid, str(args["port_id"]), made=bool(args.get("made")),
                               tag=args.get("tag"))


async def _detach_port(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
    await networks.detach_port(ctx, uuid, str(args["port_id"]))


def _call(fn: Callable[[AgentContext, str], Awaitable[None]]) -> Run:
    async def run(ctx: AgentContext, uuid: str, args: Mapping[str, Any]) -> None:
        await fn(ctx, uuid)

    return run


OPERATIONS: Mapping[str, Operation] = {
    "build": Operation(lifecycle.BUILD_EVENT, _build, cancellable=True),
    "delete": Operation("compute_terminate_instance", _delete),
    "stop": Operation("compute_stop_instance", _stop),
    "start": Operation("compute_start_instance", _start),
    "pause": Operation("compute_pause_instance",
                       _simple("pause", states.PAUSED, states.PAUSED_POWER)),
    "unpause": Operation("compute_unpause_instance",
                         _simple("unpause", states.ACTIVE, states.RUNNING)),
    "suspend": Operation("compute_suspend_instance",
                         _simple("suspend", states.SUSPENDED, states.SHUTDOWN)),
    "resume": Operation("compute_resume_instance",
                        _simple("resume", states.ACTIVE, states.RUNNING)),
    "reboot": Operation("compute_reboot_instance", _reboot),
    "rebuild": Operation("compute_rebuild_instance", _rebuild, error_state=states.ERROR,
                         cancellable=True),
    "attach_volume": Operation("compute_attach_volume", _attach),
    "detach_volume": Operation("compute_detach_volume", _detach),
    "snapshot": Operation("compute_snapshot_instance", _snapshot),
    "resize": Operation("compute_resize_instance", _call(resize.resize),
                        error_state=states.ERROR),
    "confirm_resize": Operation("compute_confirm_resize", _call(resize.confirm)),
    "revert_resize": Operation("compute_revert_resize", _call(resize.revert),
                               error_state=states.ERROR),
    "shelve": Operation("compute_shelve_instance", _shelve),
    "shelve_offload": Operation("compute_shelve_offload_instance", _call(shelve.offload)),
    "unshelve": Operation("compute_unshelve_instance", _call(shelve.unshelve)),
    "attach_interface": Operation("compute_attach_interface", _attach_port),
    "detach_interface": Operation("compute_detach_interface", _detach_port),
}
