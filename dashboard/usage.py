"""Usage per period, as the Overview pages show it: what compute's
``os-simple-tenant-usage`` says each project's instances used between two dates,
as the per-instance table, the period's totals and a CSV summary.

A period is two dates, both included (``start`` at 00:00 UTC to the end of
``end``); by default this month so far. Compute counts an instance's hours from
its launch to its termination or now, cut to the period; the totals here are
the sums of what it answered (over every page, from microversion 2.40).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from common.errors import BadRequest

_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def duration(seconds: float) -> str:
    """A span as the pages show it, in its largest whole unit: "3 minutes"."""
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return "just now"


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both days included."""

    start: date
    end: date

    @classmethod
    def this_month(cls, today: date) -> Period:
        return cls(today.replace(day=1), today)

    @classmethod
    def of(cls, query: Mapping[str, str], today: date) -> Period:
        """The period a page's From/To form asks for (either left out: this month's
        first day, today). A date that is not one is refused here; a start after
        the end is left to compute to refuse."""
        default = cls.this_month(today)
        return cls(_day(query.get("start"), default.start, "From"),
                   _day(query.get("end"), default.end, "To"))

    def params(self) -> dict[str, str]:
        """Compute's ``start`` and ``end`` (the end is the next day's midnight)."""
        return {"start": f"{self.start.isoformat()}T00:00:00",
                "end": f"{(self.end + timedelta(days=1)).isoformat()}T00:00:00"}

    def query(self) -> str:
        return f"start={self.start.isoformat()}&end={self.end.isoformat()}"


def _day(text: str | None, default: date, label: str) -> date:
    text = (text or "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{label} must be a date (YYYY-MM-DD), not {text!r}.") from None


@dataclass(frozen=True)
class ServerUsage:
    """One instance's line of the usage table."""

    instance_id: str
    name: str
    vcpus: int
    disk_gb: int
    ram_mb: int
    hours: float
    uptime: int  # seconds since it was created (to its termination)
    state: str

    @property
    def active(self) -> bool:
        return self.state != "terminated"

    @property
    def since(self) -> str:
        return duration(self.uptime)

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> ServerUsage:
        return cls(instance_id=str(doc.get("instance_id", "")), name=str(doc.get("name") or ""),
                   vcpus=int(doc.get("vcpus") or 0), disk_gb=int(doc.get("local_gb") or 0),
                   ram_mb=int(doc.get("memory_mb") or 0), hours=float(doc.get("hours") or 0),
                   uptime=int(doc.get("uptime") or 0), state=str(doc.get("state") or ""))


@dataclass(frozen=True)
class Usage:
    """A project's usage over a period: its instances and the period's totals."""

    project_id: str
    servers: tuple[ServerUsage, ...]
    vcpu_hours: float
    gb_hours: float
    ram_mb_hours: float

    @property
    def active(self) -> list[ServerUsage]:
        return [s for s in self.servers if s.active]

    @property
    def active_vcpus(self) -> int:
        return sum(s.vcpus for s in self.active)

    @property
    def active_ram_mb(self) -> int:
        return sum(s.ram_mb for s in self.active)

    @property
    def active_disk_gb(self) -> int:
        return sum(s.disk_gb for s in self.active)


def merge(docs: Iterable[Mapping[str, Any]]) -> dict[str, Usage]:
    """Compute's ``tenant_usage`` documents (one per page of servers, possibly several
    for one project) as one :class:`Usage` per project."""
    out: dict[str, Usage] = {}
    for doc in docs:
        if not doc:
            continue  # a project with no instance in the period: compute answers {}
        pid = str(doc.get("tenant_id", ""))
        servers = tuple(ServerUsage.of(s) for s in doc.get("server_usages") or [])
        mine = Usage(pid, servers, float(doc.get("total_vcpus_usage") or 0),
                     float(doc.get("total_local_gb_usage") or 0),
                     float(doc.get("total_memory_mb_usage") or 0))
        seen = out.get(pid)
        if seen is not None:
            mine = Usage(pid, seen.servers + mine.servers, seen.vcpu_hours + mine.vcpu_hours,
                         seen.gb_hours + mine.gb_hours, seen.ram_mb_hours + mine.ram_mb_hours)
        out[pid] = mine
    return out


def _cell(value: object) -> str:
    """A CSV cell; a name a spreadsheet would take for a formula is quoted as text."""
    text = f"{value:.2f}" if isinstance(value, float) else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _csv(rows: Iterable[Iterable[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for r in rows:
        writer.writerow([_cell(v) for v in r])
    return out.getvalue()


def project_csv(project: str, period: Period, usage: Usage) -> str:
    """The project Overview's "Download CSV Summary": the totals, then each instance."""
    rows: list[list[object]] = [
        ["Usage report for period", period.start.isoformat(), period.end.isoformat()],
        ["Project", project],
        ["Active instances", len(usage.active)],
        ["Active RAM (MB)", usage.active_ram_mb],
        ["This period's VCPU-hours", usage.vcpu_hours],
        ["This period's GB-hours", usage.gb_hours],
        ["This period's RAM-hours (MB)", usage.ram_mb_hours],
        [],
        ["Instance name", "VCPUs", "RAM (MB)", "Disk (GB)", "Usage (hours)",
         "Time since created (seconds)", "State"]]
    rows += [[s.name, s.vcpus, s.ram_mb, s.disk_gb, s.hours, s.uptime, s.state]
             for s in usage.servers]
    return _csv(rows)


def projects_csv(period: Period, usages: Iterable[tuple[str, Usage]]) -> str:
    """Admin Overview's "Download CSV Summary": one line per project (its name)."""
    rows: list[list[object]] = [
        ["Usage report for period", period.start.isoformat(), period.end.isoformat()],
        [],
        ["Project name", "VCPUs", "RAM (MB)", "Disk (GB)", "VCPU hours", "Disk GB hours",
         "Memory MB hours"]]
    rows += [[name, u.active_vcpus, u.active_ram_mb, u.active_disk_gb, u.vcpu_hours,
              u.gb_hours, u.ram_mb_hours] for name, u in usages]
    return _csv(rows)
