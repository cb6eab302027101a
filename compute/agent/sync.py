"""The agent and its host: registration, resource reports, and the guests' real state.

- :func:`report` registers this host's ``nova-compute`` service and its hypervisor
  (compute node) and, every ``report_interval`` seconds, says it is alive and what
  the host has (vCPUs, memory, disk of the instances directory).
- :func:`adopt` runs once at start: the domains libvirt still runs are the servers'
  guests (nothing is restarted); a build or other operation that a restart cut short
  is settled (a build leaves the server in ERROR with what it made released; a
  delete runs again; anything else just clears the task state); then the states are
  synchronised.
- :func:`sync_power_states` runs every ``resync_interval`` seconds, as Nova's
  ``_sync_power_states``: a guest that shut itself down, crashed or vanished makes its
  server SHUTOFF (power state from the hypervisor), never left ACTIVE.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from compute import models as m
from compute.agent import lifecycle
from compute.agent.context import AgentContext, log
from compute.agent.volumes import forget_released
from compute.core import scheduler, servers, states
from compute.errors import InstanceNotFound
from compute.virt.driver import HostInfo, PowerState


async def report(ctx: AgentContext) -> None:
    """Register or refresh this host's service and hypervisor rows."""
    host = await ctx.driver.host_info()
    zone = ctx.cfg.availability_zone

    def write(s: Session) -> None:
        now = m.utcnow()
        svc = s.scalar(select(m.Service).where(m.Service.host == ctx.host,
                                               m.Service.binary == scheduler.COMPUTE_BINARY))
        if svc is None:
            svc = m.Service(host=ctx.host, binary=scheduler.COMPUTE_BINARY, zone=zone)
            s.add(svc)
        svc.zone = zone
        svc.last_seen_up = now
        svc.report_count = (svc.report_count or 0) + 1
        svc.updated_at = now
        node = s.scalar(select(m.ComputeNode).where(m.ComputeNode.host == ctx.host))
        if node is None:
            node = m.ComputeNode(host=ctx.host, hypervisor_hostname=host.hostname,
                                 hypervisor_type=host.hypervisor_type,
                                 hypervisor_version=host.hypervisor_version,
                                 vcpus=host.vcpus, memory_mb=host.memory_mib,
                                 local_gb=host.disk_gib)
            s.add(node)
        _fill(node, host, ctx.host_ip)
        node.updated_at = now

    await ctx.db(write)


def _fill(node: m.ComputeNode, host: HostInfo, host_ip: str) -> None:
    node.hypervisor_hostname = host.hostname
    node.hypervisor_type = host.hypervisor_type
    node.hypervisor_version = host.hypervisor_version
    node.vcpus, node.memory_mb, node.local_gb = host.vcpus, host.memory_mib, host.disk_gib
    node.free_disk_gb = host.disk_free_gib
    node.host_ip = host_ip
    node.cpu_info = {"arch": "x86_64", "model": host.cpu_model, "vendor": "",
                     "topology": {"cores": host.vcpus, "threads": 1, "sockets": 1},
                     "features": [], "virt_type": host.virt_type}


INTERRUPTED = "The compute agent restarted while the server was being built."


async def adopt(ctx: AgentContext) -> None:
    """Settle what a restart interrupted, then synchronise states with the hypervisor."""
    def interrupted(s: Session) -> list[tuple[int, str, str]]:
        rows = list(s.scalars(select(m.Task).where(m.Task.host == ctx.host,
                                                   m.Task.started.is_(True))))
        return [(t.id, t.instance_uuid, t.op) for t in rows]

    for task_id, uuid, op in await ctx.db(interrupted):
        if op == "delete":
            await ctx.db(partial(_restart_task, task_id=task_id))
            continue
        if op == "build":
            log.warning("server %s: its build was interrupted by a restart", uuid)
            await lifecycle.release(ctx, uuid, terminate=True)
            await ctx.db(partial(_interrupted_build, uuid=uuid))
        else:
            await ctx.update(uuid, task_state=None)
        await ctx.db(partial(_drop_task, task_id=task_id))
    known = {i.uuid for i in await ctx.driver.list_instances()}
    log.info("adopted %d guests running or defined on %s", len(known), ctx.host)
    await sync_power_states(ctx)


def _restart_task(s: Session, task_id: int) -> None:
    s.execute(update(m.Task).where(m.Task.id == task_id).values(started=False))


def _drop_task(s: Session, task_id: int) -> None:
    task = s.get(m.Task, task_id)
    if task is not None:
        s.delete(task)


def _interrupted_build(s: Session, uuid: str) -> None:
    inst = s.get(m.Instance, uuid)
    if inst is None or inst.deleted:
        return
    servers.set_fault(inst, INTERRUPTED, 500)
    servers.touch(inst, vm_state=states.ERROR, task_state=None, power_state=states.NOSTATE)
    forget_released(inst)
    inst.interfaces = []


# vm_states whose guest should exist on this host
_SYNCED = (states.ACTIVE, states.PAUSED, states.SUSPENDED, states.STOPPED)


async def sync_power_states(ctx: AgentContext) -> int:
    """Bring every idle server's states in line with its guest; how many changed."""
    def idle(s: Session) -> list[tuple[str, str, int]]:
        rows = s.execute(select(m.Instance.uuid, m.Instance.vm_state, m.Instance.power_state)
                         .where(m.Instance.host == ctx.host, m.Instance.deleted.is_(False),
                                m.Instance.task_state.is_(None),
                                m.Instance.vm_state.in_(_SYNCED)))
        return [(u, v, p) for u, v, p in rows]

    changed = 0
    for uuid, vm_state, power in await ctx.db(idle):
        try:
            now = (await ctx.driver.info(uuid)).state
        except InstanceNotFound:
            now = PowerState.NOSTATE
        new_power = states.POWER_OF[now]
        new_vm = vm_state
        if vm_state in (states.ACTIVE, states.PAUSED, states.SUSPENDED) and now in (
                PowerState.SHUTDOWN, PowerState.CRASHED, PowerState.NOSTATE):
            new_vm = states.STOPPED  # the guest stopped (or vanished) by itself
        elif vm_state == states.ACTIVE and now == PowerState.PAUSED:
            new_vm = states.PAUSED
        if (new_vm, new_power) != (vm_state, power):
            changed += 1
            log.info("server %s: %s/%d on the hypervisor: now %s", uuid, vm_state, power,
                     new_vm)
            await ctx.db(partial(_apply, uuid=uuid, vm_state=new_vm, power=new_power))
    return changed


def _apply(s: Session, uuid: str, vm_state: str, power: int) -> None:
    inst = s.get(m.Instance, uuid)
    if inst is not None and not inst.deleted and inst.task_state is None:
        servers.touch(inst, vm_state=vm_state, power_state=power)
