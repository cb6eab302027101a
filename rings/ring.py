"""The runtime ring: a small, read-only map from names to storage-node devices.

The builder (:mod:`rings.builder`) writes a ring file offline; every proxy and
storage node loads it with :class:`Ring` and reloads it when the file changes.

Ring file format, version 1 (the whole file is gzip, written with ``mtime=0``
so that equal rings are equal bytes)::

    b"STRATARING"                 10 bytes, magic
    version                       2 bytes, big-endian unsigned (= 1)
    header length                 4 bytes, big-endian unsigned
    header                        JSON, UTF-8, sorted keys: devs, part_power,
                                  part_shift, partition_count, replica_count,
                                  typecode ("H" or "I"), byteorder ("little")
    replica tables                replica_count arrays of partition_count device
                                  ids, each ``typecode`` wide, little-endian

Devices carry only what the runtime needs: id, region, zone, ip, port,
device and weight.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import struct
import sys
import time
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from common.atomicfile import write_atomic
from rings.hashing import hash_path_digest, partition_of

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "DeviceInfo",
    "Node",
    "Ring",
    "RingData",
    "RingError",
    "RingFormatError",
]

log = logging.getLogger(__name__)

MAGIC = b"STRATARING"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct(">HI")  # version, header length
_DEVICE_KEYS = ("id", "region", "zone", "ip", "port", "device", "weight")


class RingError(Exception):
    """Base class for ring errors (domain errors: no HTTP here)."""


class RingFormatError(RingError):
    """A ring or builder file that cannot be read: wrong kind, version or corrupt."""


class DeviceInfo(TypedDict):
    """A device as the runtime sees it."""

    id: int
    region: int
    zone: int
    ip: str
    port: int
    device: str
    weight: float


class Node(DeviceInfo):
    """A device chosen for a partition.

    ``index`` is the replica number for a primary and ``replica_count + n``
    for the n-th handoff; ``handoff_index`` is None for primaries and n for
    handoffs.
    """

    index: int
    handoff_index: int | None


def _device_info(raw: Any) -> DeviceInfo:
    if not isinstance(raw, dict) or any(key not in raw for key in _DEVICE_KEYS):
        raise RingFormatError(f"ring device entry is malformed: {raw!r}")
    return DeviceInfo(
        id=int(raw["id"]),
        region=int(raw["region"]),
        zone=int(raw["zone"]),
        ip=str(raw["ip"]),
        port=int(raw["port"]),
        device=str(raw["device"]),
        weight=float(raw["weight"]),
    )


@dataclass
class RingData:
    """The content of a ring file: devices and the replica → partition → device table."""

    replica2part2dev: list[array[int]]
    devs: list[DeviceInfo]
    part_shift: int

    def __post_init__(self) -> None:
        if not 0 <= self.part_shift <= 32:
            raise RingFormatError(f"part_shift {self.part_shift} out of range")
        count = 1 << self.part_power
        ids = {dev["id"] for dev in self.devs}
        if len(ids) != len(self.devs):
            raise RingFormatError("ring has duplicate device ids")
        for table in self.replica2part2dev:
            if len(table) != count:
                raise RingFormatError(f"ring table has {len(table)} partitions, expected {count}")
            if table and not set(table) <= ids:
                raise RingFormatError("ring table names a device that is not in the ring")
        self.devs = sorted((_device_info(dev) for dev in self.devs), key=lambda dev: dev["id"])

    @property
    def part_power(self) -> int:
        return 32 - self.part_shift

    @property
    def replica_count(self) -> int:
        return len(self.replica2part2dev)

    @property
    def partition_count(self) -> int:
        return 1 << self.part_power

    # -- serialisation ---------------------------------------------------

    def to_bytes(self) -> bytes:
        """The ring file bytes: deterministic for equal content."""
        max_id = max((dev["id"] for dev in self.devs), default=0)
        typecode = "H" if max_id < 0xFFFF else "I"
        header = {
            "byteorder": "little",
            "devs": [dict(dev) for dev in self.devs],
            "part_power": self.part_power,
            "part_shift": self.part_shift,
            "partition_count": self.partition_count,
            "replica_count": self.replica_count,
            "typecode": typecode,
        }
        header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        raw = io.BytesIO()
        raw.write(MAGIC)
        raw.write(_PREAMBLE.pack(FORMAT_VERSION, len(header_bytes)))
        raw.write(header_bytes)
        for table in self.replica2part2dev:
            packed = array(typecode, table)
            if sys.byteorder != "little":
                packed.byteswap()
            raw.write(packed.tobytes())
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
            gz.write(raw.getvalue())
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RingData:
        """Parse ring file bytes, refusing unknown formats and versions."""
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise RingFormatError(f"not a ring file (not gzip data): {exc}") from None
        if not raw.startswith(MAGIC):
            raise RingFormatError("not a Strata ring file (bad magic bytes)")
        offset = len(MAGIC)
        if len(raw) < offset + _PREAMBLE.size:
            raise RingFormatError("ring file is truncated")
        version, header_len = _PREAMBLE.unpack_from(raw, offset)
        if version != FORMAT_VERSION:
            raise RingFormatError(
                f"ring file format version {version} is not supported "
                f"(this version of Strata reads version {FORMAT_VERSION})"
            )
        offset += _PREAMBLE.size
        try:
            header = json.loads(raw[offset : offset + header_len])
            typecode = header["typecode"]
            replica_count = int(header["replica_count"])
            part_shift = int(header["part_shift"])
            partition_count = int(header["partition_count"])
            devs = [_device_info(dev) for dev in header["devs"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise RingFormatError(f"ring file header is malformed: {exc}") from None
        if typecode not in ("H", "I") or header.get("byteorder") != "little":
            raise RingFormatError(f"ring file table encoding {typecode!r} is not supported")
        offset += header_len
        width = array(typecode).itemsize
        size = partition_count * width
        if len(raw) != offset + size * replica_count:
            raise RingFormatError("ring file is truncated or has trailing data")
        tables: list[array[int]] = []
        for _ in range(replica_count):
            table = array(typecode)
            table.frombytes(raw[offset : offset + size])
            if sys.byteorder != "little":
                table.byteswap()
            tables.append(table)
            offset += size
        return cls(replica2part2dev=tables, devs=devs, part_shift=part_shift)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ring file atomically."""
        write_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RingData:
        """Read a ring file (:class:`RingFormatError` if it is not a readable ring)."""
        with open(path, "rb") as fh:
            return cls.from_bytes(fh.read())


