"""The block store's running state, shared by handlers and the volume manager."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from blockstore.manager import VolumeManager
from common.config import StrataConfig
from common.db import Database
from identity.client import TokenValidator


@dataclass
class BlockState:
    cfg: StrataConfig
    db: Database
    manager: VolumeManager
    validator: TokenValidator
    session: aiohttp.ClientSession
