from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from rings.builder import RingBuilder, RingBuilderError
from rings.ring import RingFormatError
from tests.unit.rings.helpers import (
    HOUR,
    T0,
    changed_per_part,
    make_builder,
    snapshot,
    zones_of,
)


def test_three_zones_two_devices_every_partition_in_three_zones() -> None:
    builder = make_builder(3, 2, part_power=10)
    start = time.perf_counter()
    moved, balance = builder.rebalance(seed=1, now=T0)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0
    assert moved == 1024 * 3
    for part in range(1024):
        assert len(set(zones_of(builder, part))) == 3
    assert balance < 0.5
    counts = builder.dev_parts()
    assert sorted(counts.values()) == [512] * 6
    disp = builder.dispersion()
    assert disp["zone"] == disp["host"] == disp["device"] == disp["over_limit"] == 0


def test_two_zones_spread_as_much_as_possible() -> None:
    builder = make_builder(2, 3, part_power=8)
    builder.rebalance(seed=1, now=T0)
    for part in range(256):
        zones = zones_of(builder, part)
        assert len(set(zones)) == 2  # never all three in one zone
        devs = [t[part] for t in builder.replica2part2dev]
        assert len(set(devs)) == 3
    assert builder.dispersion()["over_limit"] == 0
    assert builder.dispersion()["zone"] == 256


def test_weights_are_proportional() -> None:
    builder = RingBuilder(12, 3, 1)
    for zone in range(1, 7):
        builder.add_dev(
            region=1,
            zone=zone,
            ip=f"10.0.0.{zone}",
            port=6200,
            device="sdb",
            weight=200.0 if zone == 6 else 100.0,
        )
    _, balance = builder.rebalance(seed=3, now=T0)
    counts = builder.dev_parts()
    others = [counts[dev_id] for dev_id in range(5)]
    assert counts[5] / (sum(others) / len(others)) == pytest.approx(2.0, rel=0.01)
    assert balance < 1.0
    # Replicas stay in distinct zones while following weights.
    assert builder.dispersion()["zone"] == 0


def test_adding_a_device_moves_its_share_and_no_more() -> None:
    builder = make_builder(4, 2, part_power=12)
    builder.rebalance(seed=1, now=T0)
    before = snapshot(builder)
    new_id = builder.add_dev(region=1, zone=1, ip="10.1.1.2", port=6200, device="d9", weight=100)
    moved, balance = builder.rebalance(seed=1, now=T0 + HOUR)
    total = 4096 * 3
    assert moved == pytest.approx(total / 9, rel=0.02)
    # (Nearly) every moved replica went to the new device: nothing else was
    # shuffled beyond rounding.
    assert moved - builder.dev_parts()[new_id] <= 4
    changes = changed_per_part(before, snapshot(builder))
    assert max(changes.values()) == 1
    assert balance < 1.0
    assert builder.dispersion()["zone"] == 0


def test_rebalance_without_changes_moves_nothing() -> None:
    builder = make_builder(3, 2, part_power=8)
    builder.rebalance(seed=1, now=T0)
    moved, _ = builder.rebalance(seed=1, now=T0 + 10 * HOUR)
    assert moved == 0


def test_min_part_hours_limits_moves_until_the_hours_pass() -> None:
    # Three zones of one device: every device holds every partition.
    builder = make_builder(3, 1, part_power=8, min_part_hours=2)
    builder.rebalance(seed=1, now=T0)
    # Doubling every zone means half of every device's replicas must move:
    # 1.5 moves per partition, more than one rebalance may do.
    for zone in range(1, 4):
        builder.add_dev(
            region=1, zone=zone, ip=f"10.1.{zone}.2", port=6200, device="d1", weight=100
        )
    first = snapshot(builder)
    # Placing a partition is a move: within min_part_hours of the first
    # rebalance nothing moves (as in Swift's builder).
    assert builder.rebalance(seed=1, now=T0 + 60).parts_moved == 0
    assert builder.min_part_seconds_left(now=T0 + 60) == 2 * HOUR - 60
    moved, balance = builder.rebalance(seed=1, now=T0 + 2 * HOUR)
    second = snapshot(builder)
    assert 0 < moved <= 256
    assert max(changed_per_part(first, second).values()) == 1
    assert balance > 10.0  # could not finish yet

    moved_again, _ = builder.rebalance(seed=1, now=T0 + 2 * HOUR + 60)
    third = snapshot(builder)
    # Within min_part_hours of their move, no partition moves a second replica.
    assert max(changed_per_part(first, third).values()) == 1
    assert moved_again == 0

    moved_later, balance_later = builder.rebalance(seed=1, now=T0 + 4 * HOUR)
    assert moved_later > 0
    assert balance_later < 1.0
    for part in range(256):
        assert len(set(zones_of(builder, part))) == 3


