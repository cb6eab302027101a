"""The compute agent of one hypervisor host: runs its queued tasks, reports, resyncs.

In the embedded default it is a background task of the compute process (as the block
store runs its volume manager). Tasks are rows (:class:`~compute.models.Task`) the API
and the conductor write for this host; the agent runs each server's tasks in order,
one at a time per server, several servers at once (builds bounded by
``max_concurrent_builds``). It finds work when told (:meth:`ComputeAgent.wake`) and
by polling, so an agent on another host, or one that restarted, misses nothing. A
delete that arrives while the server is still building cancels the build, whose
clean-up releases what it made, then deletes.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback as tb
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute import models as m
from compute.agent import ops, sync
from compute.agent.context import AgentContext, log
from compute.agent.lifecycle import describe
from compute.core import actions, servers, states
from compute.core.states import POWER_OF
from compute.errors import InstanceNotFound
from compute.virt.driver import ConsoleEndpoint


class ComputeAgent:
    def __init__(self, ctx: AgentContext, *, poll: float = 2.0) -> None:
        self.ctx = ctx
        self.host = ctx.host
        self._poll = poll
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._current: dict[str, str] = {}  # server -> op its worker runs now
        self.ready = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await sync.report(self.ctx)
        await sync.adopt(self.ctx)
        cfg = self.ctx.cfg
        self._loops = [
            asyncio.create_task(self._run_tasks(), name="compute-agent-tasks"),
            asyncio.create_task(self._every(float(cfg.report_interval), sync.report),
                                name="compute-agent-report"),
            asyncio.create_task(self._every(float(cfg.resync_interval),
                                            sync.sync_power_states),
                                name="compute-agent-resync"),
        ]
        self.ready.set()
        log.info("compute agent of %s started", self.host)

    async def stop(self) -> None:
        for task in [*self._loops, *self._workers.values()]:
            task.cancel()
        for task in [*self._loops, *self._workers.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loops.clear()
        self._workers.clear()

    def wake(self) -> None:
        self._wake.set()

    async def _every(self, interval: float,
                     job: Callable[[AgentContext], Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await job(self.ctx)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic %s failed", getattr(job, "__name__", job))

    # -- tasks --------------------------------------------------------------------------

    async def _run_tasks(self) -> None:
        while True:
            try:
                await self._dispatch()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the task queue failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()

    async def _dispatch(self) -> None:
        def pending(s: Session) -> list[tuple[str, str]]:
            orphans = s.scalars(select(m.Instance).where(
                m.Instance.host == self.host, m.Instance.deleted.is_(False),
                m.Instance.task_state == states.DELETING,
                ~select(m.Task.id).where(m.Task.instance_uuid == m.Instance.uuid).exists()))
            for inst in orphans:  # a delete whose task was lost: queue it again
                log.warning("server %s: deleting, but no delete was queued; queueing it",
                            inst.uuid)
                actions.queue(s, inst, "delete")
            rows = s.execute(select(m.Task.instance_uuid, m.Task.op)
                             .where(m.Task.host == self.host).order_by(m.Task.id))
            return [(u, o) for u, o in rows]

        for uuid, op in await self.ctx.db(pending):
            worker = self._workers.get(uuid)
            if worker is None:
                worker = asyncio.create_task(self._work(uuid), name=f"server-{uuid}")
                self._workers[uuid] = worker
                worker.add_done_callback(partial(self._finished, uuid))
            elif op == "delete":
                running = self._current.get(uuid)
                if running and ops.OPERATIONS[running].cancellable and not worker.done():
                    log.info("server %s: delete asked during %s: cancelling it", uuid,
                             running)
                    worker.cancel()

    def _finished(self, uuid: str, _task: object = None) -> None:
        self._workers.pop(uuid, None)
        self._current.pop(uuid, None)
        self.wake()  # a delete may wait behind a cancelled build

    async def _work(self, uuid: str) -> None:
        while True:
            task = await self.ctx.db(lambda s: self._next(s, uuid))
            if task is None:
                return
            task_id, op_name, args, action_id = task
            op = ops.OPERATIONS.get(op_name)
            self._current[uuid] = op_name
            log.debug("server %s: task %d %s", uuid, task_id, op_name)
            event = await self.ctx.db(partial(actions.event_start, action_id=action_id,
                                              event=op.event if op else op_name,
                                              host=self.host))
            try:
                if op is None:
                    raise RuntimeError(f"this agent has no operation {op_name!r}")
                await op.run(self.ctx, uuid, args)
            except asyncio.CancelledError:
                await asyncio.shield(self._settle(task_id, event, "cancelled by a delete"))
                raise
            except Exception as exc:
                if op_name != "build":  # a build records its own fault and ERROR
                    log.warning("server %s: %s failed: %s", uuid, op_name, describe(exc),
                                exc_info=not hasattr(exc, "message"))
                    await self._failed(uuid, op, exc)
                await self._settle(task_id, event, describe(exc),
                                   "".join(tb.format_exception(exc))[-4000:])
            else:
                await self._settle(task_id, event, None)
            finally:
                self._current.pop(uuid, None)

    def _next(self, s: Session, uuid: str) -> tuple[int, str, dict[str, Any], int | None] | None:
        task = s.scalar(select(m.Task).where(m.Task.host == self.host,
                                             m.Task.instance_uuid == uuid)
                        .order_by(m.Task.id).limit(1))
        if task is None:
            return None
        task.started = True
        return task.id, task.op, dict(task.args or {}), task.action_id

    async def _settle(self, task_id: int, event: int | None, error: str | None,
                      trace: str | None = None) -> None:
        def done(s: Session) -> None:
            task = s.get(m.Task, task_id)
            if task is not None:
                s.delete(task)
            actions.event_finish(s, event, error=error, traceback=trace)

        await self.ctx.db(done)

    async def _failed(self, uuid: str, op: ops.Operation | None, exc: Exception) -> None:
        power_state: int | None = None
        with contextlib.suppress(InstanceNotFound):
            power_state = POWER_OF[(await self.ctx.driver.info(uuid)).state]
        message = describe(exc)

        def write(s: Session) -> None:
            inst = s.get(m.Instance, uuid)
            if inst is None or inst.deleted:
                return
            servers.set_fault(inst, message, 500)
            values: dict[str, Any] = {"task_state": None}
            if op is not None and op.error_state:
                values["vm_state"] = op.error_state
            if power_state is not None:
                values["power_state"] = power_state
            servers.touch(inst, **values)

        await self.ctx.db(write)

    # -- queries --------------------------------------------------------------------------

    async def console_output(self, uuid: str, lines: int | None) -> str:
        return await self.ctx.driver.console_output(uuid, lines)

    async def console_endpoint(self, uuid: str, kind: str) -> ConsoleEndpoint:
        """Where the guest's VNC (``vnc``) or serial (``serial``) console is now."""
        driver = self.ctx.driver
        return await (driver.vnc_console(uuid) if kind == "vnc" else
                      driver.serial_console(uuid))
