"""The Images API v2 (Glance compatible) of the image service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from common.config import StrataConfig, resolve
from common.db import Database, migrate
from common.http import AppSettings, make_app
from identity.client import TokenValidator, service_validator
from imagestore.api import data, images
from imagestore.api.base import STATE, glance_error_format_for
from imagestore.state import ImageState
from imagestore.stores.base import ByteStream, ImageStore, Stored
from imagestore.stores.filesystem import FilesystemStore
from imagestore.stores.swift import SwiftStore

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class LazyStore:
    """A store built on first use: the swift store needs the service project's id,
    which identity may not be ready to tell while the services start together."""

    def __init__(self, store_id: str, description: str,
                 factory: Callable[[], Awaitable[ImageStore]]) -> None:
        self.id = store_id
        self.description = description
        self._factory = factory
        self._store: ImageStore | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> ImageStore:
        async with self._lock:
            if self._store is None:
                self._store = await self._factory()
            return self._store

    async def add(self, image_id: str, chunks: AsyncIterator[bytes]) -> Stored:
        return await (await self._get()).add(image_id, chunks)

    async def get(self, location: str, offset: int = 0,
                  length: int | None = None) -> ByteStream:
        return await (await self._get()).get(location, offset, length)

    async def delete(self, location: str) -> None:
        await (await self._get()).delete(location)

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()


def make_store(cfg: StrataConfig, session: aiohttp.ClientSession,
               validator: TokenValidator) -> ImageStore:
    im = cfg.imagestore
    if im.store == "file":
        default = str(cfg.var_path / "imagestore" / "images")
        return FilesystemStore(resolve(cfg.home, im.file_store_dir or default))

    async def swift() -> ImageStore:
        info = await validator.validate(await validator.service_token())
        if info is None or info.project_id is None:
            raise RuntimeError("identity does not validate the service user's own token")
        return SwiftStore(cfg.proxy_url(), validator.service_token,
                          f"AUTH_{info.project_id}", container=im.swift_container,
                          segment_size=im.segment_size, session=session)

    return LazyStore(SwiftStore.id, SwiftStore.description, swift)


def build_app(cfg: StrataConfig) -> web.Application:
    im = cfg.imagestore
    app = make_app(AppSettings(
        service="imagestore",
        # image data is streamed: only JSON bodies are capped (imagestore.api.base)
        max_body=im.max_image_size + 1,
        error_format=glance_error_format_for(cfg.identity_url()),
    ))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, cfg.imagestore_db_url(), MIGRATIONS)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=300),
            auto_decompress=False, read_bufsize=1 << 20,
            cookie_jar=aiohttp.DummyCookieJar())
        validator = service_validator(session, cfg)
        staging = resolve(cfg.home, im.staging_dir or str(cfg.var_path / "imagestore"
                                                          / "staging"))
        staging.mkdir(parents=True, exist_ok=True)
        st = ImageState(cfg=cfg, db=Database(cfg.imagestore_db_url()),
                        store=make_store(cfg, session, validator), validator=validator,
                        session=session, staging=staging)
        app[STATE] = st
        yield
        for task in list(st.tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*st.tasks, return_exceptions=True)
        await st.store.close()
        await session.close()
        st.db.close()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(images.routes)
    app.add_routes(data.routes)
    return app
