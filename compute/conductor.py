"""The conductor: schedules new servers and hands each to its host's agent.

It runs as a background task of the compute API process. Servers the API made
(BUILD, task ``scheduling``, no host) are placed one at a time, in the order they
were asked for, by the scheduler (:mod:`compute.core.scheduler`) in one transaction
that counts what each host already carries; the server gets its host, node and zone,
and a ``build`` task for that host's agent. A server no host can take goes to ERROR
with Nova's ``No valid host was found`` fault. Work arrives by :meth:`wake` (the API
calls it after a create) and by a poll every ``poll`` seconds, so a restart loses
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.config import ComputeConfig
from common.db import Database
from compute import models as m
from compute.core import actions, hosts, scheduler, servers, states
from compute.errors import NoValidHost

log = logging.getLogger(__name__)


def scheduler_request(s: Session, inst: m.Instance) -> scheduler.Request:
    member = s.scalar(select(m.ServerGroupMember).where(
        m.ServerGroupMember.instance_uuid == inst.uuid))
    policy, members, per_host = None, frozenset[str](), 1
    if member is not None:
        group = s.get(m.ServerGroup, member.group_id)
        if group is not None:
            policy = group.policy
            per_host = int((group.rules or {}).get("max_server_per_host", 1))
            members = frozenset(mb.instance_uuid for mb in group.members
                                if mb.instance_uuid != inst.uuid)
    host = inst.requested_host or None
    return scheduler.Request(vcpus=inst.vcpus, memory_mb=inst.memory_mb,
                             disk_gb=scheduler.local_disk_gb(inst),
                             zone=inst.availability_zone, host=host, group_policy=policy,
                             group_members=members, max_server_per_host=per_host)


class Conductor:
    def __init__(self, db: Database, cfg: ComputeConfig, *, host: str,
                 tell_agent: Callable[[str], None], poll: float = 5.0) -> None:
        self._db = db
        self._cfg = cfg
        self.host = host
        self._beat = 0.0
        self._tell_agent = tell_agent
        self._poll = poll
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.ratios = scheduler.Ratios(
            cpu=cfg.cpu_allocation_ratio, ram=cfg.ram_allocation_ratio,
            disk=cfg.disk_allocation_ratio, reserved_ram_mb=cfg.reserved_host_memory_mb,
            reserved_disk_gb=cfg.reserved_host_disk_mb // 1024)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        await self._heartbeat()
        self._task = asyncio.create_task(self._run(), name="compute-conductor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._wake.clear()
            try:
                await self._heartbeat()
                placed = await self._db.run(self.schedule_pending)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduling failed; trying again shortly")
                await asyncio.sleep(1.0)
                continue
            for host in placed:
                self._tell_agent(host)

    async def _heartbeat(self) -> None:
        """The scheduler and conductor services of this API process are alive."""
        now = time.monotonic()
        if now - self._beat < self._cfg.report_interval:
            return
        self._beat = now

        def beat(s: Session) -> None:
            for binary in hosts.INTERNAL_BINARIES:
                hosts.heartbeat(s, self.host, binary)

        await self._db.run(beat)

    def schedule_pending(self, s: Session) -> set[str]:
        """Place every server waiting for a host; the hosts that got work."""
        waiting = list(s.scalars(select(m.Instance).where(
            m.Instance.deleted.is_(False), m.Instance.vm_state == states.BUILDING,
            m.Instance.task_state == states.SCHEDULING, m.Instance.host.is_(None))
            .order_by(m.Instance.created_at, m.Instance.launch_index)))
        if not waiting:
            return set()
        by_name = {h.host: h for h in scheduler.host_states(
            s, down_after=self._cfg.service_down_time)}
        placed: set[str] = set()
        for inst in waiting:
            action = s.scalar(select(m.InstanceAction).where(
                m.InstanceAction.instance_uuid == inst.uuid,
                m.InstanceAction.action == "create").order_by(m.InstanceAction.id.desc()))
            event = actions.event_start(s, action.id if action else None,
                                        "conductor_schedule_and_build_instances",
                                        "conductor")
            req = scheduler_request(s, inst)
            try:
                chosen = scheduler.select_host(list(by_name.values()), req, self.ratios)
            except NoValidHost as exc:
                servers.set_fault(inst, exc.message, 500)
                servers.touch(inst, vm_state=states.ERROR, task_state=None)
                actions.event_finish(s, event, error=exc.message)
                log.info("server %s: %s", inst.uuid, exc.message)
                continue
            chosen.consume(req, inst.uuid)
            servers.touch(inst, host=chosen.host, node=chosen.node,
                          availability_zone=inst.availability_zone or chosen.zone)
            actions.event_finish(s, event)
            actions.queue(s, inst, "build", action=action, host=chosen.host)
            placed.add(chosen.host)
            log.info("server %s scheduled on %s", inst.uuid, chosen.host)
        return placed