def test_a_rebalance_right_after_the_first_moves_nothing() -> None:
    # As in Swift's builder, placing a partition is a move: min_part_hours
    # holds every partition of a new ring in place.
    builder = make_builder(3, 2, part_power=8, min_part_hours=24)
    builder.rebalance(seed=1, now=T0)
    builder.add_dev(region=1, zone=4, ip="10.1.4.1", port=6200, device="d0", weight=100)
    assert builder.rebalance(seed=1, now=T0 + 1).parts_moved == 0
    assert builder.rebalance(seed=1, now=T0 + 23 * HOUR).parts_moved == 0
    moved, _ = builder.rebalance(seed=1, now=T0 + 24 * HOUR)
    assert moved == pytest.approx(256 * 3 / 7, rel=0.05)

    # min_part_hours 0: partitions move at once, still one replica each per rebalance.
    eager = make_builder(3, 1, part_power=8, min_part_hours=0)
    eager.rebalance(seed=1, now=T0)
    for zone in range(1, 4):
        eager.add_dev(region=1, zone=zone, ip=f"10.1.{zone}.2", port=6200, device="e", weight=100)
    before = snapshot(eager)
    assert eager.rebalance(seed=1, now=T0 + 1).parts_moved == 256
    assert max(changed_per_part(before, snapshot(eager)).values()) == 1


def test_pretend_min_part_hours_passed_frees_every_partition() -> None:
    builder = make_builder(3, 2, part_power=8, min_part_hours=24)
    builder.rebalance(seed=1, now=T0)
    builder.add_dev(region=1, zone=1, ip="10.1.1.9", port=6200, device="d9", weight=100)
    assert builder.rebalance(seed=1, now=T0 + 1).parts_moved == 0
    builder.pretend_min_part_hours_passed()
    assert builder.min_part_seconds_left(now=T0 + 2) == 0
    moved, _ = builder.rebalance(seed=1, now=T0 + 2)
    assert moved == pytest.approx(256 / 3, abs=2)  # a third of zone 1 (a replica of each part)


def test_removed_device_drains_completely_ignoring_min_part_hours() -> None:
    builder = make_builder(3, 2, part_power=8, min_part_hours=24)
    builder.rebalance(seed=1, now=T0)
    builder.add_dev(region=1, zone=3, ip="10.1.3.1", port=6200, device="d9", weight=100)
    builder.rebalance(seed=1, now=T0 + 1)  # every partition may now be "recently moved"
    builder.remove_dev(0)
    builder.rebalance(seed=1, now=T0 + 2)
    assert all(0 not in table for table in builder.replica2part2dev)
    assert 0 not in builder.devs
    for part in range(256):
        assert len(set(zones_of(builder, part))) == 3
    # Ids are never reused.
    new_id = builder.add_dev(region=1, zone=1, ip="10.1.1.1", port=6200, device="d0", weight=1)
    assert new_id == 7


def test_zero_weight_drains_over_rebalances() -> None:
    builder = make_builder(3, 2, part_power=8, min_part_hours=1)
    builder.rebalance(seed=1, now=T0)
    builder.set_weight(0, 0)
    now = T0
    for _ in range(4):
        now += 2 * HOUR
        builder.rebalance(seed=1, now=now)
    assert builder.dev_parts()[0] == 0
    assert 0 in builder.devs  # still in the ring, with weight 0


def test_same_inputs_give_byte_identical_ring_files(tmp_path: Path) -> None:
    def build() -> RingBuilder:
        builder = make_builder(3, 3, part_power=10)
        builder.set_weight(4, 150)
        builder.rebalance(seed=42, now=T0)
        builder.add_dev(region=1, zone=2, ip="10.1.2.9", port=6200, device="x", weight=80)
        builder.rebalance(seed=7, now=T0 + 5 * HOUR)
        return builder

    first, second = build(), build()
    first.write_ring(tmp_path / "a.ring.gz")
    second.write_ring(tmp_path / "b.ring.gz")
    assert (tmp_path / "a.ring.gz").read_bytes() == (tmp_path / "b.ring.gz").read_bytes()

    # A reloaded builder rebalances exactly like the one that was saved.
    first.save(tmp_path / "a.builder")
    reloaded = RingBuilder.load(tmp_path / "a.builder")
    first.set_weight(0, 10)
    reloaded.set_weight(0, 10)
    first.rebalance(seed=9, now=T0 + 10 * HOUR)
    reloaded.rebalance(seed=9, now=T0 + 10 * HOUR)
    assert first.get_ring_data().to_bytes() == reloaded.get_ring_data().to_bytes()


