"""The image service's running state, shared by handlers and background jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from common.config import StrataConfig
from common.db import Database
from identity.client import TokenValidator
from imagestore.core import Limits
from imagestore.stores.base import ImageStore


@dataclass
class ImageState:
    cfg: StrataConfig
    db: Database
    store: ImageStore
    validator: TokenValidator
    session: aiohttp.ClientSession
    staging: Path
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def limits(self) -> Limits:
        im = self.cfg.imagestore
        return Limits(im.max_image_size, im.image_count_quota, im.image_size_quota)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background job (an import) that the app cancels when it stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
