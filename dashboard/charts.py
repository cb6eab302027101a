"""Charts drawn on the server as SVG: a page needs no script to show them.

A :class:`Gauge` is one quota: how much of a limit is used, drawn as a ring
whose filled arc is the used share (the template ``_gauge.html`` draws it from
these numbers). Limits of -1 are unlimited: the ring stays empty and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

RADIUS = 40.0
CIRCUMFERENCE = 2 * math.pi * RADIUS


@dataclass(frozen=True)
class Gauge:
    label: str
    used: float
    limit: float  # -1: unlimited
    unit: str = ""

    @property
    def unlimited(self) -> bool:
        return self.limit < 0

    @property
    def fraction(self) -> float:
        if self.unlimited or self.limit == 0:
            return 1.0 if self.limit == 0 and self.used > 0 else 0.0
        return max(0.0, min(1.0, self.used / self.limit))

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)

    @property
    def dash(self) -> str:
        """``stroke-dasharray`` of the filled arc."""
        filled = self.fraction * CIRCUMFERENCE
        return f"{filled:.2f} {CIRCUMFERENCE - filled:.2f}"

    @property
    def level(self) -> str:
        """ok, high (75 % or more) or full."""
        if self.fraction >= 1.0 and not self.unlimited:
            return "full"
        return "high" if self.fraction >= 0.75 else "ok"

    @property
    def text(self) -> str:
        used = _num(self.used)
        unit = f" {self.unit}" if self.unit else ""
        if self.unlimited:
            return f"{used}{unit} used of unlimited"
        return f"{used}{unit} used of {_num(self.limit)}{unit}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def nova_gauges(absolute: dict[str, Any]) -> list[Gauge]:
    """Gauges from Nova's ``/limits`` (its ``absolute`` limits and usage)."""
    wanted = (("Instances", "totalInstancesUsed", "maxTotalInstances", ""),
              ("VCPUs", "totalCoresUsed", "maxTotalCores", ""),
              ("RAM", "totalRAMUsed", "maxTotalRAMSize", "MiB"),
              ("Server Groups", "totalServerGroupsUsed", "maxServerGroups", ""))
    return [Gauge(label, float(absolute.get(used, 0)), float(absolute[limit]), unit)
            for label, used, limit, unit in wanted if limit in absolute]


def cinder_gauges(quota_set: dict[str, Any]) -> list[Gauge]:
    """Gauges from Cinder's ``os-quota-sets?usage=true``."""
    wanted = (("volumes", "Volumes", ""), ("gigabytes", "Volume Storage", "GiB"),
              ("snapshots", "Volume Snapshots", ""), ("backups", "Backups", ""))
    out = []
    for key, label, unit in wanted:
        item = quota_set.get(key)
        if isinstance(item, dict):
            out.append(Gauge(label, float(item.get("in_use", 0)),
                             float(item.get("limit", -1)), unit))
    return out


def neutron_gauges(quota: dict[str, Any]) -> list[Gauge]:
    """Gauges from Neutron's ``/quotas/{project}/details``."""
    wanted = (("floatingip", "Floating IPs"), ("security_group", "Security Groups"),
              ("security_group_rule", "Security Group Rules"), ("network", "Networks"),
              ("port", "Ports"), ("router", "Routers"))
    out = []
    for key, label in wanted:
        item = quota.get(key)
        if isinstance(item, dict):
            out.append(Gauge(label, float(item.get("used", 0)), float(item.get("limit", -1))))
    return out
