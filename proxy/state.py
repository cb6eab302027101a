"""What every proxy handler shares: config, rings, backend, token validator, info cache."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from aiohttp import web

from common import timestamp as tsmod
from common.config import StrataConfig
from identity.client import TokenValidator
from objectstore.protocol import POLICY_INDEX
from proxy.backend import Backend, Placement, node_path, open_read
from proxy.errors import fail
from proxy.pipeline import Pipeline
from proxy.quorum import Answer, read_failure
from rings.ring import Ring

INFO_TTL = 5.0  # seconds a container/account HEAD result is reused
# Seconds "no such container/account" is reused: short, as a container made through
# another proxy shows up only when it runs out (one made through this proxy drops it
# at once, ``forget``).
MISSING_TTL = 2.0
_T = TypeVar("_T")


@dataclass
class Info:
    """What a HEAD of an account or container said (status 404 when it does not exist)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    # what features derive from these headers (e.g. an S3 bucket's parsed access
    # state), kept as long as this answer is cached; headers are never changed
    memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    _lower: dict[str, str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._lower = {k.lower(): v for k, v in self.headers.items()}

    @property
    def exists(self) -> bool:
        return self.status // 100 == 2

    def get(self, name: str, default: str = "") -> str:
        return self._lower.get(name.lower(), default)

    def derived(self, key: str, make: Callable[[dict[str, str]], _T]) -> _T:
        """``make(headers)``, computed once per answer (``key`` names what it is)."""
        if key not in self.memo:
            self.memo[key] = make(self.headers)
        return cast(_T, self.memo[key])


@dataclass
class ProxyState:
    cfg: StrataConfig
    backend: Backend
    rings: dict[str, Ring]
    validator: TokenValidator
    pipeline: Pipeline = field(init=False)
    _info: dict[tuple[str, ...], tuple[float, Info]] = field(default_factory=dict)
    # HEADs in flight, shared by the requests that want the same answer meanwhile
    _asking: dict[tuple[str, ...], asyncio.Task[Info]] = field(default_factory=dict)
    # bumped by ``forget``: an answer asked for before a change is not cached after it
    _generation: int = 0

    @functools.cached_property
    def identity_url(self) -> str:
        """Where identity answers (asked on every signed S3 request)."""
        return self.cfg.identity_url()

    def place(self, kind: str, account: str, container: str | None = None,
              obj: str | None = None) -> Placement:
        ring = self.rings.get(kind)
        if ring is None:  # a policy this proxy's configuration does not know
            raise fail(503, f"No {kind} ring")
        return self.backend.place(ring, account, container, obj)

    def policy_named(self, name: str) -> int:
        """The index of storage policy ``name`` (any case, as Swift's); 400 with
        Swift's words when there is none."""
        for policy in self.cfg.objectstore.policies():
            if policy.name.lower() == name.strip().lower():
                return policy.index
        raise fail(400, f"Invalid X-Storage-Policy '{name}'")

    def policy_name(self, index: int) -> str:
        names = [p.name for p in self.cfg.objectstore.policies()]
        return names[index] if 0 <= index < len(names) else str(index)

    def forget(self, account: str, container: str | None = None) -> None:
        """Drop what is cached of an account or container (this proxy just changed it)."""
        key = (account,) if container is None else (account, container)
        self._info.pop(key, None)
        self._asking.pop(key, None)  # a HEAD in flight may predate the change
        self._generation += 1

    async def info(self, txn: str, account: str, container: str | None = None, *,
                   recheck_missing: bool = False) -> Info:
        """HEAD of an account or container, from any replica; cached for a few seconds
        (absence too, for less: :data:`MISSING_TTL`). Concurrent requests for the same
        one share a single HEAD. ``recheck_missing``: a cached absence is asked again,
        for callers that would refuse the client on it (another proxy process may have
        made it since)."""
        key = (account,) if container is None else (account, container)
        hit = self._info.get(key)
        if hit is not None and hit[0] > time.monotonic() and not (
                recheck_missing and hit[1].status == 404):
            return hit[1]
        task = self._asking.get(key)
        if task is None:
            # its own task: a requester that goes away does not cancel the others' HEAD
            task = asyncio.ensure_future(self._lookup(key, txn, account, container))
            task.add_done_callback(_retrieved)
            self._asking[key] = task
        return await asyncio.shield(task)

    async def _lookup(self, key: tuple[str, ...], txn: str, account: str,
                      container: str | None) -> Info:
        generation = self._generation
        try:
            info = await self._head(txn, account, container)
        finally:
            if self._asking.get(key) is asyncio.current_task():
                del self._asking[key]
        ttl = INFO_TTL if info.exists else MISSING_TTL if info.status == 404 else 0.0
        if ttl and generation == self._generation:
            if len(self._info) > 100000:
                self._info.clear()
            self._info[key] = (time.monotonic() + ttl, info)
        return info

    async def _head(self, txn: str, account: str, container: str | None) -> Info:
        kind = "account" if container is None else "container"
        pl = self.place(kind, account, container)
        async with open_read(self.backend, pl, "HEAD",
                             lambda n: node_path(f"{kind}s", n, pl.part, account, container),
                             {"X-Trans-Id": txn}, lambda s: s // 100 == 2) as (r, seen):
            if r is not None:
                return Info(r.status, dict(r.headers))
            return Info(read_failure(seen, len(pl.primaries)))


def _retrieved(task: asyncio.Task[Info]) -> None:
    """Mark a lookup's failure seen (its requesters may all have gone)."""
    if not task.cancelled():
        task.exception()


def policy_of(container: Info) -> int:
    """The storage policy (index) of a container, from its HEAD (0: none said)."""
    value = container.get(POLICY_INDEX, "0")
    return int(value) if value.isdigit() else 0


def new_timestamp() -> str:
    return tsmod.now()


def answers_only(results: list[tuple[Answer, bytes]]) -> list[Answer]:
    return [a for a, _ in results]


STATE: web.AppKey[ProxyState] = web.AppKey("proxy_state", ProxyState)
