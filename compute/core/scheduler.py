"""The scheduler: which compute host a new server goes to.

As Nova's filter scheduler: every registered host is passed through the filters
(:data:`FILTERS`: service enabled and up, availability zone, free RAM, vCPUs and
disk under the allocation ratios, hard server-group policies), the ones left are
weighed (:data:`WEIGHERS`: most free RAM first, so servers spread; soft group
policies), and the heaviest wins. What a host uses is counted from the servers
placed on it, so placing several servers in one request sees each one's share
(:meth:`HostState.consume`). Pure functions on plain data, tested alone;
:func:`host_states` reads them from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compute import models as m
from compute.core.states import SHELVED_OFFLOADED
from compute.errors import NoValidHost

log = logging.getLogger(__name__)
COMPUTE_BINARY = "nova-compute"


@dataclass(frozen=True)
class Ratios:
    cpu: float = 16.0
    ram: float = 1.5
    disk: float = 1.0
    reserved_ram_mb: int = 512
    reserved_disk_gb: int = 0


@dataclass
class HostState:
    host: str
    node: str
    zone: str
    vcpus: int
    memory_mb: int
    local_gb: int
    enabled: bool = True
    up: bool = True
    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    instances: set[str] = field(default_factory=set)

    def free_ram(self, r: Ratios) -> float:
        return (self.memory_mb - r.reserved_ram_mb) * r.ram - self.memory_mb_used

    def free_vcpus(self, r: Ratios) -> float:
        return self.vcpus * r.cpu - self.vcpus_used

    def free_disk(self, r: Ratios) -> float:
        return (self.local_gb - r.reserved_disk_gb) * r.disk - self.local_gb_used

    def consume(self, req: Request, uuid: str) -> None:
        self.vcpus_used += req.vcpus
        self.memory_mb_used += req.memory_mb
        self.local_gb_used += req.disk_gb
        self.instances.add(uuid)


@dataclass(frozen=True)
class Request:
    vcpus: int
    memory_mb: int
    disk_gb: int  # local disk the server takes on its host (0 for a volume root)
    zone: str | None = None
    host: str | None = None  # an admin's "zone:host"
    group_policy: str | None = None  # affinity, anti-affinity, soft-affinity, soft-anti-...
    group_members: frozenset[str] = frozenset()  # the group's servers (already placed)
    max_server_per_host: int = 1  # anti-affinity's rule (2.64)


Filter = Callable[[HostState, Request, Ratios], bool]


def _members_on(host: HostState, req: Request) -> int:
    return len(host.instances & req.group_members)


def _affinity(host: HostState, req: Request, r: Ratios) -> bool:
    if req.group_policy != "affinity" or not req.group_members:
        return True
    return _members_on(host, req) > 0


def _anti_affinity(host: HostState, req: Request, r: Ratios) -> bool:
    if req.group_policy != "anti-affinity":
        return True
    return _members_on(host, req) < req.max_server_per_host


FILTERS: Sequence[tuple[str, Filter]] = (
    ("ComputeFilter", lambda h, q, r: h.enabled and h.up),
    ("AvailabilityZoneFilter", lambda h, q, r: q.zone is None or h.zone == q.zone),
    ("HostFilter", lambda h, q, r: q.host is None or h.host == q.host),
    ("RamFilter", lambda h, q, r: h.free_ram(r) >= q.memory_mb),
    ("CoreFilter", lambda h, q, r: h.free_vcpus(r) >= q.vcpus),
    ("DiskFilter", lambda h, q, r: h.free_disk(r) >= q.disk_gb),
    ("ServerGroupAffinityFilter", _affinity),
    ("ServerGroupAntiAffinityFilter", _anti_affinity),
)


def _soft_affinity(h: HostState, q: Request, r: Ratios) -> float:
    return float(_members_on(h, q)) if q.group_policy == "soft-affinity" else 0.0


def _soft_anti_affinity(h: HostState, q: Request, r: Ratios) -> float:
    return -float(_members_on(h, q)) if q.group_policy == "soft-anti-affinity" else 0.0


Weigher = Callable[[HostState, Request, Ratios], float]
# (name, multiplier, raw weight); raw weights are normalised to 0..1 across hosts
WEIGHERS: Sequence[tuple[str, float, Weigher]] = (
    ("RAMWeigher", 1.0, lambda h, q, r: h.free_ram(r)),
    ("ServerGroupSoftAffinityWeigher", 1.0, _soft_affinity),
    ("ServerGroupSoftAntiAffinityWeigher", 1.0, _soft_anti_affinity),
)


def _normalised(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        return [0.0 for _ in values]
    return [(v - lo) / (hi - lo) for v in values]


def select_host(hosts: Sequence[HostState], req: Request, ratios: Ratios) -> HostState:
    """The best host for ``req``, or NoValidHost (the filter that left none is logged)."""
    left = list(hosts)
    for name, check in FILTERS:
        passed = [h for h in left if check(h, req, ratios)]
        if not passed:
            log.info("no valid host: %s removed the last of %d hosts (%s)", name,
                     len(left), ", ".join(h.host for h in left) or "none registered")
            raise NoValidHost()
        left = passed
    scores = [0.0] * len(left)
    for _name, multiplier, weigh in WEIGHERS:
        for i, value in enumerate(_normalised([weigh(h, req, ratios) for h in left])):
            scores[i] += multiplier * value
    best = max(range(len(left)), key=lambda i: (scores[i], -i))
    return left[best]


def local_disk_gb(inst: m.Instance) -> int:
    """Disk a server takes on its host: its image root (not a volume root), ephemeral
    disk and swap."""
    root = inst.root_gb if inst.image_ref else 0
    swap_gb = (int((inst.flavor or {}).get("swap") or 0) + 1023) // 1024
    return root + inst.ephemeral_gb + swap_gb


def host_states(s: Session, *, down_after: float, now: datetime | None = None
                ) -> list[HostState]:
    """Every registered compute host with what its live servers use."""
    now = now or m.utcnow()
    services = {sv.host: sv for sv in s.scalars(
        select(m.Service).where(m.Service.binary == COMPUTE_BINARY))}
    out: dict[str, HostState] = {}
    for node in s.scalars(select(m.ComputeNode).order_by(m.ComputeNode.host)):
        sv = services.get(node.host)
        up = sv is not None and not sv.forced_down and sv.last_seen_up is not None and \
            now - sv.last_seen_up <= timedelta(seconds=down_after)
        out[node.host] = HostState(
            host=node.host, node=node.hypervisor_hostname, zone=sv.zone if sv else "nova",
            vcpus=node.vcpus, memory_mb=node.memory_mb, local_gb=node.local_gb,
            enabled=sv is not None and not sv.disabled, up=up)
    for inst in s.scalars(select(m.Instance).where(
            m.Instance.deleted.is_(False), m.Instance.host.is_not(None),
            m.Instance.vm_state != SHELVED_OFFLOADED)):  # offloaded: nothing on the host
        hs = out.get(inst.host or "")
        if hs is not None:
            hs.vcpus_used += inst.vcpus
            hs.memory_mb_used += inst.memory_mb
            hs.local_gb_used += local_disk_gb(inst)
            hs.instances.add(inst.uuid)
    return list(out.values())


def running_counts(s: Session) -> dict[str, int]:
    """Live servers per host."""
    rows = s.execute(select(m.Instance.host, func.count(m.Instance.uuid))
                     .where(m.Instance.deleted.is_(False), m.Instance.host.is_not(None),
                            m.Instance.vm_state != SHELVED_OFFLOADED)
                     .group_by(m.Instance.host))
    return {host: int(n) for host, n in rows if host}
