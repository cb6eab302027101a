"""The tier topology the builder places replicas with: region → zone → host → device.

Level 0 is the root, levels 1-4 are regions, zones, hosts (ip) and devices.
Nodes of one level are numbered in key order, so the children of a node are
a contiguous run of the next level (``first_child``), and the device level's
node numbers are the builder's *dense* device indexes.

For each node the topology knows

* ``cap``: how many replicas of one partition it may hold and still be "as
  dispersed as possible": the root holds all replicas, a child may hold
  ``ceil(parent's cap / number of children with weight)``;
* ``wanted``: how many replicas of an average partition it should hold:
  the parent's share split by weight, no child above its cap (the excess
  flows to the siblings: water-filling). Dispersion wins over weight.
* ``limit`` and ``floor``: ``ceil`` and ``floor`` of ``wanted``: the most
  and the fewest replicas of any one partition it should hold;
* ``quota``: the whole number of partition-replicas it should hold, rounded
  tier by tier so that every tier's total agrees with its children's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["LEVELS", "TIERS", "Topology", "largest_remainder", "water_fill"]

LEVELS = 4
TIERS = ("region", "zone", "host", "device")
_EPS = 1e-9

IntArray = npt.NDArray[np.int64]


class _Dev(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def region(self) -> int: ...
    @property
    def zone(self) -> int: ...
    @property
    def ip(self) -> str: ...
    @property
    def weight(self) -> float: ...


def water_fill(total: float, weights: Sequence[float], caps: Sequence[float]) -> list[float]:
    """Split ``total`` in proportion to ``weights``, no share above its cap."""
    alloc = [0.0] * len(weights)
    free = [i for i, w in enumerate(weights) if w > 0]
    remaining = total
    while free and remaining > 1e-12:
        wsum = sum(weights[i] for i in free)
        over = [i for i in free if remaining * weights[i] / wsum > caps[i]]
        if not over:
            for i in free:
                alloc[i] = remaining * weights[i] / wsum
            break
        for i in over:
            alloc[i] = float(caps[i])
            remaining -= caps[i]
        free = [i for i in free if i not in over]
    return alloc


def largest_remainder(
    targets: Sequence[float], total: int, ideals: Sequence[float] | None = None
) -> list[int]:
    """Round ``targets`` to whole numbers that sum to ``total``.

    Each is rounded down or up; the ones rounded up are those that rounding
    down would leave furthest, relative to ``ideals`` (the targets
    themselves when not given), from their ideal: so the worst relative
    error, the ring's balance, stays as small as it can. Ties go to the
    lower index.
    """
    ideals = targets if ideals is None else ideals
    floors = [math.floor(t + _EPS) for t in targets]
    left = total - sum(floors)

    def gain(i: int) -> float:
        ideal = ideals[i] or 1.0
        return (abs(ideal - floors[i]) - abs(floors[i] + 1 - ideal)) / ideal

    ranked = sorted(range(len(targets)), key=lambda i: (-gain(i), i))
    for i in ranked[: max(0, left)]:
        floors[i] += 1
    for i in ranked[::-1][: max(0, -left)]:  # float dust: floors summed above the total
        floors[i] -= 1
    return floors


class Topology:
    """Tier nodes as numpy arrays, level by level (see the module docstring)."""

    def __init__(self, devs: Sequence[_Dev], active: set[int], replicas: int, parts: int) -> None:
        order = sorted(devs, key=lambda d: (d.region, d.zone, d.ip, d.id))
        self.replicas = replicas
        self.parts = parts
        self.dev_ids: IntArray = np.array([d.id for d in order], dtype=np.int64)
        size = (max((d.id for d in order), default=-1)) + 1
        self.dense: IntArray = np.full(size, -1, dtype=np.int64)
        self.dense[self.dev_ids] = np.arange(len(order))
        weight = np.array([d.weight if d.id in active else 0.0 for d in order], dtype=float)
        self.active = weight > 0
        # node[L][dense device] for L = 0..4, and the parent of each node of level L.
        keys: list[tuple[object, ...]] = [(d.region, d.zone, d.ip, d.id) for d in order]
        self.node: list[IntArray] = [np.zeros(len(order), dtype=np.int64)]
        self.parent: list[IntArray] = [np.zeros(1, dtype=np.int64)]
        for level in range(1, LEVELS + 1):
            ids = np.zeros(len(order), dtype=np.int64)
            parents: list[int] = []
            last: tuple[object, ...] | None = None
            for i, key in enumerate(keys):
                if key[:level] != last:
                    last = key[:level]
                    parents.append(int(self.node[level - 1][i]))
                ids[i] = len(parents) - 1
            self.node.append(ids)
            self.parent.append(np.array(parents, dtype=np.int64))
        self.count = [len(p) for p in self.parent]  # nodes per level
        # first_child[L][n]: the children of node n (level L-1) are first_child[L][n]..[n+1]-1.
        self.first_child: list[IntArray] = [np.zeros(2, dtype=np.int64)]
        for level in range(1, LEVELS + 1):
            per_parent = np.bincount(self.parent[level], minlength=self.count[level - 1])
            self.first_child.append(np.concatenate(([0], np.cumsum(per_parent))))
        self.weight = [
            np.bincount(self.node[level], weights=weight, minlength=self.count[level])
            for level in range(LEVELS + 1)
        ]
        self._plan()

    def children(self, level: int, node: int) -> range:
        """The nodes of ``level`` under ``node`` (of level - 1)."""
        first = self.first_child[level]
        return range(int(first[node]), int(first[node + 1]))

    def _plan(self) -> None:
        total = float(self.parts * self.replicas)
        all_weight = float(self.weight[0][0])
        self.cap = [np.array([self.replicas], dtype=np.int64)]
        self.wanted = [np.array([float(self.replicas)])]
        self.quota = [np.array([self.parts * self.replicas if all_weight else 0], dtype=np.int64)]
        for level in range(1, LEVELS + 1):
            n = self.count[level]
            cap = np.zeros(n, dtype=np.int64)
            wanted = np.zeros(n)
            quota = np.zeros(n, dtype=np.int64)
            weights = self.weight[level]
            for parent in range(self.count[level - 1]):
                kids = self.children(level, parent)
                kid_weights = [float(weights[k]) for k in kids]
                weighted = sum(1 for w in kid_weights if w > 0)
                kid_cap = math.ceil(self.cap[level - 1][parent] / weighted) if weighted else 0
                for k, w in zip(kids, kid_weights, strict=True):
                    cap[k] = kid_cap if w > 0 else self.cap[level - 1][parent]
                shares = water_fill(
                    float(self.wanted[level - 1][parent]), kid_weights, [float(kid_cap)] * len(kids)
                )
                wanted[kids.start : kids.stop] = shares
                share = float(self.wanted[level - 1][parent])
                amount = int(self.quota[level - 1][parent])
                targets = [amount * s / share if share else 0.0 for s in shares]
                ideals = [total * w / all_weight if all_weight else 0.0 for w in kid_weights]
                quota[kids.start : kids.stop] = largest_remainder(targets, amount, ideals)
            self.cap.append(cap)
            self.wanted.append(wanted)
            self.quota.append(quota)
        self.limit = [np.ceil(w - _EPS).astype(np.int64) for w in self.wanted]
        self.floor = [np.floor(w + _EPS).astype(np.int64) for w in self.wanted]
        # A device that must not hold anything has limit 0: its replicas are misplaced.
        for level in range(1, LEVELS + 1):
            self.limit[level][self.weight[level] <= 0] = 0
