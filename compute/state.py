"""The compute service's running state, shared by handlers, the conductor and the agent."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from blockstore.client import VolumeClient
from common.config import StrataConfig
from common.db import Database
from compute.core.metadata import Ec2Ids
from ec2.client import Ec2Client
from identity.client import TokenValidator
from imagestore.client import ImageClient
from network.client import NetworkClient


def _nobody(host: str | None) -> None:
    """No agent or conductor to tell (until the service wires them)."""

class TokenStash:
    """Users' tokens, kept in memory (never written anywhere) for the background work
    their requests started: the agent fetches a private image or creates a volume from
    it as the user, as Nova does with the request's context. A token is dropped when
    its work is done or after ``ttl`` seconds; work that finds none (after a restart)
    acts as the service user."""

    def __init__(self, ttl: float = 3600.0) -> None:
        self.ttl = ttl
        self._tokens: dict[str, tuple[str, str, float]] = {}

    def put(self, key: str, token: str, project_id: str) -> None:
        self._prune()
        self._tokens[key] = (token, project_id, time.monotonic() + self.ttl)

    def get(self, key: str) -> tuple[str, str] | None:
        hit = self._tokens.get(key)
        if hit is None or hit[2] < time.monotonic():
            return None
        return hit[0], hit[1]

    def drop(self, key: str) -> None:
        self._tokens.pop(key, None)

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, v in self._tokens.items() if v[2] < now]:
            del self._tokens[key]


@dataclass
class ComputeState:
    cfg: StrataConfig
    db: Database
    validator: TokenValidator
    session: aiohttp.ClientSession
    tokens: TokenStash = field(default_factory=TokenStash)
    # Tell whoever has new work: the conductor (None: servers to schedule) or the agent
    # of a host (its tasks). Agents on other hosts find their tasks by polling.
    nudge: Callable[[str | None], None] = _nobody
    # server uuid -> the EC2 ids the EC2 front gave it and its image (never change)
    ec2_ids: dict[str, Ec2Ids] = field(default_factory=dict)

    def images(self, token: str) -> ImageClient:
        """The image service, acting with ``token``."""
        return ImageClient(self.cfg.imagestore_url(), token, session=self.session)

    def volumes(self, token: str, project_id: str) -> VolumeClient:
        """The block store, acting with ``token`` in its ``project_id``."""
        return VolumeClient(self.cfg.blockstore_url(), token, project_id,
                            session=self.session)

    async def service_volumes(self) -> VolumeClient:
        """The block store as the service user (any project's volumes and attachments)."""
        project = await self.validator.service_project_id()
        return VolumeClient(self.cfg.blockstore_url(), self.validator.service_token,
                            project, session=self.session)

    def ec2(self) -> Ec2Client | None:
        """The EC2 front as the service user (the EC2 ids guests are told), or None
        when it does not run here."""
        if not self.cfg.ec2.enabled:
            return None
        return Ec2Client(self.cfg.ec2_url(), self.validator.service_token,
                         session=self.session, conn_timeout=2, read_timeout=10)

    def network(self, token: Callable[[], Awaitable[str]] | None = None) -> NetworkClient:
        """The networking service, as the service user (every port, binding) or with
        ``token`` (what a user may see)."""
        return NetworkClient(self.session, self.cfg.network_url(),
                             token or self.validator.service_token)
