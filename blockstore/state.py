"""The block store's running state, shared by handlers, the core and the volume manager."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from blockstore.manager import VolumeManager
from common.config import StrataConfig
from common.db import Database
from identity.client import TokenValidator
from imagestore.client import ImageClient


@dataclass
class BlockState:
    cfg: StrataConfig
    db: Database
    manager: VolumeManager
    validator: TokenValidator
    session: aiohttp.ClientSession

    def images(self, token: str) -> ImageClient:
        """The image service, acting with ``token`` (the caller's: their images)."""
        return ImageClient(self.cfg.imagestore_url(), token, session=self.session)
