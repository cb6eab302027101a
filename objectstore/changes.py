"""What changed on this node and which peers have not had it yet.

The replicators do not walk every database and partition each pass: the
servers mark what a client write changed (a container or account DB's path, an
object partition's directory), and a replicator's pass takes only what is
marked, pushes it to each peer, and forgets a mark once every peer it belongs to
took the change. A peer that failed is tried again the next pass, and one that
succeeded is not asked again for the same change. What replication itself
merges in is not marked: the node that took the client's write pushes it to
every peer.

The marks live in memory. A restarted node forgets them, so each replicator's
first pass is a *sweep* of everything, as is one every ``*_sweep_interval``
seconds: the sweep finds what no mark names (a replica lost on a peer, a
write whose mark was lost in a crash) and does the slow housekeeping
(reclaiming old tombstones).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class Mark:
    """One changed item: the change's generation and the peers that have it."""

    generation: int
    reached: set[str] = field(default_factory=set)


@dataclass
class Changes(Generic[K]):
    """The items changed on this node, each with the peers that already took it."""

    _marks: dict[K, Mark] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def mark(self, key: K) -> None:
        """``key`` changed: every peer must have it again."""
        self._marks[key] = Mark(next(self._counter))

    def pending(self) -> list[tuple[K, Mark]]:
        """What is marked now, with a copy of each mark (the key may change meanwhile)."""
        return [(k, Mark(m.generation, set(m.reached))) for k, m in self._marks.items()]

    def generation(self, key: K) -> int | None:
        mark = self._marks.get(key)
        return None if mark is None else mark.generation

    def reached(self, key: K, generation: int, peers: set[str], wanted: set[str]) -> None:
        """``peers`` took change ``generation`` of ``key``; the mark goes once every peer
        in ``wanted`` has. A newer change of ``key`` meanwhile keeps its own mark."""
        mark = self._marks.get(key)
        if mark is None or mark.generation != generation:
            return
        mark.reached |= peers
        if wanted <= mark.reached:
            del self._marks[key]

    def drop(self, key: K) -> None:
        """``key`` is gone here (a removed DB, a drained handoff)."""
        self._marks.pop(key, None)

    def __len__(self) -> int:
        return len(self._marks)


@dataclass
class Sweeps:
    """When a replicator's next full sweep is due: its first pass, then every
    ``interval`` seconds (0 or less: every pass, as before change tracking)."""

    interval: float
    _last: float | None = None

    def due(self) -> bool:
        return self._last is None or self.interval <= 0 or \
            time.monotonic() - self._last >= self.interval

    def started(self) -> None:
        self._last = time.monotonic()


def peer_key(ip: str, port: int, device: str) -> str:
    """How a peer device is named in :class:`Changes`."""
    return f"{ip}:{port}/{device}"
