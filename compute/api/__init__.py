"""The Nova v2.1 compatible compute API, and everything the compute process runs beside
it: the conductor (scheduling), this host's agent, and the metadata service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from common.config import StrataConfig
from common.db import Database, migrate
from common.http import RUNNER_OPTIONS, AppSettings, make_app
from compute import consoleproxy
from compute.agent.context import AgentContext
from compute.agent.networks import network_data
from compute.agent.runner import ComputeAgent
from compute.api import (
    actions,
    consoles,
    flavors,
    groups,
    hosts,
    interfaces,
    keypairs,
    quotas,
    servers,
    versions,
)
from compute.api import metadata as metadata_api
from compute.api.base import AGENT, STATE, microversion_middleware, nova_error_format_for
from compute.conductor import Conductor
from compute.core import flavors as flavor_rules
from compute.core.metadata import ec2_ids, find_by_ip
from compute.state import ComputeState
from compute.virt.driver import VirtDriver
from compute.virt.imagecache import ImageCache
from identity.client import service_validator

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
log = logging.getLogger("compute")


def host_ip(cfg: StrataConfig) -> str:
    """The address this host is reached at (the compute API's, unless it is a wildcard)."""
    host = cfg.compute.host
    if host in ("0.0.0.0", "::", ""):
        with contextlib.suppress(OSError):
            return socket.gethostbyname(socket.gethostname())
        return "127.0.0.1"
    return host


async def _start_metadata(cfg: StrataConfig, st: ComputeState,
                          agent_ctx: AgentContext | None) -> web.AppRunner:
    """The metadata service on its TCP port and on the UNIX socket the data path's
    proxies forward to."""
    async def finder(ip: str, network_id: str | None,
                     router_id: str | None) -> metadata_api.Found | None:
        port: dict[str, Any] | None = None
        if cfg.network.enabled:
            port = await st.network().find_port_by_ip(ip, network_id=network_id,
                                                      router_id=router_id)
            if port is None:
                return None
            networks = [str(port["network_id"])]
        else:
            networks = [network_id] if network_id else []
        inst = await st.db.run(lambda s: find_by_ip(s, ip, networks))
        if inst is None or (port is not None and port.get("device_id") != inst.uuid):
            return None
        data = await network_data(agent_ctx, inst) if agent_ctx is not None else {}
        public = ""
        if port is not None:
            fips = await st.network().list_floating_ips(port_id=port["id"])
            public = next((str(f["floating_ip_address"]) for f in fips
                           if f.get("fixed_ip_address") == ip), "")
        return metadata_api.Found(inst, data, public, await ec2_ids(st.ec2(), inst, st.ec2_ids))

    runner = web.AppRunner(metadata_api.build_app(finder), **RUNNER_OPTIONS)
    await runner.setup()
    c = cfg.compute
    await web.TCPSite(runner, c.metadata_host, c.metadata_port, reuse_address=True).start()
    path = cfg.metadata_socket_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    await web.UnixSite(runner, str(path)).start()
    os.chmod(path, 0o666)  # the proxies run as root; readable by the host only anyway
    log.info("metadata service on http://%s:%d and %s", c.metadata_host, c.metadata_port,
             path)
    return runner


async def _start_console_proxy(cfg: StrataConfig, db: Database) -> web.AppRunner:
    """The console proxy on its own port: websockets to this host's guests' consoles."""
    c = cfg.compute
    novnc = Path(c.novnc_dir) if c.novnc_dir else None
    runner = web.AppRunner(consoleproxy.build_app(db, novnc), **RUNNER_OPTIONS)
    await runner.setup()
    await web.TCPSite(runner, c.console_host, c.console_port, reuse_address=True).start()
    log.info("console proxy on http://%s:%d (noVNC %s)", c.console_host, c.console_port,
             novnc if novnc and (novnc / "vnc_lite.html").is_file() else "not installed")
    return runner


def build_app(cfg: StrataConfig, driver: VirtDriver | None = None) -> web.Application:
    """The compute API; with ``driver``, this host's agent runs in the same process."""
    c = cfg.compute
    app = make_app(AppSettings(service="compute", max_body=c.max_request_body,
                               error_format=nova_error_format_for(cfg.identity_url())))
    app.middlewares.append(microversion_middleware)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        url = cfg.compute_db_url()
        await asyncio.to_thread(migrate, url, MIGRATIONS)
        db = Database(url)
        made = await db.run(flavor_rules.ensure_bootstrap)
        if made:
            log.info("bootstrap: flavors %s", ", ".join(made))
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), cookie_jar=aiohttp.DummyCookieJar())
        validator = service_validator(cfg, session)
        st = ComputeState(cfg=cfg, db=db, validator=validator, session=session)
        agent: ComputeAgent | None = None
        ctx: AgentContext | None = None
        host = cfg.compute_agent_host()
        if driver is not None:
            ctx = AgentContext(st=st, driver=driver,
                               cache=ImageCache(cfg.image_cache_path,
                                                "raw" if c.image_cache_format == "raw"
                                                else "qcow2"),
                               host=host, instances_dir=cfg.instances_path,
                               host_ip=host_ip(cfg),
                               builds=asyncio.Semaphore(c.max_concurrent_builds))
            agent = ComputeAgent(ctx)
        conductor = Conductor(db, c, host=host,
                              tell_agent=lambda h: agent.wake() if agent and agent.host == h
                              else None)

        def nudge(target: str | None) -> None:
            if target is None:
                conductor.wake()
            elif agent is not None and agent.host == target:
                agent.wake()

        st.nudge = nudge
        app[STATE] = st
        if agent is not None:
            app[AGENT] = agent
            await agent.start()
        await conductor.start()
        metadata = await _start_metadata(cfg, st, ctx)
        proxy = await _start_console_proxy(cfg, db) if agent is not None else None
        try:
            yield
        finally:
            if proxy is not None:
                await proxy.cleanup()
            await metadata.cleanup()
            await conductor.stop()
            if agent is not None:
                await agent.stop()
            await session.close()
            db.close()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(versions.routes)
    for mod in (servers, actions, interfaces, consoles, flavors, keypairs, quotas, hosts,
                groups):
        app.add_routes(mod.routes.table)
    return app
