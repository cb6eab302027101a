"""Embedded-cluster set-up run by ``strata up`` before any storage service starts.

Creates the local nodes' device directories and, for each ring that does not
exist yet, builds it over them: account, container, and one object ring per
storage policy (``object.ring.gz``, ``object-1.ring.gz``, ...); one zone per
node, ``devices_per_node`` devices each, equal weights, ``replicas`` replicas
(a policy's own count for its objects). Rings that exist are left alone (the
operator changes them with ``strata ring``), so a policy added later gets its
ring at the next start.

This is set-up, not the runtime: it is the one storage module that imports the
ring builder (``rings.builder``). The servers and daemons only load the small
runtime ring (``rings.ring``, :func:`objectstore.node.load_ring`) and never
import this module.
"""

from __future__ import annotations

import logging

from common.config import StrataConfig
from objectstore.node import node_root
from objectstore.protocol import object_ring, ring_file, ring_kinds
from rings.builder import RingBuilder

log = logging.getLogger(__name__)

def node_devices(cfg: StrataConfig, node: int) -> list[str]:
    """Device names of local node ``node`` (1-based): ``n1d1``, ``n1d2``, …"""
    return [f"n{node}d{d}" for d in range(1, cfg.objectstore.devices_per_node + 1)]


def prepare(cfg: StrataConfig) -> None:
    osc = cfg.objectstore
    for node in range(1, osc.nodes + 1):
        for dev in node_devices(cfg, node):
            (node_root(cfg, node) / dev).mkdir(parents=True, exist_ok=True)
    cfg.ring_path.mkdir(parents=True, exist_ok=True)
    replicas = {object_ring(p.index): p.replicas for p in osc.policies()}
    for kind in ring_kinds(cfg):
        if ring_file(cfg, kind).exists():
            continue
        count = replicas.get(kind, osc.replicas)
        builder = RingBuilder(osc.part_power, count, osc.min_part_hours)
        for node in range(1, osc.nodes + 1):
            for dev in node_devices(cfg, node):
                builder.add_dev(region=1, zone=node, ip=osc.host, port=osc.port + node - 1,
                                device=dev, weight=100.0)
        builder.rebalance(seed=1)
        builder.save(cfg.ring_path / f"{kind}.builder")
        builder.write_ring(ring_file(cfg, kind))
        log.info("built the %s ring: %d devices, %d replicas", kind, len(builder.devs), count)
