"""The ring builder: devices, weights and an offline rebalance.

The builder owns the full state (devices, the replica → partition → device
table, how long ago each partition last moved) and writes two files: the
builder file (versioned JSON, the operator's source of truth) and the ring
file that :class:`rings.ring.Ring` reads at runtime.

Placement rules, in order of priority (:mod:`rings.placement` computes the
targets, :mod:`rings.assign` moves the replicas):

1. *Dispersion*: the replicas of a partition are spread as widely as the
   topology allows, across regions, then zones, then hosts (ip), then
   devices. A tier never holds more replicas of one partition than
   ``ceil(replicas its parent may hold / number of children)``, and a tier
   whose share is a whole number of replicas (say, 1 of 3 zones) holds at
   least that many of every partition.
2. *Weight*: within what dispersion allows, each device holds partitions in
   proportion to its weight. (When dispersion and weight disagree, e.g. one
   zone holding most of the weight, dispersion wins and ``balance`` shows
   the difference; the ``describe()`` table has a "wanted" column.)
3. *Few moves*: a rebalance only moves replicas off devices that hold more
   than their share, or that break rule 1, or that are being removed, and
   moves them to devices that hold less than theirs.
4. *min_part_hours*, as Swift's builder honours it: the builder keeps, per
   partition, the whole hours since one of its replicas last moved (at most
   255), and a partition moved less than ``min_part_hours`` ago does not
   move; one rebalance moves at most one replica of a partition, whatever
   ``min_part_hours`` is. The first placement of a partition counts as a
   move, so a rebalance right after the first one moves nothing. Replicas on
   removed devices always move. Hours advance at each rebalance by the whole
   hours since the last time they advanced.

Everything is deterministic: the same builder state and seed give the same
table, and the same table gives a byte-identical ring file.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from common.atomicfile import write_atomic
from rings.assign import Rebalancer
from rings.placement import LEVELS, TIERS, Topology
from rings.ring import DeviceInfo, RingData, RingError, RingFormatError

__all__ = [
    "BUILDER_FORMAT_VERSION",
    "Device",
    "RebalanceResult",
    "RingBuilder",
    "RingBuilderError",
]

BUILDER_FORMAT_VERSION = 2  # 1: JSON lists, last moves as epoch seconds (still read)
NONE_DEV = -1
MAX_BALANCE = 999.99
MAX_HOURS = 255  # the hours since a move are counted up to this (as in Swift's builder)
_HOUR = 3600


class RingBuilderError(RingError):
    """An operation the builder refuses (bad argument, unknown device, nothing to place on)."""


@dataclass
class Device:
    """A device in the builder. ``id`` is assigned by the builder and never reused."""

    id: int
    region: int
    zone: int
    ip: str
    port: int
    device: str
    weight: float
    meta: str = ""

    def to_info(self) -> DeviceInfo:
        return DeviceInfo(
            id=self.id,
            region=self.region,
            zone=self.zone,
            ip=self.ip,
            port=self.port,
            device=self.device,
            weight=self.weight,
        )

    @property
    def host(self) -> tuple[int, int, str]:
        return (self.region, self.zone, self.ip)


class RebalanceResult(NamedTuple):
    parts_moved: int  # partition-replicas whose device changed (new placements included)
    balance: float  # max % deviation of a device from its weight share


def _check_weight(weight: float) -> float:
    weight = float(weight)
    if not math.isfinite(weight) or weight < 0:
        raise RingBuilderError(f"weight must be a finite number >= 0, not {weight}")
    return weight


class RingBuilder:
    """Build and rebalance a ring.

    ``clock`` (seconds since the epoch) times partition moves; tests pass a
    fake one, or ``now=`` to :meth:`rebalance`.
    """

    def __init__(
        self,
        part_power: int,
        replicas: int,
        min_part_hours: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= part_power <= 32:
            raise RingBuilderError(f"part_power must be between 0 and 32, not {part_power}")
        if replicas < 1:
            raise RingBuilderError(f"replicas must be at least 1, not {replicas}")
        if not 0 <= min_part_hours <= MAX_HOURS:
            raise RingBuilderError(
                f"min_part_hours must be between 0 and {MAX_HOURS}, not {min_part_hours}"
            )
        self.part_power = part_power
        self.replicas = replicas
        self.min_part_hours = min_part_hours
        self.clock = clock
        self.next_dev_id = 0
        self.devs: dict[int, Device] = {}
        self.removed: set[int] = set()  # device ids to drain and forget at the next rebalance
        self._names: dict[tuple[str, int, str], int] = {}  # (ip, port, device) -> id, not removed
        self._table: npt.NDArray[np.int32] = np.full((replicas, self.parts), NONE_DEV, np.int32)
        # Whole hours since each partition last moved (capped), as of last_part_moves_epoch.
        self.last_part_moves: npt.NDArray[np.uint8] = np.zeros(self.parts, dtype=np.uint8)
        self.last_part_moves_epoch = 0
        self.changed = False  # devices changed since the last rebalance

    @property
    def parts(self) -> int:
        return 1 << self.part_power

    @property
    def replica2part2dev(self) -> list[npt.NDArray[np.int32]]:
        """The table: one array per replica, partition -> device id (-1: not placed)."""
        return list(self._table)

    # -- devices ---------------------------------------------------------

    def add_dev(
        self,
        *,
        region: int,
        zone: int,
        ip: str,
        port: int,
        device: str,
        weight: float,
        meta: str = "",
    ) -> int:
        """Add a device; return its new id."""
        if region < 0 or zone < 0:
            raise RingBuilderError("region and zone must be >= 0")
        if not ip:
            raise RingBuilderError("a device needs an ip")
        if not 0 < port < 65536:
            raise RingBuilderError(f"port must be between 1 and 65535, not {port}")
        if not device or "/" in device:
            raise RingBuilderError(f"bad device name {device!r}")
        same = self._names.get((ip, port, device))
        if same is not None:
            raise RingBuilderError(
                f"device {ip}:{port}/{device} is already in the ring (id {same})"
            )
        dev_id = self.next_dev_id
        self.next_dev_id += 1
        self.devs[dev_id] = Device(
            dev_id, region, zone, ip, port, device, _check_weight(weight), meta
        )
        self._names[(ip, port, device)] = dev_id
        self.changed = True
        return dev_id

    def get_dev(self, dev_id: int) -> Device:
        try:
            return self.devs[dev_id]
        except KeyError:
            raise RingBuilderError(f"there is no device with id {dev_id}") from None

    def remove_dev(self, dev_id: int) -> None:
        """Mark a device for removal: its partitions move off at the next rebalance."""
        dev = self.get_dev(dev_id)
        self.removed.add(dev_id)
        self._names.pop((dev.ip, dev.port, dev.device), None)
        self.changed = True

    def set_weight(self, dev_id: int, weight: float) -> None:
        dev = self.get_dev(dev_id)
        if dev_id in self.removed:
            raise RingBuilderError(f"device {dev_id} is being removed")
        dev.weight = _check_weight(weight)
        self.changed = True

    def set_meta(self, dev_id: int, meta: str) -> None:
        self.get_dev(dev_id).meta = meta

    def search_devs(
        self,
        *,
        id: int | None = None,
        region: int | None = None,
        zone: int | None = None,
        ip: str | None = None,
        port: int | None = None,
        device: str | None = None,
        meta: str | None = None,
    ) -> list[Device]:
        """Devices matching every given field (``meta`` matches a substring)."""
        wanted = {"id": id, "region": region, "zone": zone, "ip": ip, "port": port}
        wanted["device"] = device
        found = []
        for dev in sorted(self.devs.values(), key=lambda d: d.id):
            if any(v is not None and getattr(dev, k) != v for k, v in wanted.items()):
                continue
            if meta is not None and meta not in dev.meta:
                continue
            found.append(dev)
        return found

    # -- min_part_hours ----------------------------------------------------

    def pretend_min_part_hours_passed(self) -> None:
        """Count every partition as moved long ago (tests, and an operator in a hurry)."""
        self.last_part_moves[:] = MAX_HOURS
        self.last_part_moves_epoch = 0

    def min_part_seconds_left(self, now: float | None = None) -> int:
        """Seconds until ``min_part_hours`` have passed since the hours last advanced."""
        now = self.clock() if now is None else now
        return max(0, self.min_part_hours * _HOUR - int(now - self.last_part_moves_epoch))

    def _advance_hours(self, now: float) -> None:
        hours = int(now - self.last_part_moves_epoch) // _HOUR
        if hours <= 0:
            return
        moves = self.last_part_moves.astype(np.int64) + hours
        self.last_part_moves = np.minimum(moves, MAX_HOURS).astype(np.uint8)
        self.last_part_moves_epoch = int(now)

    # -- rebalance -------------------------------------------------------

    def _topology(self) -> Topology:
        active = {i for i, dev in self.devs.items() if i not in self.removed and dev.weight > 0}
        return Topology(list(self.devs.values()), active, self.replicas, self.parts)

    def rebalance(self, seed: int | None = None, now: float | None = None) -> RebalanceResult:
        """Move as few partition-replicas as needed; return ``(parts_moved, balance)``.

        ``seed`` fixes the pseudo-random choices (``None`` means 0: a rebalance
        is always reproducible); ``now`` (epoch seconds) defaults to the clock.
        """
        now = self.clock() if now is None else now
        topo = self._topology()
        if not topo.active.any():
            raise RingBuilderError("there are no devices with weight > 0 to place partitions on")
        self._advance_hours(now)
        before = self._table
        table = np.concatenate((topo.dense, [NONE_DEV]))[before]
        if self.removed:
            leaving = np.isin(before, np.array(sorted(self.removed), dtype=np.int32))
            table[leaving] = NONE_DEV  # replicas on removed devices always move
        free = (self.last_part_moves >= self.min_part_hours) & ~(table < 0).any(axis=0)
        Rebalancer(topo, table, free, 0 if seed is None else seed).run()
        after = topo.dev_ids[table].astype(np.int32)
        changed = after != before
        self.last_part_moves[changed.any(axis=0)] = 0
        self._table = after
        held = np.bincount(after.ravel(), minlength=self.next_dev_id)
        for dev_id in sorted(self.removed):
            if not held[dev_id]:
                del self.devs[dev_id]
                self.removed.discard(dev_id)
        self.changed = False
        return RebalanceResult(int(changed.sum()), self.balance())

    # -- reports ---------------------------------------------------------

    def dev_parts(self) -> dict[int, int]:
        """Partition-replicas held by each device (every device, 0 included)."""
        placed = self._table[self._table >= 0]
        counts = np.bincount(placed, minlength=self.next_dev_id)
        return {dev_id: int(counts[dev_id]) for dev_id in sorted(self.devs)}

    def _weighted_ideal(self) -> dict[int, float]:
        active = [d for i, d in self.devs.items() if i not in self.removed and d.weight > 0]
        total = sum(dev.weight for dev in active)
        if not total:
            return {}
        per_weight = self.parts * self.replicas / total
        return {dev.id: dev.weight * per_weight for dev in active}

    def dev_balances(self) -> dict[int, float]:
        """Per device: % deviation of its partition count from its weight share."""
        ideal = self._weighted_ideal()
        result = {}
        for dev_id, count in self.dev_parts().items():
            want = ideal.get(dev_id, 0.0)
            if want:
                result[dev_id] = 100.0 * (count - want) / want
            else:
                result[dev_id] = MAX_BALANCE if count else 0.0
        return result

    def balance(self) -> float:
        """The worst device's % deviation from its weight share (0 = perfect)."""
        return max((abs(b) for b in self.dev_balances().values()), default=0.0)

    def dispersion(self) -> dict[str, int]:
        """Per tier: how many partitions have more than one replica in one region/zone/host/device.

        Also ``"over_limit"``: partitions less dispersed than the topology
        allows (0 in a good ring).
        """
        result = dict.fromkeys(TIERS, 0)
        result["over_limit"] = 0
        if not self.devs:
            return result
        topo = self._topology()
        table = np.concatenate((topo.dense, [NONE_DEV]))[self._table]
        over = np.zeros(self.parts, dtype=bool)
        for level, tier in enumerate(TIERS, start=1):
            nodes = np.concatenate((topo.node[level], [-1]))[table]
            doubled = np.zeros(self.parts, dtype=bool)
            cap = np.concatenate((topo.cap[level], [self.replicas]))[nodes]
            for r in range(self.replicas):
                same = (nodes == nodes[r]) & (nodes[r] >= 0)
                doubled |= same.sum(axis=0) > 1
                over |= same.sum(axis=0) > cap[r]
            result[tier] = int(doubled.sum())
        result["over_limit"] = int(over.sum())
        return result

    def describe(self) -> str:
        """A human-readable summary and devices table (the CLI's ``show``)."""
        parts_by_dev = self.dev_parts()
        balances = self.dev_balances()
        quotas: dict[int, int] = {}
        if self.devs:
            topo = self._topology()
            quotas = dict(zip(topo.dev_ids.tolist(), topo.quota[LEVELS].tolist(), strict=True))
        regions = {d.region for d in self.devs.values()}
        zones = {(d.region, d.zone) for d in self.devs.values()}
        lines = [
            f"{self.parts} partitions, {self.replicas} replicas, {len(regions)} regions, "
            f"{len(zones)} zones, {len(self.devs)} devices, "
            f"{self.balance():.2f} balance, min_part_hours {self.min_part_hours}",
        ]
        disp = self.dispersion()
        lines.append(
            "partitions with >1 replica in one: "
            + ", ".join(f"{tier} {disp[tier]}" for tier in TIERS)
            + f"; less dispersed than possible: {disp['over_limit']}"
        )
        if self.changed:
            lines.append("devices changed since the last rebalance: run `rebalance`")
        header = (
            f"{'id':>4} {'region':>6} {'zone':>4} {'ip:port':<22} {'device':<12} "
            f"{'weight':>8} {'parts':>8} {'wanted':>8} {'balance':>8}  meta"
        )
        lines.append("devices:")
        lines.append(header)
        for dev_id, dev in sorted(self.devs.items()):
            flag = " (removing)" if dev_id in self.removed else ""
            lines.append(
                f"{dev.id:>4} {dev.region:>6} {dev.zone:>4} {f'{dev.ip}:{dev.port}':<22} "
                f"{dev.device:<12} {dev.weight:>8.2f} {parts_by_dev[dev_id]:>8} "
                f"{quotas.get(dev_id, 0):>8} {balances[dev_id]:>8.2f}  {dev.meta}{flag}"
            )
        return "\n".join(lines)

    # -- persistence -----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The builder file's content (format 2: tables as base64 little-endian int32)."""
        return {
            "format_version": BUILDER_FORMAT_VERSION,
            "kind": "strata-ring-builder",
            "part_power": self.part_power,
            "replicas": self.replicas,
            "min_part_hours": self.min_part_hours,
            "next_dev_id": self.next_dev_id,
            "changed": self.changed,
            "devs": [asdict(dev) for _, dev in sorted(self.devs.items())],
            "removed": sorted(self.removed),
            "replica2part2dev": [_b64(row.astype("<i4")) for row in self._table],
            "last_part_moves": _b64(self.last_part_moves),
            "last_part_moves_epoch": self.last_part_moves_epoch,
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, clock: Callable[[], float] = time.time
    ) -> RingBuilder:
        if data.get("kind") != "strata-ring-builder":
            raise RingFormatError("not a Strata ring builder file")
        version = data.get("format_version")
        if version not in (1, BUILDER_FORMAT_VERSION):
            raise RingFormatError(
                f"builder file format version {version} is not supported "
                f"(this version of Strata reads versions 1 and {BUILDER_FORMAT_VERSION})"
            )
        try:
            builder = cls(
                int(data["part_power"]),
                int(data["replicas"]),
                int(data["min_part_hours"]),
                clock=clock,
            )
            builder.next_dev_id = int(data["next_dev_id"])
            builder.changed = bool(data.get("changed", False))
            for raw in data["devs"]:
                dev = Device(**raw)
                builder.devs[dev.id] = dev
            builder.removed = {int(i) for i in data["removed"]}
            if version == 1:
                table = np.array(data["replica2part2dev"], dtype=np.int64)
                moves, epoch = _hours_from_v1(data["last_part_moves"])
            else:
                table = np.array([_unb64(row, "<i4") for row in data["replica2part2dev"]])
                moves = _unb64(data["last_part_moves"], "u1")
                epoch = int(data["last_part_moves_epoch"])
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise RingFormatError(f"builder file is malformed: {exc}") from None
        if table.shape != (builder.replicas, builder.parts):
            raise RingFormatError("builder file table does not match its part_power/replicas")
        if moves.shape != (builder.parts,):
            raise RingFormatError("builder file last_part_moves has the wrong length")
        known = np.array(sorted(builder.devs), dtype=np.int64)
        if not np.isin(table[table >= 0], known).all() or (table < NONE_DEV).any():
            raise RingFormatError("builder file table names a device it does not have")
        builder._table = table.astype(np.int32)
        builder.last_part_moves = moves.astype(np.uint8)
        builder.last_part_moves_epoch = epoch
        for dev_id, dev in builder.devs.items():
            if dev_id not in builder.removed:
                builder._names[(dev.ip, dev.port, dev.device)] = dev_id
        return builder

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the builder file atomically (versioned JSON)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        write_atomic(path, text.encode("utf-8") + b"\n")

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> RingBuilder:
        with open(path, "rb") as fh:
            try:
                data = json.loads(fh.read())
            except (ValueError, UnicodeDecodeError):
                raise RingFormatError(f"{os.fspath(path)} is not a ring builder file") from None
        if not isinstance(data, dict):
            raise RingFormatError(f"{os.fspath(path)} is not a ring builder file")
        return cls.from_dict(data, clock=clock)

    def get_ring_data(self) -> RingData:
        """The runtime ring for the current table (rebalance first)."""
        if (self._table < 0).any():
            raise RingBuilderError("the ring has unassigned partitions: rebalance first")
        used = np.bincount(self._table.ravel(), minlength=self.next_dev_id)
        devs = [
            dev.to_info()
            for dev_id, dev in sorted(self.devs.items())
            if dev_id not in self.removed or used[dev_id]
        ]
        typecode, dtype = ("H", np.uint16) if self.next_dev_id <= 0xFFFF else ("I", np.uint32)
        tables = []
        for row in self._table:
            table = array(typecode)
            table.frombytes(row.astype(dtype).tobytes())
            tables.append(table)
        return RingData(replica2part2dev=tables, devs=devs, part_shift=32 - self.part_power)

    def write_ring(self, path: str | os.PathLike[str]) -> None:
        """Write the runtime ring file atomically."""
        self.get_ring_data().save(path)


def _b64(values: npt.NDArray[Any]) -> str:
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unb64(text: str, dtype: str) -> npt.NDArray[Any]:
    return np.frombuffer(base64.b64decode(text, validate=True), dtype=dtype).astype(np.int64)


def _hours_from_v1(moves: list[int]) -> tuple[npt.NDArray[np.int64], int]:
    """Format 1 kept the epoch second of each partition's last move (-1: never)."""
    stamps = np.array(moves, dtype=np.int64)
    epoch = int(stamps.max(initial=0))
    hours = np.where(stamps < 0, MAX_HOURS, np.minimum((epoch - stamps) // _HOUR, MAX_HOURS))
    return hours, epoch
