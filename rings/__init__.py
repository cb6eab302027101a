"""Consistent-hash rings: where accounts, containers and objects live.

* :mod:`rings.builder` — :class:`~rings.builder.RingBuilder`, the offline
  builder (devices, weights, rebalance, builder file, ring file);
* :mod:`rings.placement` — the tier topology and the targets it places by;
* :mod:`rings.assign` — the rebalance engine (numpy over the whole table);
* :mod:`rings.ring` — :class:`~rings.ring.Ring`, the small read-only runtime
  ring every proxy and storage node loads (reloaded when the file changes);
* :mod:`rings.hashing` — :func:`~rings.hashing.hash_path`, shared with the
  storage nodes;
* :mod:`rings.cli` — ``strata ring ...``.
"""
