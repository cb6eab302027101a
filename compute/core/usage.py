"""``os-simple-tenant-usage``: what each project's servers used over a period.

A server counts from its launch to its termination (or now), cut to the period;
its usage is its vCPUs, MiB and local GiB times those hours, as Nova's simple
tenant usage reports them.

Servers are taken in the order they were created, at most ``limit`` of them (never
more than :data:`MAX_LIMIT`, as Nova's ``max_limit``) after the ``marker`` server:
from microversion 2.40 a caller pages through them, and the totals of a page are
those of its servers only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from compute import models as m
from compute.core.scheduler import local_disk_gb
from compute.errors import Invalid

MAX_LIMIT = 1000
_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f",
            "%Y-%m-%d %H:%M:%S")


def parse_time(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _FORMATS:
            try:
                when = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            raise Invalid(f"Invalid start time. The start time cannot occur after the end "
                          f"time, and must be a date: {value}") from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def server_usage(inst: m.Instance, start: datetime, end: datetime,
                 now: datetime) -> dict[str, Any]:
    """A server's use in [start, end]: from its launch (a server never launched used
    nothing) to its termination, or to the end of the period (never past now)."""
    began = inst.launched_at
    ended = inst.terminated_at
    hours = 0.0
    if began is not None:
        last = min(end, now, ended) if ended else min(end, now)
        hours = max(0.0, (last - max(start, began)).total_seconds() / 3600.0)
    began = began or inst.created_at
    local_gb = local_disk_gb(inst)
    return {
        "instance_id": inst.uuid, "name": inst.display_name, "hours": hours,
        "memory_mb": inst.memory_mb, "local_gb": local_gb, "vcpus": inst.vcpus,
        "tenant_id": inst.project_id, "flavor": str((inst.flavor or {}).get("name", "")),
        "started_at": _iso(began), "ended_at": _iso(ended),
        "state": "terminated" if inst.deleted else inst.vm_state,
        "uptime": int(((ended or now) - began).total_seconds()),
    }


@dataclass(frozen=True)
class Page:
    """The usages of one page of servers, and the last server's uuid when the page was
    full (a caller may ask for the servers after it)."""

    usages: list[dict[str, Any]]
    last: str | None


def tenant_usages(s: Session, start: datetime, end: datetime,
                  projects: Iterable[str] | None = None, *, detailed: bool = False,
                  limit: int | None = None, marker: str | None = None) -> Page:
    if start > end:
        raise Invalid("Invalid start time. The start time cannot occur after the end time.")
    now = m.utcnow()
    stmt = select(m.Instance).where(
        m.Instance.created_at <= end,
        or_(m.Instance.terminated_at.is_(None), m.Instance.terminated_at >= start))
    if projects is not None:
        stmt = stmt.where(m.Instance.project_id.in_(list(projects)))
    rows = list(s.scalars(stmt.order_by(m.Instance.created_at, m.Instance.uuid)))
    if marker is not None:
        ids = [inst.uuid for inst in rows]
        if marker not in ids:
            raise Invalid(f"Marker {marker} could not be found.")
        rows = rows[ids.index(marker) + 1:]
    size = min(limit, MAX_LIMIT) if limit else MAX_LIMIT
    rows = rows[:size]
    by_project: dict[str, list[dict[str, Any]]] = {}
    for inst in rows:
        by_project.setdefault(inst.project_id, []).append(server_usage(inst, start, end, now))
    out = []
    for project, usages in sorted(by_project.items()):
        item: dict[str, Any] = {
            "tenant_id": project,
            "total_local_gb_usage": sum(u["local_gb"] * u["hours"] for u in usages),
            "total_vcpus_usage": sum(u["vcpus"] * u["hours"] for u in usages),
            "total_memory_mb_usage": sum(u["memory_mb"] * u["hours"] for u in usages),
            "total_hours": sum(u["hours"] for u in usages),
            "start": _iso(start), "stop": _iso(end)}
        if detailed:
            item["server_usages"] = usages
        out.append(item)
    return Page(out, rows[-1].uuid if rows and len(rows) == size else None)
