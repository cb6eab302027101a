"""Small builders shared by the ring tests."""

from __future__ import annotations

from collections import Counter

from rings.builder import RingBuilder

T0 = 1_700_000_000.0  # a fixed "now" for rebalances (epoch seconds)
HOUR = 3600.0


def make_builder(
    zones: int,
    devs_per_zone: int,
    *,
    part_power: int = 8,
    replicas: int = 3,
    min_part_hours: int = 1,
    weight: float = 100.0,
    regions: int = 1,
) -> RingBuilder:
    """``zones`` zones per region, one host per zone, ``devs_per_zone`` devices each."""
    builder = RingBuilder(part_power, replicas, min_part_hours, clock=lambda: T0)
    for region in range(1, regions + 1):
        for zone in range(1, zones + 1):
            for dev in range(devs_per_zone):
                builder.add_dev(
                    region=region,
                    zone=zone,
                    ip=f"10.{region}.{zone}.1",
                    port=6200,
                    device=f"d{dev}",
                    weight=weight,
                )
    return builder


def snapshot(builder: RingBuilder) -> list[list[int]]:
    return [table.tolist() for table in builder.replica2part2dev]


def changed_per_part(before: list[list[int]], after: list[list[int]]) -> Counter[int]:
    """How many replicas of each partition changed device."""
    changed: Counter[int] = Counter()
    for old, new in zip(before, after, strict=True):
        for part, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                changed[part] += 1
    return changed


def zones_of(builder: RingBuilder, part: int) -> list[tuple[int, int]]:
    return [
        (builder.devs[t[part]].region, builder.devs[t[part]].zone) for t in builder.replica2part2dev
    ]