def _mix(part: int, dev_id: int) -> int:
    """A cheap, stable pseudo-random key (splitmix64) to spread handoffs over devices."""
    z = (part * 0x9E3779B97F4A7C15 + dev_id + 1) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


class Ring:
    """A loaded ring file, reloaded when the file changes.

    The file is checked (``stat``) at most every ``reload_interval`` seconds,
    on access; ``0`` checks on every access. A new file that cannot be read is
    logged and the ring keeps serving the one it has.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        hash_prefix: bytes = b"",
        hash_suffix: bytes = b"",
        reload_interval: float = 15.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.hash_prefix = hash_prefix
        self.hash_suffix = hash_suffix
        self.reload_interval = reload_interval
        self._clock = clock
        self._stamp: tuple[int, int, int] = (0, 0, 0)
        self._data = self._read()
        self._last_check = clock()

    # -- loading ---------------------------------------------------------

    def _read(self) -> RingData:
        with open(self.path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = RingData.from_bytes(fh.read())
        self._stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        self._install(data)
        return data

    def _install(self, data: RingData) -> None:
        self._data = data
        self._devs: dict[int, DeviceInfo] = {dev["id"]: dev for dev in data.devs}
        self._tables = data.replica2part2dev
        self._part_shift = data.part_shift

    def _maybe_reload(self) -> None:
        now = self._clock()
        if self.reload_interval > 0 and now - self._last_check < self.reload_interval:
            return
        self._last_check = now
        try:
            st = os.stat(self.path)
        except OSError as exc:
            log.warning("ring %s: cannot stat (%s); keeping the loaded ring", self.path, exc)
            return
        if (st.st_mtime_ns, st.st_ino, st.st_size) == self._stamp:
            return
        try:
            self._read()
        except (OSError, RingError) as exc:
            log.warning("ring %s: cannot reload (%s); keeping the loaded ring", self.path, exc)
            self._stamp = (st.st_mtime_ns, st.st_ino, st.st_size)  # retry when it changes again
        else:
            log.info("ring %s reloaded", self.path)

    def reload(self) -> None:
        """Re-read the file now."""
        self._read()
        self._last_check = self._clock()

    # -- properties ------------------------------------------------------

    @property
    def devices(self) -> list[DeviceInfo]:
        self._maybe_reload()
        return [DeviceInfo(**dev) for dev in self._data.devs]

    @property
    def replica_count(self) -> int:
        self._maybe_reload()
        return self._data.replica_count

    @property
    def partition_count(self) -> int:
        self._maybe_reload()
        return self._data.partition_count

    @property
    def part_power(self) -> int:
        self._maybe_reload()
        return self._data.part_power

    # -- lookups ---------------------------------------------------------

    def get_part(self, account: str, container: str | None = None, obj: str | None = None) -> int:
        """The partition of an account, container or object name."""
        self._maybe_reload()
        digest = hash_path_digest(
            account, container, obj, hash_prefix=self.hash_prefix, hash_suffix=self.hash_suffix
        )
        return partition_of(digest, 32 - self._part_shift)

    def _primary_ids(self, part: int) -> list[int]:
        if not 0 <= part < len(self._tables[0] if self._tables else ()):
            raise IndexError(f"partition {part} is out of range")
        seen: list[int] = []
        for table in self._tables:
            dev_id = table[part]
            if dev_id not in seen:
                seen.append(dev_id)
        return seen

    def get_part_nodes(self, part: int) -> list[Node]:
        """The primary devices of a partition, ``index`` = replica number."""
        self._maybe_reload()
        return [
            Node(**self._devs[dev_id], index=index, handoff_index=None)
            for index, dev_id in enumerate(self._primary_ids(part))
        ]

    def get_nodes(
        self, account: str, container: str | None = None, obj: str | None = None
    ) -> tuple[int, list[Node]]:
        """``(partition, primary nodes)`` of a name."""
        part = self.get_part(account, container, obj)
        return part, self.get_part_nodes(part)

    def get_more_nodes(self, part: int) -> Iterator[Node]:
        """Handoff devices for a partition, in a fixed order; never a primary.

        Every non-primary device is yielded once. Each step prefers a device
        in a region not used yet (by primaries or earlier handoffs), then a
        zone not used, then a host not used, then any; ties go by a stable
        per-partition pseudo-random order so that handoff load spreads out.
        Devices with weight 0 come after all others.
        """
        self._maybe_reload()
        devs = self._devs
        primaries = self._primary_ids(part)
        replica_count = len(self._tables)
        used_regions = {devs[i]["region"] for i in primaries}
        used_zones = {(devs[i]["region"], devs[i]["zone"]) for i in primaries}
        used_hosts = {(devs[i]["region"], devs[i]["zone"], devs[i]["ip"]) for i in primaries}
        primary_set = set(primaries)
        others = sorted(
            (dev for dev_id, dev in devs.items() if dev_id not in primary_set),
            key=lambda dev: _mix(part, dev["id"]),
        )
        groups: Sequence[list[DeviceInfo]] = (
            [dev for dev in others if dev["weight"] > 0],
            [dev for dev in others if dev["weight"] <= 0],
        )
        handoff = 0
        for group in groups:
            while group:
                pick = self._best_handoff(group, used_regions, used_zones, used_hosts)
                dev = group.pop(pick)
                used_regions.add(dev["region"])
                used_zones.add((dev["region"], dev["zone"]))
                used_hosts.add((dev["region"], dev["zone"], dev["ip"]))
                yield Node(**dev, index=replica_count + handoff, handoff_index=handoff)
                handoff += 1

    @staticmethod
    def _best_handoff(
        group: list[DeviceInfo],
        used_regions: set[int],
        used_zones: set[tuple[int, int]],
        used_hosts: set[tuple[int, int, str]],
    ) -> int:
        zone_pick = host_pick = -1
        for pos, dev in enumerate(group):
            if dev["region"] not in used_regions:
                return pos
            if zone_pick < 0 and (dev["region"], dev["zone"]) not in used_zones:
                zone_pick = pos
            elif host_pick < 0 and (dev["region"], dev["zone"], dev["ip"]) not in used_hosts:
                host_pick = pos
        if zone_pick >= 0:
            return zone_pick
        if host_pick >= 0:
            return host_pick
        return 0
