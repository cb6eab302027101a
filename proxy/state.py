"""What every proxy handler shares: config, rings, backend, token validator, info cache."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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


@dataclass
class Info:
    """What a HEAD of an account or container said (status 404 when it does not exist)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.status // 100 == 2

    def get(self, name: str, default: str = "") -> str:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return default


@dataclass
class ProxyState:
    cfg: StrataConfig
    backend: Backend
    rings: dict[str, Ring]
    validator: TokenValidator
    pipeline: Pipeline = field(init=False)
    _info: dict[tuple[str, ...], tuple[float, Info]] = field(default_factory=dict)

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
        self._info.pop((account,) if container is None else (account, container), None)

    async def info(self, txn: str, account: str, container: str | None = None) -> Info:
        """HEAD of an account or container, from any replica; cached for a few seconds."""
        key = (account,) if container is None else (account, container)
        hit = self._info.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        kind = "account" if container is None else "container"
        pl = self.place(kind, account, container)
        async with open_read(self.backend, pl, "HEAD",
                             lambda n: node_path(f"{kind}s", n, pl.part, account, container),
                             {"X-Trans-Id": txn}, lambda s: s // 100 == 2) as (r, seen):
            if r is not None:
                info = Info(r.status, dict(r.headers))
            else:
                info = Info(read_failure(seen, len(pl.primaries)))
        if info.exists:  # a 404 is never cached: the container may be created next
            self._info[key] = (now + INFO_TTL, info)
        if len(self._info) > 100000:
            self._info.clear()
        return info


def policy_of(container: Info) -> int:
    """The storage policy (index) of a container, from its HEAD (0: none said)."""
    value = container.get(POLICY_INDEX, "0")
    return int(value) if value.isdigit() else 0


def new_timestamp() -> str:
    return tsmod.now()


def answers_only(results: list[tuple[Answer, bytes]]) -> list[Answer]:
    return [a for a, _ in results]


STATE: web.AppKey[ProxyState] = web.AppKey("proxy_state", ProxyState)
