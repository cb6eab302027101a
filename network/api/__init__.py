"""The Networking API v2.0 (Neutron compatible) of the networking service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from common.config import StrataConfig
from common.db import Database, migrate
from common.errors import StrataError
from common.http import AppSettings, make_app
from identity.client import service_validator
from network import bootstrap
from network.agent import HostAgent, load_dataplane
from network.api import misc, networks, ports, routers, security_groups
from network.api.base import STATE, NetState, neutron_error_format_for
from network.api.resources import add_routes

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
UNIX_PATH_MAX = 107  # bytes of a UNIX socket's path (sun_path, less its NUL)
BOOTSTRAP_WAIT = 45.0  # seconds start-up waits for identity before going on without it
log = logging.getLogger(__name__)


async def _bootstrap_once(st: NetState) -> None:
    projects = await bootstrap.find_projects(st.session, st.cfg)
    made = await st.db.run(lambda s: bootstrap.ensure(
        s, st.cfg, st.host, projects, instant_active=st.agent is None))
    if made:
        log.info("bootstrap: made %s", ", ".join(made))
        st.wake()


async def run_bootstrap(st: NetState, wait: float) -> bool:
    """Bootstrap, retrying while identity is not there yet, for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    delay = 0.2
    while True:
        try:
            await _bootstrap_once(st)
            return True
        except StrataError as exc:
            if time.monotonic() + delay > deadline:
                log.warning("bootstrap: not done yet (%s); trying again in the background",
                            exc)
                return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


def metadata_socket(cfg: StrataConfig) -> str:
    """Where the data path's metadata proxies send guests' requests: the metadata
    service's UNIX socket (``[compute] metadata_socket``); '' (no proxies) when the
    path is too long for a UNIX socket address."""
    path = str(cfg.metadata_socket_path)
    if len(os.fsencode(path)) > UNIX_PATH_MAX:
        log.error("metadata for guests is off: the socket path %s is longer than %d bytes; "
                  "set [compute] metadata_socket to a shorter one", path, UNIX_PATH_MAX)
        return ""
    return path


def build_app(cfg: StrataConfig) -> web.Application:
    net = cfg.network
    app = make_app(AppSettings(
        service="network", max_body=net.max_request_body,
        error_format=neutron_error_format_for(cfg.identity_url()),
    ))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        url = cfg.network_db_url()
        await asyncio.to_thread(migrate, url, MIGRATIONS)
        db = Database(url)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=32), cookie_jar=aiohttp.DummyCookieJar())
        validator = service_validator(cfg, session)
        st = NetState(cfg=cfg, db=db, validator=validator, session=session,
                      host=cfg.network_agent_host())
        if net.dataplane:
            plane = await load_dataplane(cfg.network_instance(), cfg.var_path / "network")
            if plane is not None:
                # guests' metadata requests go to compute's metadata service, when
                # this cloud runs one
                # (or to the socket configured for it: a stand-in, in the tests)
                wanted = cfg.compute.enabled or bool(cfg.compute.metadata_socket)
                socket = metadata_socket(cfg) if wanted else ""
                st.agent = HostAgent(db, plane, instance=cfg.network_instance(),
                                     host=st.host, resync_interval=net.resync_interval,
                                     metadata_socket=socket)
        else:
            log.info("the network data path is off ([network] dataplane = false)")
        app[STATE] = st
        background: asyncio.Task[None] | None = None
        if net.bootstrap and not await run_bootstrap(st, BOOTSTRAP_WAIT):
            async def keep_trying() -> None:
                while not await run_bootstrap(st, 60.0):
                    pass

            background = asyncio.create_task(keep_trying())
        if st.agent is not None:
            await st.agent.start()
        try:
            yield
        finally:
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
            if st.agent is not None:
                await st.agent.stop()
            await session.close()
            db.close()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(misc.routes)
    app.add_routes(routers.routes)
    for kind in (*networks.KINDS, *ports.KINDS, *routers.KINDS, *security_groups.KINDS):
        add_routes(app, kind)
    return app