def test_seed_changes_the_assignment() -> None:
    one, two = make_builder(3, 2), make_builder(3, 2)
    one.rebalance(seed=1, now=T0)
    two.rebalance(seed=2, now=T0)
    assert snapshot(one) != snapshot(two)


def test_builder_file_round_trip_is_versioned_and_atomic(tmp_path: Path) -> None:
    builder = make_builder(3, 2, part_power=6)
    builder.remove_dev(5)
    builder.rebalance(seed=1, now=T0)
    builder.remove_dev(4)
    path = tmp_path / "object.builder"
    builder.save(path)
    assert os.listdir(tmp_path) == ["object.builder"]  # no temp file left behind
    data = json.loads(path.read_text())
    assert data["format_version"] == 2
    loaded = RingBuilder.load(path)
    assert loaded.to_dict() == builder.to_dict()
    assert loaded.removed == {4}

    data["format_version"] = 3
    path.write_text(json.dumps(data))
    with pytest.raises(RingFormatError, match="version 3 is not supported"):
        RingBuilder.load(path)
    path.write_text("not json")
    with pytest.raises(RingFormatError, match="not a ring builder file"):
        RingBuilder.load(path)


def test_device_validation_and_search() -> None:
    builder = make_builder(2, 1)
    with pytest.raises(RingBuilderError, match="already in the ring"):
        builder.add_dev(region=1, zone=1, ip="10.1.1.1", port=6200, device="d0", weight=1)
    with pytest.raises(RingBuilderError, match="port"):
        builder.add_dev(region=1, zone=1, ip="10.1.1.1", port=0, device="d5", weight=1)
    with pytest.raises(RingBuilderError, match="weight"):
        builder.add_dev(region=1, zone=1, ip="10.1.1.1", port=1, device="d5", weight=-1)
    with pytest.raises(RingBuilderError, match="no device with id 99"):
        builder.set_weight(99, 1)
    with pytest.raises(RingBuilderError, match="no device"):
        builder.remove_dev(99)
    assert [dev.id for dev in builder.search_devs(zone=2)] == [1]
    assert [dev.id for dev in builder.search_devs(ip="10.1.1.1", device="d0")] == [0]


def test_rebalance_needs_weighted_devices() -> None:
    builder = RingBuilder(4, 3, 1)
    with pytest.raises(RingBuilderError, match="no devices"):
        builder.rebalance()
    with pytest.raises(RingBuilderError, match="rebalance first"):
        builder.get_ring_data()


def test_fewer_devices_than_replicas_still_places_everything() -> None:
    builder = make_builder(1, 2, part_power=4)
    builder.rebalance(seed=1, now=T0)
    assert all(-1 not in table for table in builder.replica2part2dev)


def test_regions_come_before_zones() -> None:
    builder = make_builder(2, 1, part_power=8, regions=2)
    builder.rebalance(seed=1, now=T0)
    for part in range(256):
        assert len({region for region, _ in zones_of(builder, part)}) == 2
    assert builder.dispersion()["zone"] == 0


def test_describe_lists_devices() -> None:
    builder = make_builder(3, 2, part_power=6)
    builder.rebalance(seed=1, now=T0)
    builder.remove_dev(2)
    text = builder.describe()
    assert "64 partitions, 3 replicas" in text
    assert "10.1.2.1:6200" in text
    assert "(removing)" in text
    assert "run `rebalance`" in text


def test_large_ring_is_reasonably_fast() -> None:
    builder = RingBuilder(16, 3, 1)
    for i in range(36):
        builder.add_dev(
            region=1,
            zone=i % 4,
            ip=f"10.0.{i % 4}.{i // 8}",
            port=6200,
            device=f"d{i}",
            weight=100,
        )
    start = time.perf_counter()
    builder.rebalance(seed=1, now=T0)
    builder.add_dev(region=1, zone=1, ip="10.9.9.9", port=6200, device="new", weight=100)
    moved, balance = builder.rebalance(seed=1, now=T0 + HOUR)
    assert time.perf_counter() - start < 10.0
    assert moved == pytest.approx(65536 * 3 / 37, rel=0.02)
    assert balance < 1.0


