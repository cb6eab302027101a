"""The tier tree the builder places replicas with: region → zone → host → device.

For each tier node the tree knows

* ``max_per_part``: how many replicas of one partition the node may hold
  and still be "as dispersed as possible": the root holds all replicas, a
  child may hold ``ceil(parent's max / number of children)``;
* ``wanted``: how many replicas of an average partition it should hold:
  the parent's share split by weight, capped by ``max_per_part`` (the
  excess flows to the siblings — water-filling).

:meth:`TierTree.choose` walks down from the root picking, at each level,
the child holding the fewest replicas of the partition, then the one that
wants the most partition-replicas; this is the whole placement policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["TierTree", "Wants", "build_tree", "largest_remainder", "water_fill"]

NONE_DEV = -1


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


def largest_remainder(targets: dict[int, float], total: int) -> dict[int, int]:
    """Round ``targets`` to integers that sum to ``total`` (ties go to the lower key)."""
    floors = {key: math.floor(value) for key, value in targets.items()}
    left = total - sum(floors.values())
    by_fraction = sorted(targets, key=lambda key: (-(targets[key] - floors[key]), key))
    for key in by_fraction[: max(0, left)]:
        floors[key] += 1
    return floors


class TierTree:
    """Tier nodes in flat lists, indexed by node number; node 0 is the root."""

    def __init__(self) -> None:
        self.children: list[list[int]] = [[]]
        self.level: list[int] = [0]
        self.weight: list[float] = [0.0]
        self.max_per_part: list[int] = [0]
        self.wanted: list[float] = [0.0]
        self.path: list[tuple[int, ...]] = [(0,)]  # root..node, inclusive
        self.key_node: dict[tuple[object, ...], int] = {}
        self.node_dev: dict[int, int] = {}  # leaf node -> device id
        self.dev_node: dict[int, int] = {}  # active device id -> leaf node
        self.dev_path: dict[int, tuple[int, ...]] = {}  # any device -> tier nodes it sits in

    def _node(self, key: tuple[object, ...], parent: int) -> int:
        node = self.key_node.get(key)
        if node is None:
            node = len(self.children)
            self.key_node[key] = node
            self.children.append([])
            self.children[parent].append(node)
            self.level.append(len(key))
            self.weight.append(0.0)
            self.max_per_part.append(0)
            self.wanted.append(0.0)
            self.path.append((*self.path[parent], node))
        return node

    # -- targets ---------------------------------------------------------

    def quotas(self, parts: int) -> dict[int, int]:
        """Integer partition-replicas per active device, rounded tier by tier.

        Rounding top-down keeps every tier's total an integer that agrees with
        its devices, so a zone that must hold one replica of every partition
        gets exactly ``parts``.
        """
        result: dict[int, int] = {}
        stack = [(0, round(self.wanted[0] * parts))]
        while stack:
            node, amount = stack.pop()
            kids = self.children[node]
            if not kids:
                result[self.node_dev[node]] = amount
                continue
            share = self.wanted[node]
            targets = {kid: (amount * self.wanted[kid] / share if share else 0.0) for kid in kids}
            for kid, value in largest_remainder(targets, amount).items():
                stack.append((kid, value))
        return result

    def want_from(self, quotas: dict[int, int], counts: dict[int, int]) -> list[int]:
        """Per node: partition-replicas still wanted (negative when over quota)."""
        want = [0] * len(self.children)
        for dev_id, node in self.dev_node.items():
            gap = quotas.get(dev_id, 0) - counts.get(dev_id, 0)
            for tier_node in self.path[node]:
                want[tier_node] += gap
        return want

    # -- placement -------------------------------------------------------

    def _used(self, row: Iterable[int]) -> dict[int, int]:
        used: dict[int, int] = {}
        dev_path = self.dev_path
        for dev_id in row:
            if dev_id != NONE_DEV:
                for node in dev_path.get(dev_id, ()):
                    used[node] = used.get(node, 0) + 1
        return used

    def choose(self, row: Sequence[int], want: Sequence[int], start: int = 0) -> int:
        """The device for one more replica of a partition whose devices are ``row``.

        ``start`` limits the choice to the devices under one tier node.
        """
        used = self._used(row)
        children = self.children
        node = start
        kids = children[start]
        while kids:
            best = kids[0]
            if len(kids) > 1:
                best_used = used.get(best, 0)
                best_want = want[best]
                for kid in kids:
                    kid_used = used.get(kid, 0)
                    if kid_used < best_used or (kid_used == best_used and want[kid] > best_want):
                        best, best_used, best_want = kid, kid_used, want[kid]
            node = best
            kids = children[node]
        return self.node_dev[node]

    def misplaced_replicas(self, row: Sequence[int], *, short: bool = True) -> list[int]:
        """Replicas of a partition that break the plan, any one of which should move.

        Checked tier level by tier level from regions down; at the first
        level with a problem: a node holding more than ``max_per_part``
        ("crowded") gives up one of its replicas; with ``short``, a node
        holding fewer than ``floor(wanted)`` (a zone every partition must
        use, say) is made room for by the sibling holding the most above what
        it wants.
        """
        used = self._used(row)
        if not used:
            return []
        level = self.level
        depth = max(self.level)
        for tier_level in range(1, depth + 1):
            worst_node, worst_over = -1, 0
            for node, count in used.items():
                if level[node] == tier_level and count - self.max_per_part[node] > worst_over:
                    worst_node, worst_over = node, count - self.max_per_part[node]
            if worst_node >= 0:
                donors = {worst_node}
            elif short:
                donors = self._donors_for_short_node(tier_level, used)
            else:
                donors = set()
            if donors:
                return [
                    replica
                    for replica, dev_id in enumerate(row)
                    if dev_id != NONE_DEV and donors.intersection(self.dev_path.get(dev_id, ()))
                ]
        return []

    def _donors_for_short_node(self, tier_level: int, used: dict[int, int]) -> set[int]:
        """Nodes at ``tier_level`` holding more than they want, beside one holding too few."""
        wanted = self.wanted
        for parent, kids in enumerate(self.children):
            if self.level[parent] != tier_level - 1 or (parent and parent not in used):
                continue
            if not any(used.get(kid, 0) < math.floor(wanted[kid] + 1e-9) for kid in kids):
                continue
            donors = {kid for kid in kids if used.get(kid, 0) - wanted[kid] > 1e-9}
            if donors:
                return donors
        return set()


def build_tree(active: Sequence[_Dev], every: Iterable[_Dev], replicas: int) -> TierTree:
    """The tier tree of the ``active`` devices (weight > 0, not being removed).

    ``every`` device (active or not) gets a ``dev_path`` through whichever
    of its tier nodes exist, so replicas on inactive devices still count
    when judging dispersion.
    """
    tree = TierTree()
    for dev in sorted(active, key=lambda d: (d.region, d.zone, d.ip, d.id)):
        region = tree._node((dev.region,), 0)
        zone = tree._node((dev.region, dev.zone), region)
        host = tree._node((dev.region, dev.zone, dev.ip), zone)
        leaf = tree._node((dev.region, dev.zone, dev.ip, dev.id), host)
        tree.node_dev[leaf] = dev.id
        tree.dev_node[dev.id] = leaf
        for node in tree.path[leaf]:
            tree.weight[node] += dev.weight
    for dev in every:
        keys = [
            (dev.region,),
            (dev.region, dev.zone),
            (dev.region, dev.zone, dev.ip),
            (dev.region, dev.zone, dev.ip, dev.id),
        ]
        tree.dev_path[dev.id] = tuple(tree.key_node[k] for k in keys if k in tree.key_node)
    # Top-down: how many replicas of one partition each node may hold, and wants.
    tree.max_per_part[0] = replicas
    tree.wanted[0] = float(replicas)
    stack = [0]
    while stack:
        node = stack.pop()
        kids = tree.children[node]
        if not kids:
            continue
        cap = math.ceil(tree.max_per_part[node] / len(kids))
        shares = water_fill(
            tree.wanted[node], [tree.weight[k] for k in kids], [float(cap)] * len(kids)
        )
        for kid, share in zip(kids, shares, strict=True):
            tree.max_per_part[kid] = cap
            tree.wanted[kid] = share
            stack.append(kid)
    return tree


class Wants:
    """Partition-replicas each tier node still wants (negative: holds too many).

    ``over`` is the total held above quota, summed over every tier node; a
    rebalance is done when it is 0.
    """

    def __init__(self, tree: TierTree, quotas: dict[int, int], counts: dict[int, int]) -> None:
        self.tree = tree
        self.want = tree.want_from(quotas, counts)
        self.over = sum(-w for w in self.want if w < 0)

    def add(self, dev_id: int, delta: int) -> None:
        """``delta`` more replicas wanted on ``dev_id`` (and its tiers); -1 = one placed."""
        leaf = self.tree.dev_node.get(dev_id)
        if leaf is None:
            return
        want = self.want
        for node in self.tree.path[leaf]:
            old = want[node]
            new = want[node] = old + delta
            if old < 0 or new < 0:
                self.over += max(0, -new) - max(0, -old)

    def device_over(self, dev_id: int) -> bool:
        """Whether the device itself is above its quota (always, for weight 0)."""
        leaf = self.tree.dev_node.get(dev_id)
        return leaf is None or self.want[leaf] < 0

    def holds_too_many(self, dev_id: int) -> bool:
        """Whether the device or one of its tiers is above its quota."""
        leaf = self.tree.dev_node.get(dev_id)
        if leaf is None:
            return True  # weight 0: everything it holds is too many
        want = self.want
        return any(want[node] < 0 for node in self.tree.path[leaf])

    def move_helps(self, src: int, dst: int) -> bool:
        """Whether moving a replica from ``src`` (already taken off) to ``dst`` helps.

        Compare, tier level by tier level from regions down, how far the
        nodes are from their quotas; the first level that changes must get
        closer. Moves that help always end (the distance only shrinks), and
        a higher tier is never made worse to fix a lower one.
        """
        tree = self.tree
        src_leaf = tree.dev_node.get(src)
        if src_leaf is None:
            return True
        want = self.want
        src_path = tree.path[src_leaf]
        dst_path = tree.path[tree.dev_node[dst]]
        for src_node, dst_node in zip(src_path, dst_path, strict=True):
            if src_node == dst_node:
                continue
            ws, wd = want[src_node], want[dst_node]
            # src: was ws - 1 (before it was taken off), is ws; dst: is wd, becomes wd - 1.
            change = abs(ws) - abs(ws - 1) + abs(wd - 1) - abs(wd)
            if change:
                return change < 0
        return False
