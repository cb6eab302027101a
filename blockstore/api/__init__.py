"""The Block Storage API v3 (Cinder compatible) of the block store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from blockstore.api import (
    actions,
    backups,
    groups,
    manage,
    messages,
    misc,
    qos,
    quotas,
    snapshots,
    transfers,
    types,
    volumes,
)
from blockstore.api.base import STATE, cinder_error_format_for, microversion_middleware
from blockstore.backends import FileBackend, MemoryBackend, VolumeBackend
from blockstore.backups import BackupEngine
from blockstore.core import types as type_rules
from blockstore.manager import VolumeManager
from blockstore.state import BlockState
from blockstore.targets import TargetDriver, TgtDaemon, TgtdKeeper, select_driver
from common.config import StrataConfig, resolve
from common.db import Database, migrate
from common.http import AppSettings, make_app
from identity.client import service_validator
from proxy.client import SwiftClient

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_backend(cfg: StrataConfig) -> VolumeBackend:
    bs = cfg.blockstore
    if bs.backend == "memory":
        return MemoryBackend()
    return FileBackend(resolve(cfg.home, bs.volumes_dir or str(cfg.var_path / "volumes")))


def make_target(cfg: StrataConfig) -> tuple[TargetDriver, TgtdKeeper | None]:
    """The target driver, and the keeper of our own tgtd when the driver is tgt."""
    bs = cfg.blockstore
    control = bs.tgtd_control_port or bs.iscsi_port
    driver = select_driver(portal_address=bs.iscsi_ip, portal_port=bs.iscsi_port,
                           tgt_control_port=control, prefer=bs.target_driver or None)
    if driver.name != "tgt" or not bs.manage_tgtd:
        return driver, None
    log_dir = cfg.var_path / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    daemon = TgtDaemon(portal_address=bs.iscsi_ip, portal_port=bs.iscsi_port,
                       control_port=control, log_path=log_dir / "tgtd.log")
    return driver, TgtdKeeper(daemon, driver)


def build_app(cfg: StrataConfig) -> web.Application:
    bs = cfg.blockstore
    app = make_app(AppSettings(
        service="blockstore",
        max_body=bs.max_request_body,
        error_format=cinder_error_format_for(cfg.identity_url()),
    ))
    app.middlewares.append(microversion_middleware)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        url = cfg.blockstore_db_url()
        await asyncio.to_thread(migrate, url, MIGRATIONS)
        db = Database(url)
        await db.run(lambda s: type_rules.ensure_default_type(s, bs.default_volume_type))
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), cookie_jar=aiohttp.DummyCookieJar())
        validator = service_validator(cfg, session)
        driver, keeper = make_target(cfg)
        engine = None
        if cfg.proxy.enabled:  # backups live in the object store
            engine = BackupEngine(SwiftClient.for_service(cfg.proxy_url(), validator,
                                                          session=session),
                                  chunk_size=bs.backup_chunk_mib << 20)
        manager = VolumeManager(db, make_backend(cfg), driver,
                                staging=cfg.var_path / "blockstore" / "staging",
                                keeper=keeper, check_interval=bs.target_check_interval,
                                backups=engine, message_ttl=bs.message_ttl)
        await manager.start()
        app[STATE] = BlockState(cfg=cfg, db=db, manager=manager, validator=validator,
                                session=session)
        try:
            yield
        finally:
            await manager.stop()
            await session.close()
            db.close()

    app.cleanup_ctx.append(lifecycle)
    for mod in (misc, types, qos, quotas, volumes, actions, snapshots, transfers, backups,
                groups, messages, manage):
        app.add_routes(mod.routes)
    return app
