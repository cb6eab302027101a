"""The rebalance engine: gather replicas that must move, then fill, a tier at a time.

It works on the whole table at once with numpy (a ring of 2**20 partitions
and thousands of devices rebalances in seconds), tier level by tier level
from regions down to devices. At each level:

1. *dispersion*: a movable partition that holds more replicas in a node
   than the node's ``limit`` (or fewer than its ``floor``, when a sibling
   holds more than it wants) gives up one of them;
2. *balance*: a node holding more than its quota gives up the excess,
   taken from its devices that hold more than theirs (so that what moves
   is what must move) and only as far as its siblings have room;
3. *fill*: the replicas given up (and those never placed, or on removed
   devices) go to the children of the node they are in that hold less than
   their quota, never to a node already holding ``limit`` replicas of the
   partition. Children take consecutive runs of a per-node pseudo-random
   order of the partitions, layer by layer, which spreads a partition's
   replicas over different children. What finds no place in a few rounds
   goes back where it came from if it may, else to the child that holds the
   fewest replicas of its partition.

Only partitions marked ``free`` (moved long enough ago, not moved yet in this
rebalance) give anything up, and each gives at most one replica; the caller
unplaces the replicas on removed devices beforehand (and marks partitions
with an unplaced replica not free: they have moved already). The
passes repeat (at most :data:`PASSES`) while they still move something and
devices are off their quotas.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from rings.placement import LEVELS, Topology

__all__ = ["PASSES", "Rebalancer"]

PASSES = 3
ROUNDS = 6
_M1, _M2, _GOLD = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0x9E3779B97F4A7C15

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def _mix(values: I64, salt: int) -> I64:
    """A stable pseudo-random 62-bit key per value (splitmix64 of value + salt)."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) * np.uint64(_GOLD) + np.uint64(salt)
        z ^= z >> np.uint64(30)
        z *= np.uint64(_M1)
        z ^= z >> np.uint64(27)
        z *= np.uint64(_M2)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(2)).astype(np.int64)