def test_a_new_zone_spreads_partitions_into_it() -> None:
    builder = make_builder(2, 3, part_power=8, min_part_hours=1)
    builder.rebalance(seed=1, now=T0)
    assert builder.dispersion()["zone"] == 256  # two zones: one always holds two replicas
    for dev in range(3):
        builder.add_dev(region=1, zone=3, ip="10.1.3.1", port=6200, device=f"d{dev}", weight=100)
    before = snapshot(builder)
    moved, _ = builder.rebalance(seed=1, now=T0 + 2 * HOUR)
    # Each partition moves exactly the one replica that doubled up a zone.
    assert moved == 256
    assert max(changed_per_part(before, snapshot(builder)).values()) == 1
    assert builder.dispersion()["zone"] == 0
    # Evening out the devices inside the old zones waits for min_part_hours.
    _, balance = builder.rebalance(seed=1, now=T0 + 4 * HOUR)
    assert balance < 1.0
    assert builder.dispersion()["zone"] == 0


def test_hours_advance_in_whole_hours_since_they_last_advanced() -> None:
    builder = make_builder(3, 2, part_power=8, min_part_hours=1)
    builder.rebalance(seed=1, now=T0)
    builder.add_dev(region=1, zone=1, ip="10.1.1.9", port=6200, device="d9", weight=100)
    assert builder.rebalance(seed=1, now=T0 + 59 * 60).parts_moved == 0
    assert builder.min_part_seconds_left(now=T0 + 59 * 60) == 60
    moved, _ = builder.rebalance(seed=1, now=T0 + HOUR)
    assert moved > 0
    assert int(builder.last_part_moves.max()) == 1  # the partitions that stayed
    assert int(builder.last_part_moves.min()) == 0  # the ones that just moved


def test_format_1_builder_files_are_still_read(tmp_path: Path) -> None:
    builder = make_builder(3, 2, part_power=6, min_part_hours=1)
    builder.rebalance(seed=1, now=T0)
    data = builder.to_dict()
    moved_at = [int(T0) - 3 * int(HOUR)] * 32 + [-1] * 32  # epoch seconds; -1: never moved
    data.update(
        format_version=1,
        replica2part2dev=[table.tolist() for table in builder.replica2part2dev],
        last_part_moves=moved_at,
    )
    del data["last_part_moves_epoch"]
    path = tmp_path / "old.builder"
    path.write_text(json.dumps(data))
    old = RingBuilder.load(path)
    assert snapshot(old) == snapshot(builder)
    assert old.last_part_moves.tolist() == [0] * 32 + [255] * 32
    assert old.get_ring_data().to_bytes() == builder.get_ring_data().to_bytes()
    old.save(path)
    assert json.loads(path.read_text())["format_version"] == 2


def test_a_ring_of_the_issue_size_moves_only_the_new_devices_share() -> None:
    # 2**16 partitions, 1,000 devices over 3 regions x 5 zones, then 100 more.
    weights = (100.0, 150.0, 200.0, 250.0)

    def add(builder: RingBuilder, index: int) -> None:
        region, zone = index % 3 + 1, (index // 3) % 5 + 1
        builder.add_dev(region=region, zone=zone, ip=f"10.{region}.{zone}.{index // 150}",
                        port=6200, device=f"d{index}", weight=weights[index % 4])

    builder = RingBuilder(16, 3, 1)
    for index in range(1000):
        add(builder, index)
    start = time.process_time()
    builder.rebalance(seed=1, now=T0)
    assert builder.dispersion()["over_limit"] == 0
    assert builder.dispersion()["zone"] == 0
    assert builder.balance() < 1.0
    before = builder.dev_parts()
    for index in range(1000, 1100):
        add(builder, index)
    moved, balance = builder.rebalance(seed=2, now=T0 + HOUR)
    assert time.process_time() - start < 20.0
    total = 65536 * 3
    ideal = sum(max(0.0, want - before.get(dev_id, 0))
                for dev_id, want in builder._weighted_ideal().items())
    assert abs(moved - ideal) / total < 0.005
    assert balance < 1.0
    assert builder.dispersion()["zone"] == 0
