"""The ring builder: devices, weights and an offline rebalance.

The builder owns the full state (devices, the replica → partition → device
table, when each partition last moved) and writes two files: the builder
file (versioned JSON, the operator's source of truth) and the ring file that
:class:`rings.ring.Ring` reads at runtime.

Placement rules, in order of priority:

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
3. *Few moves*: a rebalance only moves replicas off devices (or tiers) that
   hold more than their share, or that break rule 1, or that are being
   removed; each move must bring the tiers closer to their shares, higher
   tiers first. (Single moves can get stuck in lopsided topologies, where
   only a chain of moves would help; ``balance`` then stays above 0.)
4. *min_part_hours*: a partition that moved less than ``min_part_hours`` ago
   does not move again, and one rebalance moves at most one replica of a
   partition (with ``min_part_hours`` 0 neither limit applies). Replicas on
   removed devices always move. Placing a partition that had no replica at
   all (a new ring) is not a move.

Everything is deterministic: the same builder state and seed give the same
table, and the same table gives a byte-identical ring file.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from common.atomicfile import write_atomic
from rings.placement import TierTree, Wants, build_tree
from rings.ring import DeviceInfo, RingData, RingError, RingFormatError

__all__ = [
    "BUILDER_FORMAT_VERSION",
    "Device",
    "RebalanceResult",
    "RingBuilder",
    "RingBuilderError",
]

BUILDER_FORMAT_VERSION = 1
NONE_DEV = -1
NEVER = -1  # last_part_moves entry of a partition that never moved
MAX_BALANCE = 999.99
_HOUR = 3600.0
TIERS = ("region", "zone", "host", "device")


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


@dataclass
class _Rebalance:
    """What one rebalance works on: the tier tree, each device's quota and how many
    replicas it holds now, the partitions in (seeded) random order, which of them
    may move (``min_part_hours``) and which have had a replica moved already."""

    tree: TierTree
    quotas: dict[int, int]
    counts: Counter[int]
    order: list[int]
    movable: Callable[[int], bool]
    moved: bytearray


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
        if min_part_hours < 0:
            raise RingBuilderError(f"min_part_hours must be >= 0, not {min_part_hours}")
        self.part_power = part_power
        self.replicas = replicas
        self.min_part_hours = min_part_hours
        self.clock = clock
        self.next_dev_id = 0
        self.devs: dict[int, Device] = {}
        self.removed: set[int] = set()  # device ids to drain and forget at the next rebalance
        parts = 1 << part_power
        self.replica2part2dev: list[array[int]] = [
            array("i", [NONE_DEV]) * parts for _ in range(replicas)
        ]
        self.last_part_moves: array[int] = array("q", [NEVER]) * parts  # epoch s
        self.changed = False  # devices changed since the last rebalance

    @property
    def parts(self) -> int:
        return 1 << self.part_power

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
        for dev in self.devs.values():
            if (dev.ip, dev.port, dev.device) == (ip, port, device) and dev.id not in self.removed:
                raise RingBuilderError(
                    f"device {ip}:{port}/{device} is already in the ring (id {dev.id})"
                )
        dev_id = self.next_dev_id
        self.next_dev_id += 1
        self.devs[dev_id] = Device(
            dev_id, region, zone, ip, port, device, _check_weight(weight), meta
        )
        self.changed = True
        return dev_id

    def get_dev(self, dev_id: int) -> Device:
        try:
            return self.devs[dev_id]
        except KeyError:
            raise RingBuilderError(f"there is no device with id {dev_id}") from None

    def remove_dev(self, dev_id: int) -> None:
        """Mark a device for removal: its partitions move off at the next rebalance."""
        self.get_dev(dev_id)
        self.removed.add(dev_id)
        self.changed = True

    def set_weight(self, dev_id: int, weight: float) -> None:
        dev = self.get_dev(dev_id)
        if dev_id in self.removed:
            raise RingBuilderError(f"device {dev_id} is being removed")
        dev.weight = _check_weight(weight)
        self.changed = True

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
        exact = {k: v for k, v in (("id", id), ("region", region), ("zone", zone),
                                   ("ip", ip), ("port", port), ("device", device))
                 if v is not None}
        return [dev for dev in sorted(self.devs.values(), key=lambda d: d.id)
                if all(getattr(dev, k) == v for k, v in exact.items())
                and (meta is None or meta in dev.meta)]

    # -- rebalance -------------------------------------------------------

    def _active(self) -> list[Device]:
        return [
            dev
            for dev_id, dev in sorted(self.devs.items())
            if dev_id not in self.removed and dev.weight > 0
        ]

    def _tree(self) -> TierTree:
        active = self._active()
        if not active:
            raise RingBuilderError("there are no devices with weight > 0 to place partitions on")
        return build_tree(active, list(self.devs.values()), self.replicas)

    def _quotas(self, tree: TierTree) -> dict[int, int]:
        """Integer partition-replica count wanted on each active device."""
        return tree.quotas(self.parts)

    def rebalance(self, seed: int | None = None, now: float | None = None) -> RebalanceResult:
        """Move as few partition-replicas as needed; return ``(parts_moved, balance)``.

        ``seed`` fixes the pseudo-random choices (``None`` means 0: a rebalance
        is always reproducible); ``now`` (epoch seconds) defaults to the clock.
        """
        now = self.clock() if now is None else now
        rng = random.Random(0 if seed is None else seed)
        tree = self._tree()
        quotas = self._quotas(tree)
        parts, replicas = self.parts, self.replicas
        tables = self.replica2part2dev
        before = [array("i", table) for table in tables]
        fresh: set[int] = set()  # partitions never placed: placing them is not a move
        if any(NONE_DEV in table for table in tables):
            fresh = {p for p in range(parts) if all(t[p] == NONE_DEV for t in tables)}
        order = list(range(parts))
        rng.shuffle(order)

        counts: Counter[int] = Counter()
        for table in tables:
            counts.update(table)
        counts.pop(NONE_DEV, None)

        window = self.min_part_hours * _HOUR
        moved = bytearray(parts)  # partitions with a replica taken this rebalance
        cutoff = now - window
        last = self.last_part_moves

        def movable(part: int) -> bool:
            if window <= 0:
                return True
            return not moved[part] and (last[part] == NEVER or last[part] <= cutoff)

        # Removed devices always drain, whatever min_part_hours says.
        removing = self.removed & set(counts)
        if removing:
            for table in tables:
                for part in range(parts):
                    if table[part] in removing:
                        counts[table[part]] -= 1
                        table[part] = NONE_DEV
                        moved[part] = 1

        rb = _Rebalance(tree, quotas, counts, order, movable, moved)
        for _pass in range(replicas + 1):
            changed = self._gather_dispersion(rb)
            changed += self._place(rb)
            changed += self._move_overweight(rb)
            if not changed:
                break

        for dev_id in sorted(self.removed):
            if counts.get(dev_id, 0) == 0:
                del self.devs[dev_id]
                self.removed.discard(dev_id)

        parts_moved = 0
        for old, new in zip(before, tables, strict=True):
            if old == new:
                continue
            for part in range(parts):
                if old[part] != new[part]:
                    parts_moved += 1
                    if part not in fresh:
                        last[part] = max(0, int(now))
        self.changed = False
        return RebalanceResult(parts_moved, self.balance())

    def _gather_dispersion(self, rb: _Rebalance) -> int:
        """Unassign one replica of each movable partition that is less dispersed than allowed."""
        tree, quotas, counts, moved = rb.tree, rb.quotas, rb.counts, rb.moved
        tables = self.replica2part2dev
        cache: dict[tuple[int, ...], list[int]] = {}
        gathered = 0
        rows = list(zip(*tables, strict=True))
        for part in rb.order:
            row = rows[part]
            crowded = cache.get(row)
            if crowded is None:
                crowded = cache[row] = tree.misplaced_replicas(row)
            if not crowded or not rb.movable(part):
                continue
            # Take the replica whose device is the most over its quota.
            replica = max(crowded, key=lambda r: (counts[row[r]] - quotas.get(row[r], 0), r))
            dev_id = row[replica]
            tables[replica][part] = NONE_DEV
            counts[dev_id] -= 1
            moved[part] = 1
            gathered += 1
        return gathered

    def _move_overweight(self, rb: _Rebalance) -> int:
        """Move replicas off devices (or tiers) above their quota, one per partition.

        A replica moves only where :meth:`TierTree.choose` would put it (so
        dispersion never gets worse) and only if the move brings the tiers
        closer to their quotas (:meth:`Wants.move_helps`); a device with
        weight 0 gives its replicas to whoever takes them.
        """
        tree, counts = rb.tree, rb.counts
        wants = Wants(tree, rb.quotas, counts)
        inactive = sum(n for dev_id, n in counts.items() if n > 0 and dev_id not in tree.dev_node)
        if not wants.over and not inactive:
            return 0
        tables = self.replica2part2dev
        done = 0
        # First only from devices above their own quota; then, if tiers are
        # still off, from any device in a tier above its quota.
        for source_ok in (wants.device_over, wants.holds_too_many):
            for part in rb.order:
                if not wants.over and not inactive:
                    return done
                if not rb.movable(part):
                    continue
                row = [table[part] for table in tables]
                for replica, dev_id in enumerate(row):
                    if not source_ok(dev_id):
                        continue
                    wants.add(dev_id, 1)
                    row[replica] = NONE_DEV
                    chosen = self._choose_destination(tree, wants, row, dev_id)
                    if chosen is not None:
                        wants.add(chosen, -1)
                        tables[replica][part] = chosen
                        counts[dev_id] -= 1
                        counts[chosen] += 1
                        if dev_id not in tree.dev_node:
                            inactive -= 1
                        rb.moved[part] = 1
                        done += 1
                        break
                    wants.add(dev_id, -1)
                    row[replica] = dev_id
        return done

    @staticmethod
    def _choose_destination(tree: TierTree, wants: Wants, row: list[int], src: int) -> int | None:
        """Where a replica taken off ``src`` should go, or None to leave it.

        Try the best device anywhere, then the best in the source's region,
        zone and host (a move inside a tier keeps that tier's count).
        """
        leaf = tree.dev_node.get(src)
        starts = tree.path[leaf][:-1] if leaf is not None else (0,)
        tried: set[int] = set()
        for start in starts:
            chosen = tree.choose(row, wants.want, start)
            if chosen == src or chosen in tried:
                continue
            tried.add(chosen)
            if wants.move_helps(src, chosen):
                return chosen
        return None

    def _place(self, rb: _Rebalance) -> int:
        """Give every unassigned replica a device (see :meth:`TierTree.choose`)."""
        tree, counts = rb.tree, rb.counts
        tables = self.replica2part2dev
        if not any(NONE_DEV in table for table in tables):
            return 0
        unassigned = {
            part for table in tables for part, dev_id in enumerate(table) if dev_id == NONE_DEV
        }
        want = tree.want_from(rb.quotas, counts)
        dev_node, path = tree.dev_node, tree.path
        placed = 0
        for part in rb.order:
            if part not in unassigned:
                continue
            row = [table[part] for table in tables]
            for replica, dev_id in enumerate(row):
                if dev_id != NONE_DEV:
                    continue
                chosen = tree.choose(row, want)
                for node in path[dev_node[chosen]]:
                    want[node] -= 1
                row[replica] = chosen
                tables[replica][part] = chosen
                counts[chosen] += 1
                placed += 1
        return placed

    # -- reports ---------------------------------------------------------

    def dev_parts(self) -> dict[int, int]:
        """Partition-replicas held by each device (every device, 0 included)."""
        counts: Counter[int] = Counter()
        for table in self.replica2part2dev:
            counts.update(table)
        return {dev_id: counts.get(dev_id, 0) for dev_id in sorted(self.devs)}

    def _weighted_ideal(self) -> dict[int, float]:
        active = self._active()
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
        keys: dict[int, tuple[Any, ...]] = {}
        for dev in self.devs.values():
            keys[dev.id] = (dev.region, dev.zone, dev.ip, dev.id)
        result = dict.fromkeys(TIERS, 0)
        result["over_limit"] = 0
        tree = self._tree() if self._active() else None
        cache: dict[tuple[int, ...], tuple[list[str], bool]] = {}
        for row in zip(*self.replica2part2dev, strict=True):
            hit = cache.get(row)
            if hit is None:
                doubled = []
                assigned = [keys[d] for d in row if d in keys]
                for depth, tier in enumerate(TIERS, start=1):
                    prefixes = [key[:depth] for key in assigned]
                    if len(set(prefixes)) < len(prefixes):
                        doubled.append(tier)
                over = bool(tree.misplaced_replicas(row, short=False)) if tree else False
                hit = cache[row] = (doubled, over)
            for tier in hit[0]:
                result[tier] += 1
            result["over_limit"] += hit[1]
        return result

    def describe(self) -> str:
        """A human-readable summary and devices table (the CLI's ``show``)."""
        parts_by_dev = self.dev_parts()
        balances = self.dev_balances()
        try:
            quotas = self._quotas(self._tree())
        except RingBuilderError:
            quotas = {}
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
            "replica2part2dev": [table.tolist() for table in self.replica2part2dev],
            "last_part_moves": self.last_part_moves.tolist(),
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, clock: Callable[[], float] = time.time
    ) -> RingBuilder:
        if data.get("kind") != "strata-ring-builder":
            raise RingFormatError("not a Strata ring builder file")
        version = data.get("format_version")
        if version != BUILDER_FORMAT_VERSION:
            raise RingFormatError(
                f"builder file format version {version} is not supported "
                f"(this version of Strata reads version {BUILDER_FORMAT_VERSION})"
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
            tables = [array("i", table) for table in data["replica2part2dev"]]
            moves = array("q", data["last_part_moves"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise RingFormatError(f"builder file is malformed: {exc}") from None
        if len(tables) != builder.replicas or any(len(t) != builder.parts for t in tables):
            raise RingFormatError("builder file table does not match its part_power/replicas")
        if len(moves) != builder.parts:
            raise RingFormatError("builder file last_part_moves has the wrong length")
        builder.replica2part2dev = tables
        builder.last_part_moves = moves
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
        if any(NONE_DEV in table for table in self.replica2part2dev):
            raise RingBuilderError("the ring has unassigned partitions: rebalance first")
        used: set[int] = set()
        for table in self.replica2part2dev:
            used.update(table)
        devs = [
            dev.to_info()
            for dev_id, dev in sorted(self.devs.items())
            if dev_id not in self.removed or dev_id in used
        ]
        typecode = "H" if self.next_dev_id <= 0xFFFF else "I"
        return RingData(
            replica2part2dev=[array(typecode, table) for table in self.replica2part2dev],
            devs=devs,
            part_shift=32 - self.part_power,
        )

    def write_ring(self, path: str | os.PathLike[str]) -> None:
        """Write the runtime ring file atomically."""
        self.get_ring_data().save(path)
