"""The Images API v2 (Glance compatible) of the image service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from common.config import StrataConfig, resolve
from common.db import Database, migrate
from common.http import AppSettings, make_app
from identity.client import TokenValidator, service_validator
from imagestore.api import data, images, metadefs, tasks
from imagestore.api.base import STATE, glance_error_format_for
from imagestore.state import ImageState
from imagestore.stores.base import ImageStore
from imagestore.stores.filesystem import FilesystemStore
from imagestore.stores.swift import SwiftStore
from proxy.client import service_account

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_store(cfg: StrataConfig, session: aiohttp.ClientSession,
               validator: TokenValidator) -> ImageStore:
    im = cfg.imagestore
    if im.store == "file":
        default = str(cfg.var_path / "imagestore" / "images")
        return FilesystemStore(resolve(cfg.home, im.file_store_dir or default))
    # the service user's account, asked on first use: identity may not be ready to
    # tell the service project's id while the services start together
    return SwiftStore(cfg.proxy_url(), validator.service_token, service_account(validator),
                      container=im.swift_container, segment_size=im.segment_size,
                      session=session)


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
        validator = service_validator(cfg, session)
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
    app.add_routes(tasks.routes)
    app.add_routes(metadefs.routes)
    return app