def _rank_in_group(groups: I64) -> I64:
    """For each element, how many before it (in array order) share its group."""
    if groups.size == 0:
        return groups.copy()
    order = np.argsort(groups, kind="stable")
    ordered = groups[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    run = np.repeat(starts, np.diff(np.concatenate((starts, [ordered.size]))))
    rank = np.empty_like(order)
    rank[order] = np.arange(ordered.size) - run
    return rank


def _ext(values: npt.NDArray[np.int64], pad: int) -> I64:
    """``values`` with one more element, so that index -1 reads ``pad``."""
    return np.concatenate((values, [pad])).astype(np.int64)


class Rebalancer:
    """One rebalance of ``table`` (replicas x partitions of dense device indexes, -1 unplaced).

    ``free[p]``: partition p may give up a replica. The table is changed in
    place; :meth:`run` leaves every slot placed.
    """

    def __init__(self, topo: Topology, table: I64, free: Bool, seed: int) -> None:
        self.topo = topo
        self.a = table
        self.free = free
        self.rng = np.random.default_rng(seed)
        self.replicas, self.parts = table.shape
        # Pending replicas: partition, replica, node at the level above, origin device.
        self.pp: I64 = np.empty(0, dtype=np.int64)
        self.pr: I64 = np.empty(0, dtype=np.int64)
        self.pnode: I64 = np.empty(0, dtype=np.int64)
        self.porig: I64 = np.empty(0, dtype=np.int64)
        self.node_ext = [_ext(n, -1) for n in topo.node]
        self.placed: I64 = np.zeros(0, dtype=np.int64)  # pending replicas per node, set aside
        self.cols: I64 = np.zeros(0, dtype=np.int64)  # partitions being filled
        self.pc: I64 = np.zeros(0, dtype=np.int64)  # each pending slot's index in cols
        self.gathered = 0

    # -- helpers ---------------------------------------------------------

    def _nodes(self, level: int) -> I64:
        """Node at ``level`` of every slot (-1 for unplaced ones)."""
        return self.node_ext[level][self.a]

    def _pending(self) -> tuple[I64, I64, I64, I64]:
        return self.pp, self.pr, self.pnode, self.porig

    def _set_pending(self, pp: I64, pr: I64, pnode: I64, porig: I64) -> None:
        self.pp, self.pr, self.pnode, self.porig = pp, pr, pnode, porig

    def _counts(self, level: int, nodes: I64) -> I64:
        """Replicas in each node of ``level``: placed ones, and pending ones already under it."""
        counts = np.bincount(nodes[nodes >= 0], minlength=self.topo.count[level])
        if self.placed.size:
            counts += self.placed
        return counts

    def _same(self, nodes: I64) -> I64:
        """For every slot, how many replicas of its partition share its node."""
        same = np.zeros_like(nodes)
        for r in range(self.replicas):
            same[r] = (nodes == nodes[r]).sum(axis=0)
        return same

    def _take(self, level: int, reps: I64, parts: I64, origin: bool) -> None:
        """Unplace these slots: they become pending under their node at ``level`` - 1."""
        if parts.size == 0:
            return
        devs = self.a[reps, parts]
        self.pp = np.concatenate((self.pp, parts))
        self.pr = np.concatenate((self.pr, reps))
        self.pnode = np.concatenate((self.pnode, self.topo.node[level - 1][devs]))
        orig = devs if origin else np.full(parts.size, -1, dtype=np.int64)
        self.porig = np.concatenate((self.porig, orig))
        self.a[reps, parts] = -1
        self.free[parts] = False
        self.gathered += parts.size

    # -- the passes --------------------------------------------------------

    def run(self) -> None:
        topo = self.topo
        for _ in range(PASSES):
            self.gathered = 0
            reps, parts = np.nonzero(self.a < 0)
            self.pp, self.pr = parts.astype(np.int64), reps.astype(np.int64)
            self.pnode = np.zeros(parts.size, dtype=np.int64)
            self.porig = np.full(parts.size, -1, dtype=np.int64)
            self.gathered = parts.size
            for level in range(1, LEVELS + 1):
                self._gather_dispersion(level)
                self._fill(level)
                # Balance against what is now placed at this level, then fill again.
                held = self._pending()
                self.placed = np.bincount(held[2], minlength=topo.count[level])
                self._set_pending(*(np.empty(0, dtype=np.int64) for _ in range(4)))
                self._gather_balance(level)
                self._fill(level)
                self.placed = np.zeros(0, dtype=np.int64)
                mine = self._pending()
                self._set_pending(*(np.concatenate(pair) for pair in zip(held, mine, strict=True)))
            counts = np.bincount(self.a.ravel(), minlength=topo.count[LEVELS])
            if not self.gathered or np.array_equal(counts, topo.quota[LEVELS]):
                break

    def _gather_dispersion(self, level: int) -> None:
        if not self.free.any():
            return
        topo = self.topo
        nodes = self._nodes(level)
        same = self._same(nodes)
        limit = _ext(topo.limit[level], self.replicas + 1)
        flag = (nodes >= 0) & (same > limit[nodes])
        floor = topo.floor[level]
        wanted = np.concatenate((topo.wanted[level], [np.inf]))
        parent = _ext(topo.parent[level], -2)
        for node in np.flatnonzero(floor >= 1):
            short = (nodes == node).sum(axis=0) < floor[node]
            if short.any():
                sibling = (parent[nodes] == parent[node]) & (nodes != node) & (nodes >= 0)
                flag |= short[None, :] & sibling & (same > wanted[nodes])
        flag &= self.free[None, :]
        parts = np.flatnonzero(flag.any(axis=0))
        if parts.size == 0:
            return
        # Prefer, for each partition, a replica on a device holding more than its quota.
        dev_counts = np.bincount(self.a[self.a >= 0], minlength=topo.count[LEVELS])
        dev_surplus = dev_counts - topo.quota[LEVELS]
        sub = flag[:, parts]
        chosen = np.full(parts.size, -1, dtype=np.int64)
        dev_table = self.a[:, parts]
        for _ in range(ROUNDS):
            open_dev = _ext(dev_surplus, 0)[dev_table] > 0
            mask = sub & open_dev & (chosen < 0)[None, :]
            cols = np.flatnonzero(mask.any(axis=0))
            if cols.size == 0:
                break
            # Each partition picks a device with odds in proportion to its surplus per demand.
            demand = np.bincount(dev_table[mask], minlength=dev_surplus.size)
            slack = np.clip(dev_surplus, 0, None) / np.maximum(demand, 1)
            cols = cols[self.rng.permutation(cols.size)]
            odds = np.where(mask[:, cols], slack[dev_table[:, cols]], 0.0)
            draw = np.log(1.0 - self.rng.random(odds.shape))  # (-inf, 0]
            with np.errstate(divide="ignore"):
                reps_c = np.argmax(np.where(odds > 0, draw / odds, -np.inf), axis=0)
            devs = dev_table[reps_c, cols]
            keep = _rank_in_group(devs) < dev_surplus[devs]
            chosen[cols[keep]] = reps_c[keep]
            dev_surplus -= np.bincount(devs[keep], minlength=dev_surplus.size)
        # The rest: the replica whose device is furthest above (or least below) its quota.
        rest = np.flatnonzero(chosen < 0)
        for start in range(0, rest.size, 256):
            cols = rest[start : start + 256]
            jitter = self.rng.random((self.replicas, cols.size))
            score = np.where(sub[:, cols], dev_surplus[dev_table[:, cols]] + jitter, -np.inf)
            chosen[cols] = np.argmax(score, axis=0)
            dev_surplus -= np.bincount(dev_table[chosen[cols], cols], minlength=dev_surplus.size)
        self._take(level, chosen, parts, origin=False)

    def _gather_balance(self, level: int) -> None:
        if not self.free.any():
            return
        topo = self.topo
        nodes = self._nodes(level)
        counts = self._counts(level, nodes)
        surplus = counts - topo.quota[level]
        if not (surplus > 0).any():
            return
        parent = topo.parent[level]
        n_up = topo.count[level - 1]
        short = np.bincount(parent, weights=np.clip(-surplus, 0, None), minlength=n_up)
        room = short.astype(np.int64) - np.bincount(self.pnode, minlength=n_up)
        dev_counts = np.bincount(self.a[self.a >= 0], minlength=topo.count[LEVELS])
        dev_surplus = _ext(dev_counts - topo.quota[LEVELS], 0)
        cand = (nodes >= 0) & self.free[None, :]
        cand &= (_ext(surplus, 0)[nodes] > 0) & (dev_surplus[self.a] > 0)
        cand &= (_ext(room, 0)[_ext(parent, -1)[nodes]] > 0)
        cand &= self._fits_a_sibling(level, nodes, surplus)
        for deeper in range(level, LEVELS + 1):
            floor = topo.floor[deeper]
            if (floor >= 1).any():
                deep = nodes if deeper == level else self._nodes(deeper)
                need = _ext(floor, 0)[deep]
                cand &= ~((need >= 1) & (self._same(deep) <= need))
        parts = np.flatnonzero(cand.any(axis=0))
        if parts.size == 0:
            return
        sub = cand[:, parts]
        reps = np.argmax(sub * (1.0 + self.rng.random(sub.shape)), axis=0).astype(np.int64)
        order = self.rng.permutation(parts.size)
        parts, reps = parts[order], reps[order]
        devs = self.a[reps, parts]
        keep = _rank_in_group(devs) < dev_surplus[devs]
        parts, reps, devs = parts[keep], reps[keep], devs[keep]
        node = topo.node[level][devs]
        keep = _rank_in_group(node) < surplus[node]
        parts, reps, node = parts[keep], reps[keep], node[keep]
        keep = _rank_in_group(parent[node]) < room[parent[node]]
        self._take(level, reps[keep], parts[keep], origin=True)

    def _fits_a_sibling(self, level: int, nodes: I64, surplus: I64) -> Bool:
        """Per slot: whether a sibling of its node holding too few could take its partition.

        A sibling with room is closed to a partition that already holds
        ``limit`` replicas there; the slot may go if not all are closed.
        """
        topo = self.topo
        parent = _ext(topo.parent[level], -1)
        limit = _ext(topo.limit[level], 0)
        open_node = _ext(((surplus < 0) & (topo.limit[level] > 0)).astype(np.int64), 0)
        n_open = _ext(np.bincount(topo.parent[level], weights=open_node[:-1],
                                  minlength=topo.count[level - 1]).astype(np.int64), 0)
        same = self._same(nodes)
        first = np.ones_like(nodes, dtype=bool)
        for r in range(1, self.replicas):
            for q in range(r):
                first[r] &= nodes[q] != nodes[r]
        closed = first & (open_node[nodes] > 0) & (same >= limit[nodes])
        fits = np.zeros_like(nodes, dtype=bool)
        for r in range(self.replicas):
            blocked = np.zeros(self.parts, dtype=np.int64)
            for q in range(self.replicas):
                if q != r:
                    blocked += closed[q] & (parent[nodes[q]] == parent[nodes[r]])
            fits[r] = blocked < n_open[parent[nodes[r]]]
        return fits

    # -- fill --------------------------------------------------------------

    def _fill(self, level: int) -> None:
        if self.pp.size == 0:
            return
        topo = self.topo
        nodes = self._nodes(level)
        deficit = topo.quota[level] - self._counts(level, nodes)
        # Work on the partitions with a pending slot only (columns of a narrower table).
        mask = np.zeros(self.parts, dtype=bool)
        mask[self.pp] = True
        self.cols = np.flatnonzero(mask)
        self.pc = (np.cumsum(mask) - 1)[self.pp]
        nodes = nodes[:, self.cols]
        limit = _ext(topo.limit[level], self.replicas)
        child = np.full(self.pp.size, -1, dtype=np.int64)
        accepted = np.full_like(nodes, -1)  # child taken by each pending slot, this fill
        todo = np.arange(self.pp.size)
        for round_no in range(ROUNDS):
            if todo.size == 0:
                break
            todo, ch = self._deal(level, todo, deficit, round_no)
            reps, cols = self.pr[todo], self.pc[todo]
            trial = np.full_like(nodes, -1)
            trial[reps, cols] = ch
            ok = ~self._crowded(nodes, accepted, trial, limit)[reps, cols]
            child[todo[ok]] = ch[ok]
            accepted[reps[ok], cols[ok]] = ch[ok]
            deficit -= np.bincount(ch[ok], minlength=topo.count[level])
            todo = todo[~ok]
        for slot in todo.tolist():
            best = self._fallback(level, slot, nodes, accepted, deficit)
            child[slot] = best
            accepted[self.pr[slot], self.pc[slot]] = best
            deficit[best] -= 1
        self.pnode = child
        if level == LEVELS:
            self.a[self.pr, self.pp] = child
            self.pp = self.pr = self.pnode = self.porig = np.empty(0, dtype=np.int64)

    def _crowded(self, nodes: I64, accepted: I64, trial: I64, limit: I64) -> Bool:
        """Trial slots that would put more than ``limit`` replicas of a partition in a node.

        Replicas already placed or accepted count first, then trial slots in
        replica order.
        """
        crowded = np.zeros(trial.shape, dtype=bool)
        for r in range(self.replicas):
            target = trial[r]
            held = np.zeros(target.size, dtype=np.int64)
            for q in range(self.replicas):
                held += nodes[q] == target
                held += accepted[q] == target
                if q < r:
                    held += trial[q] == target
            crowded[r] = (target >= 0) & (held >= limit[target])
        return crowded

    def _deal(self, level: int, todo: I64, deficit: I64, round_no: int) -> tuple[I64, I64]:
        """A child for each pending slot: runs of a pseudo-random order per parent node.

        Round 0 orders each parent's slots layer by layer (a partition's
        first slot under the parent, then its second...), partitions with
        more slots first, so that the runs give a partition's slots to
        different children; later rounds shuffle and rotate.
        """
        topo = self.topo
        anchors, parts = self.pnode[todo], self.pp[todo]
        n_up = topo.count[level - 1]
        span = np.int64(self.parts)
        group = anchors * span + parts
        noise = _mix(group, int(self.rng.integers(1 << 62)))
        if round_no == 0:
            layer, width = self._layers(todo)
        else:
            layer = width = np.zeros(todo.size, dtype=np.int64)
        rbits = (self.replicas + 1).bit_length()
        abits = max(1, n_up.bit_length())
        nbits = 62 - abits - 2 * rbits
        if nbits >= 20:
            key = (anchors << (2 * rbits)) | (layer << rbits) | (self.replicas - width)
            order = np.argsort((key << nbits) | (noise >> (62 - nbits)))
        else:
            order = np.lexsort((noise, self.replicas - width, layer, anchors))
        todo, anchors = todo[order], anchors[order]
        per_anchor = np.bincount(anchors, minlength=n_up)
        start = np.concatenate(([0], np.cumsum(per_anchor)))[:-1]
        j = np.arange(todo.size) - start[anchors]
        # Children take runs in proportion to what they lack (else to their quota, else even).
        parent = topo.parent[level]
        weights = np.clip(deficit, 0, None)
        for fallback in (np.maximum(topo.quota[level], 0), np.ones_like(weights)):
            total = np.bincount(parent, weights=weights, minlength=n_up)
            weights = np.where(total[parent] <= 0, fallback, weights)
        total = np.bincount(parent, weights=weights, minlength=n_up).astype(np.int64)
        ends = np.cumsum(weights)
        base = (ends - weights)[topo.first_child[level][:-1]]
        d, n = total[anchors], per_anchor[anchors]
        shift = self.rng.integers(0, np.maximum(total, 1))[anchors] if round_no else 0
        pos = np.where(d >= n, (j * d) // np.maximum(n, 1), j) + shift
        pos %= np.maximum(d, 1)
        child = np.searchsorted(ends, base[anchors] + pos, side="right").astype(np.int64)
        return todo, child

    def _layers(self, todo: I64) -> tuple[I64, I64]:
        """Per pending slot: how many of its partition's pending slots under the same
        node come before it (in replica order), and how many there are in all."""
        reps, parts = self.pr[todo], self.pc[todo]
        grid = np.full((self.replicas, self.cols.size), -1, dtype=np.int64)
        grid[reps, parts] = self.pnode[todo]
        layer, width = np.zeros_like(grid), np.zeros_like(grid)
        for r in range(self.replicas):
            for q in range(self.replicas):
                same = grid[q] == grid[r]
                width[r] += same
                if q < r:
                    layer[r] += same
        return layer[reps, parts], width[reps, parts]

    def _fallback(self, level: int, slot: int, nodes: I64, accepted: I64, deficit: I64) -> int:
        """A child for a slot no round could place: its origin if it may, else the least used."""
        topo = self.topo
        part, anchor, origin = int(self.pc[slot]), int(self.pnode[slot]), int(self.porig[slot])
        kids = topo.children(level, anchor)
        here = np.concatenate((nodes[:, part], accepted[:, part])).tolist()
        held = {kid: here.count(kid) for kid in kids}
        limit = topo.limit[level]
        if origin >= 0:
            home = int(topo.node[level][origin])
            if home in held and held[home] < limit[home]:
                return home
        return min(kids, key=lambda k: (held[k] >= limit[k], held[k] - limit[k], -deficit[k], k))
