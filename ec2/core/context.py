"""What an action works with: the caller, the database, and the native services'
clients, each speaking with the caller's own token (so the native policy decides)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blockstore.client import VolumeClient
from common.caller import Caller
from common.config import StrataConfig
from common.db import Database
from common.errors import Conflict, NotImplementedYet
from compute.client import ComputeClient
from ec2.core import ids
from ec2.params import Params
from imagestore.client import ImageClient
from network.client import NetworkClient

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRIES = 5  # transactions that lost a race on a unique id (PostgreSQL)


async def run_retrying(db: Database, fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in one transaction, run again when it lost a race on a unique id
    (two requests giving one resource its first id at once: the second finds the
    first's)."""
    for attempt in range(RETRIES):
        try:
            return await db.run(fn)
        except IntegrityError as exc:
            if attempt == RETRIES - 1:
                log.warning("ec2: a write kept conflicting: %s", exc)
    raise Conflict("The request conflicted with a concurrent change; try again.")


class Unsupported(NotImplementedYet):
    """What this cloud does not run (its block store, networking or compute service is
    off)."""

    code = "UnsupportedOperation"


@dataclass(frozen=True)
class Settings:
    """The front's view of the cloud, from the configuration."""

    region: str
    endpoint: str  # the EC2 front's own URL (DescribeRegions)
    zone: str  # the availability zone of resources that name none
    external_network: str  # where addresses come from ("" is the first external network)


class Ctx:
    """One request's context: who calls, the database, the native services as the
    caller sees them (made on first use, with the caller's token)."""

    def __init__(self, *, caller: Caller, db: Database, cfg: StrataConfig,
                 settings: Settings, session: aiohttp.ClientSession,
                 request_id: str = "") -> None:
        self.caller = caller
        self.db = db
        self.cfg = cfg
        self.settings = settings
        self.session = session
        self.request_id = request_id

    @property
    def project(self) -> str:
        return self.caller.project_id or ""

    async def token(self) -> str:
        return self.caller.token

    @functools.cached_property
    def images(self) -> ImageClient:
        if not self.cfg.imagestore.enabled:
            raise Unsupported("This cloud runs no image service.")
        return ImageClient(self.cfg.imagestore_url(), self.caller.token, session=self.session)

    @functools.cached_property
    def volumes(self) -> VolumeClient:
        if not self.cfg.blockstore.enabled:
            raise Unsupported("This cloud runs no block store.")
        return VolumeClient(self.cfg.blockstore_url(), self.caller.token, self.project,
                            session=self.session)

    @functools.cached_property
    def network(self) -> NetworkClient:
        if not self.cfg.network.enabled:
            raise Unsupported("This cloud runs no networking service.")
        return NetworkClient(self.session, self.cfg.network_url(), self.token)

    @functools.cached_property
    def compute(self) -> ComputeClient:
        if not self.cfg.compute.enabled:
            raise Unsupported("This cloud runs no compute service.")
        return ComputeClient(self.cfg.compute_url(), self.caller.token, session=self.session)

    async def run(self, fn: Callable[[Session], T]) -> T:
        """``fn(session)`` in one transaction; again when it lost a race on a unique id."""
        return await run_retrying(self.db, fn)

    async def assign_ids(self, kind: ids.Kind, wanted: Mapping[str, str]) -> dict[str, str]:
        """uuid -> EC2 id for every uuid of ``wanted`` (uuid -> prefix of a new id)."""
        if not wanted:
            return {}
        return await self.run(lambda s: ids.assign(s, kind, wanted))

    async def id_of(self, kind: ids.Kind, uuid: str, prefix: str | None = None) -> str:
        return (await self.assign_ids(kind, {uuid: prefix or kind.prefixes[0]}))[uuid]

    async def resolve(self, kind: ids.Kind, ident: str) -> str:
        """The native id of an EC2 id (Malformed or NotFound errors as EC2's)."""
        return await self.run(lambda s: ids.resolve(s, kind, ident))

    async def resolve_many(self, kind: ids.Kind, idents: list[str]) -> dict[str, str]:
        """EC2 id -> native id of those that name something (each checked for form)."""
        for ident in idents:
            kind.check(ident)
        if not idents:
            return {}
        return await self.run(lambda s: ids.resolve_many(s, kind, idents))


# What an action answers: EC2's response members by their XML names (a list is a set of
# ``<item>``s, a dict a structure, None left out), rendered by the API.
Body = dict[str, Any]
# An action: the request's context and parameters in, its answer out.
Action = Callable[[Ctx, Params], Awaitable[Body]]
