"""Start-up of the EC2 front: config, database, migrations, the Query API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from common import config as config_mod
from common.config import StrataConfig
from common.db import Database, migrate
from common.http import AppSettings, make_app, run_service, serve_app, setup_logging
from ec2.api import dispatch, internal
from ec2.api.auth import Verifier
from ec2.api.base import STATE, Ec2State, ec2_error_format
from ec2.core.context import Settings
from identity.client import service_validator

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def settings_of(cfg: StrataConfig) -> Settings:
    return Settings(region=cfg.region, endpoint=cfg.ec2_url(),
                    zone=cfg.blockstore.availability_zone,
                    external_network=cfg.ec2.external_network)


def build_app(cfg: StrataConfig) -> web.Application:
    app = make_app(AppSettings(
        service="ec2", error_format=ec2_error_format, max_body=cfg.ec2.max_request_body,
        # EC2's request ids are plain UUIDs, answered in x-amzn-RequestId and the body.
        request_id=lambda: str(uuid.uuid4()), request_id_headers=("x-amzn-RequestId",),
        incoming_id_headers=()))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        url = cfg.ec2_db_url()
        await asyncio.to_thread(migrate, url, MIGRATIONS)
        db = Database(url)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), cookie_jar=aiohttp.DummyCookieJar())
        validator = service_validator(cfg, session)
        verifier = Verifier(session, cfg.identity_url(), validator.service_token,
                            cache_seconds=cfg.identity.token_cache_seconds)
        app[STATE] = Ec2State(cfg=cfg, db=db, session=session, validator=validator,
                              verifier=verifier, settings=settings_of(cfg))
        try:
            yield
        finally:
            await session.close()
            db.close()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(internal.routes)
    app.add_routes(dispatch.routes)
    return app


async def serve(cfg: StrataConfig) -> None:
    await serve_app(build_app(cfg), cfg.ec2.host, cfg.ec2.port, "ec2")


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "ec2")
    run_service(serve(cfg))
