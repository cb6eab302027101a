"""Compute services and hypervisors as ``os-services`` and ``os-hypervisors`` show them.

Services are rows their processes refresh (``last_seen_up``): a service not heard
from for ``service_down_time`` seconds is ``down``. A hypervisor's use is counted
from the live servers placed on it (as the scheduler counts it), its memory use
including what the host keeps for itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute import models as m
from compute.core import states
from compute.core.scheduler import COMPUTE_BINARY, local_disk_gb
from compute.errors import Invalid, ItemNotFound

INTERNAL_BINARIES = ("nova-scheduler", "nova-conductor")


def is_up(svc: m.Service, down_after: float, now: datetime | None = None) -> bool:
    now = now or m.utcnow()
    return not svc.forced_down and svc.last_seen_up is not None and \
        now - svc.last_seen_up <= timedelta(seconds=down_after)


def heartbeat(s: Session, host: str, binary: str, zone: str = "internal") -> None:
    """Register (once) and refresh a service row."""
    now = m.utcnow()
    svc = s.scalar(select(m.Service).where(m.Service.host == host, m.Service.binary == binary))
    if svc is None:
        svc = m.Service(host=host, binary=binary, zone=zone)
        s.add(svc)
    svc.last_seen_up = now
    svc.updated_at = now
    svc.report_count = (svc.report_count or 0) + 1


def services(s: Session, *, host: str | None = None,
             binary: str | None = None) -> list[m.Service]:
    stmt = select(m.Service).order_by(m.Service.id)
    if host:
        stmt = stmt.where(m.Service.host == host)
    if binary:
        stmt = stmt.where(m.Service.binary == binary)
    return list(s.scalars(stmt))


def find_service(s: Session, ident: str) -> m.Service:
    svc = s.scalar(select(m.Service).where(m.Service.uuid == ident))
    if svc is None and ident.isdigit():
        svc = s.get(m.Service, int(ident))
    if svc is None:
        raise ItemNotFound(f"Service {ident} could not be found.")
    return svc


def change_service(s: Session, svc: m.Service, body: dict[str, Any]) -> None:
    """``PUT /os-services/{id}`` (2.53): status, disabled_reason, forced_down."""
    if not body or set(body) - {"status", "disabled_reason", "forced_down"}:
        raise Invalid("Invalid input: status, disabled_reason and forced_down are the "
                      "fields a service update takes")
    status = body.get("status")
    if status is not None:
        if status not in ("enabled", "disabled"):
            raise Invalid(f"Invalid input for field/attribute status. Value: {status}.")
        svc.disabled = status == "disabled"
        svc.disabled_reason = body.get("disabled_reason") if svc.disabled else None
    elif "disabled_reason" in body:
        raise Invalid("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    if "forced_down" in body:
        if not isinstance(body["forced_down"], bool):
            raise Invalid("Invalid input for field/attribute forced_down.")
        svc.forced_down = body["forced_down"]
    svc.updated_at = m.utcnow()


@dataclass
class Hypervisor:
    node: m.ComputeNode
    service: m.Service | None
    up: bool
    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    running_vms: int = 0
    current_workload: int = 0
    servers: list[tuple[str, str]] | None = None  # (name, uuid)


def hypervisors(s: Session, *, down_after: float, reserved_mb: int,
                pattern: str | None = None) -> list[Hypervisor]:
    svcs = {sv.host: sv for sv in services(s, binary=COMPUTE_BINARY)}
    now = m.utcnow()
    out: dict[str, Hypervisor] = {}
    stmt = select(m.ComputeNode).order_by(m.ComputeNode.id)
    for node in s.scalars(stmt):
        if pattern and pattern not in node.hypervisor_hostname:
            continue
        sv = svcs.get(node.host)
        out[node.host] = Hypervisor(node=node, service=sv,
                                    up=sv is not None and is_up(sv, down_after, now),
                                    memory_mb_used=reserved_mb, servers=[])
    for inst in s.scalars(select(m.Instance).where(m.Instance.deleted.is_(False),
                                                   m.Instance.host.is_not(None))):
        hv = out.get(inst.host or "")
        if hv is None:
            continue
        hv.vcpus_used += inst.vcpus
        hv.memory_mb_used += inst.memory_mb
        hv.local_gb_used += local_disk_gb(inst)
        hv.running_vms += 1
        hv.current_workload += 1 if inst.task_state is not None else 0
        assert hv.servers is not None
        hv.servers.append((inst.display_name, inst.uuid))
    return list(out.values())


def find_hypervisor(hvs: list[Hypervisor], ident: str) -> Hypervisor:
    for hv in hvs:
        if hv.node.uuid == ident or str(hv.node.id) == ident:
            return hv
    raise ItemNotFound(f"Hypervisor with ID '{ident}' could not be found.")


def zones(s: Session, *, down_after: float) -> dict[str, dict[str, dict[str, Any]]]:
    """Availability zone -> host -> binary -> {available, active, updated_at}."""
    now = m.utcnow()
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for svc in services(s):
        zone = svc.zone if svc.binary == COMPUTE_BINARY else "internal"
        out.setdefault(zone, {}).setdefault(svc.host, {})[svc.binary] = {
            "available": is_up(svc, down_after, now), "active": not svc.disabled,
            "updated_at": svc.updated_at.strftime("%Y-%m-%dT%H:%M:%S.%f")
            if svc.updated_at else None}
    return out


def busy(inst: m.Instance) -> bool:
    return inst.task_state is not None and inst.vm_state != states.DELETED
