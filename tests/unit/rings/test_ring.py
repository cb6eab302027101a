from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import pytest

from rings.builder import RingBuilder
from rings.ring import MAGIC, Ring, RingData, RingFormatError
from tests.unit.rings.helpers import T0, make_builder

PREFIX, SUFFIX = b"startsecret", b"endsecret"


def _ring_file(tmp_path: Path, builder: RingBuilder, name: str = "object.ring.gz") -> Path:
    path = tmp_path / name
    builder.write_ring(path)
    return path


@pytest.fixture
def four_zone_ring(tmp_path: Path) -> Path:
    builder = make_builder(4, 2, part_power=8)
    builder.add_dev(region=1, zone=1, ip="10.1.1.2", port=6200, device="d0", weight=100)
    builder.rebalance(seed=1, now=T0)
    return _ring_file(tmp_path, builder)


def test_ring_data_round_trip(tmp_path: Path) -> None:
    builder = make_builder(3, 2, part_power=6)
    builder.rebalance(seed=1, now=T0)
    data = builder.get_ring_data()
    path = tmp_path / "r.ring.gz"
    data.save(path)
    loaded = RingData.load(path)
    assert loaded.part_power == 6
    assert loaded.part_shift == 26
    assert loaded.replica_count == 3
    assert loaded.partition_count == 64
    assert loaded.devs == data.devs
    assert [t.tolist() for t in loaded.replica2part2dev] == [
        t.tolist() for t in builder.replica2part2dev
    ]
    assert set(loaded.devs[0]) == {"id", "region", "zone", "ip", "port", "device", "weight"}
    assert loaded.replica2part2dev[0].typecode == "H"
    assert loaded.to_bytes() == path.read_bytes()


