"""What the object server checks before it replaces or deletes an object.

Two rules of the storage protocol (``objectstore/protocol.py``,
docs/storage-protocol.md), applied to the object's state on this node right
before the write, in the same thread-pool trip that makes it:

- an object under a lock (a legal hold, or a retention still running) is
  neither deleted nor written over, unless the proxy moved it elsewhere first
  (``X-Backend-Lock-Moved`` naming its data timestamp) or may override a
  GOVERNANCE retention (``X-Backend-Lock-Bypass``): 403;
- a write that expects what it replaces (``X-Backend-Expect-Data``: that
  object's data timestamp, or ``none``) finds it, else 412;
- a delete that expects a plain object (``X-Backend-Expect-Plain: true``) does
  not remove a Static Large Object manifest: 412.

A POST keeps the object's lock metadata unless it names it, and may only
change it as :func:`objectstore.protocol.lock_change` allows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from common.errors import PreconditionFailed
from objectstore.diskfile import ObjectState
from objectstore.errors import Locked
from objectstore.protocol import (
    BYPASS_GOVERNANCE,
    EXPECT_DATA,
    EXPECT_PLAIN,
    LOCK_BYPASS,
    LOCK_KEYS,
    LOCK_MOVED,
    is_manifest,
    lock_change,
    lock_holds,
)


class WriteGuard(NamedTuple):
    """A write's or delete's conditions on the object it replaces."""

    moved: str | None = None
    bypass: bool = False
    expect: str | None = None
    plain: bool = False

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> WriteGuard:
        return cls(headers.get(LOCK_MOVED), headers.get(LOCK_BYPASS) == BYPASS_GOVERNANCE,
                   headers.get(EXPECT_DATA), headers.get(EXPECT_PLAIN, "") == "true")

    def check(self, st: ObjectState, live: bool, now: float | None = None) -> None:
        """Raise what refuses replacing the object in state ``st`` (``live``: it exists
        and has not expired)."""
        if self.expect is not None:
            have = st.data_timestamp if live and st.data_timestamp else "none"
            if have != self.expect:
                raise PreconditionFailed("")
        if self.plain and st.exists and is_manifest(st.metadata):
            raise PreconditionFailed("The object is a large object manifest")
        if not st.exists:
            return
        holds = lock_holds(st.metadata, time.time() if now is None else now)
        if holds is None or (self.moved is not None and self.moved == st.data_timestamp):
            return
        if holds == "GOVERNANCE" and self.bypass:
            return
        raise Locked("The object is locked: "
                     + ("a legal hold is on it" if holds == "hold"
                        else f"its {holds} retention has not ended"))


def post_lock(st: ObjectState, meta: dict[str, Any], bypass: bool,
              now: float | None = None) -> None:
    """Complete a POST's metadata ``meta`` with the object's lock metadata it does not
    name; Locked when the change it makes is not allowed."""
    for key in LOCK_KEYS:
        if key not in meta and key in st.metadata:
            meta[key] = st.metadata[key]
    why = lock_change(st.metadata, meta, time.time() if now is None else now, bypass)
    if why is not None:
        raise Locked(f"The lock may not change: {why}")
    if "X-Delete-At" in meta and meta["X-Delete-At"] and \
            lock_holds(meta, time.time() if now is None else now) is not None:
        raise Locked("A locked object cannot be given X-Delete-At")