def _raw_ring(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def test_unknown_versions_and_other_files_are_refused(four_zone_ring: Path) -> None:
    raw = _raw_ring(four_zone_ring)
    newer = raw[: len(MAGIC)] + struct.pack(">H", 2) + raw[len(MAGIC) + 2 :]
    with pytest.raises(RingFormatError, match="version 2 is not supported"):
        RingData.from_bytes(gzip.compress(newer))
    with pytest.raises(RingFormatError, match="magic"):
        RingData.from_bytes(gzip.compress(b"SOMETHING ELSE" + raw))
    with pytest.raises(RingFormatError, match="not gzip"):
        RingData.from_bytes(b"plain text")
    with pytest.raises(RingFormatError, match="truncated"):
        RingData.from_bytes(gzip.compress(raw[:-1]))


def test_get_part_matches_an_independent_md5(four_zone_ring: Path) -> None:
    ring = Ring(four_zone_ring, PREFIX, SUFFIX)
    for account, container, obj, path in [
        ("AUTH_test", None, None, b"/AUTH_test"),
        ("AUTH_test", "photos", None, b"/AUTH_test/photos"),
        ("AUTH_test", "photos", "cat.jpg", b"/AUTH_test/photos/cat.jpg"),
        ("AUTH_test", "fötos", "ü/x", "/AUTH_test/fötos/ü/x".encode()),
    ]:
        digest = hashlib.md5(PREFIX + path + SUFFIX).digest()
        expected = struct.unpack(">I", digest[:4])[0] >> (32 - 8)
        assert ring.get_part(account, container, obj) == expected
    assert ring.partition_count == 256
    assert ring.replica_count == 3
    assert len(ring.devices) == 9


def test_primary_nodes(four_zone_ring: Path) -> None:
    ring = Ring(four_zone_ring, PREFIX, SUFFIX)
    part, nodes = ring.get_nodes("AUTH_test", "c", "o")
    assert nodes == ring.get_part_nodes(part)
    assert [node["index"] for node in nodes] == [0, 1, 2]
    assert all(node["handoff_index"] is None for node in nodes)
    assert len({node["zone"] for node in nodes}) == 3
    assert {"id", "region", "zone", "ip", "port", "device", "weight"} <= set(nodes[0])
    with pytest.raises(IndexError):
        ring.get_part_nodes(256)


def test_handoffs_skip_primaries_cover_the_rest_and_prefer_new_zones(
    four_zone_ring: Path,
) -> None:
    ring = Ring(four_zone_ring, PREFIX, SUFFIX)
    all_ids = {dev["id"] for dev in ring.devices}
    for part in range(ring.partition_count):
        primaries = ring.get_part_nodes(part)
        primary_ids = {node["id"] for node in primaries}
        handoffs = list(ring.get_more_nodes(part))
        ids = [node["id"] for node in handoffs]
        assert len(ids) == len(set(ids))
        assert set(ids) == all_ids - primary_ids
        # The one zone that holds no primary comes first.
        used = {node["zone"] for node in primaries}
        assert handoffs[0]["zone"] not in used
        assert [node["handoff_index"] for node in handoffs] == list(range(len(handoffs)))
        assert handoffs[0]["index"] == 3
        assert ids == [node["id"] for node in ring.get_more_nodes(part)]  # stable


def test_handoffs_prefer_unused_hosts_before_used_ones(tmp_path: Path) -> None:
    builder = RingBuilder(6, 2, 1)
    for zone in (1, 2):
        for host in (1, 2):
            for dev in range(2):
                builder.add_dev(
                    region=1,
                    zone=zone,
                    ip=f"10.0.{zone}.{host}",
                    port=6200,
                    device=f"d{dev}",
                    weight=100,
                )
    builder.rebalance(seed=1, now=T0)
    ring = Ring(_ring_file(tmp_path, builder), PREFIX, SUFFIX)
    for part in range(64):
        used_hosts = {node["ip"] for node in ring.get_part_nodes(part)}
        handoffs = list(ring.get_more_nodes(part))
        hosts = [node["ip"] for node in handoffs]
        # Each step prefers a host nobody (primary or earlier handoff) uses:
        # the two hosts without a primary give the first two handoffs.
        assert len(used_hosts) == 2
        assert set(hosts[:2]) == {"10.0.1.1", "10.0.1.2", "10.0.2.1", "10.0.2.2"} - used_hosts


def test_ring_reloads_when_the_file_changes(tmp_path: Path) -> None:
    builder = make_builder(3, 2, part_power=6)
    builder.rebalance(seed=1, now=T0)
    path = _ring_file(tmp_path, builder)
    ring = Ring(path, PREFIX, SUFFIX, reload_interval=0)
    assert len(ring.devices) == 6
    builder.add_dev(region=1, zone=4, ip="10.1.4.1", port=6200, device="d0", weight=100)
    builder.rebalance(seed=1, now=T0 + 1)
    builder.write_ring(path)
    assert len(ring.devices) == 7
    part = ring.get_part("a", "c", "o")
    assert [n["id"] for n in ring.get_part_nodes(part)] == [
        t[part] for t in builder.replica2part2dev
    ]


def test_ring_checks_the_file_at_most_every_interval(tmp_path: Path) -> None:
    now = [100.0]
    builder = make_builder(3, 2, part_power=6)
    builder.rebalance(seed=1, now=T0)
    path = _ring_file(tmp_path, builder)
    ring = Ring(path, PREFIX, SUFFIX, reload_interval=15, clock=lambda: now[0])
    builder.add_dev(region=1, zone=4, ip="10.1.4.1", port=6200, device="d0", weight=100)
    builder.rebalance(seed=1, now=T0 + 1)
    builder.write_ring(path)
    now[0] += 10
    assert len(ring.devices) == 6  # not checked yet
    now[0] += 6
    assert len(ring.devices) == 7


def test_a_broken_new_file_keeps_the_old_ring(tmp_path: Path) -> None:
    builder = make_builder(3, 2, part_power=6)
    builder.rebalance(seed=1, now=T0)
    path = _ring_file(tmp_path, builder)
    ring = Ring(path, PREFIX, SUFFIX, reload_interval=0)
    path.write_bytes(b"garbage")
    assert len(ring.devices) == 6
    with pytest.raises(RingFormatError):
        Ring(path)
