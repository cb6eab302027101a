"""One storage node: account, container and object servers on one aiohttp server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from common import config as config_mod
from common.http import (
    ApiError,
    AppSettings,
    client_gone,
    make_app,
    run_app,
    run_service,
    setup_logging,
    swift_txn_id,
)
from objectstore import (
    account_server,
    auditor,
    container_server,
    db_replication_server,
    db_replicator,
    expirer,
    object_server,
    replication_server,
    replicator,
    updater,
)
from objectstore.diskfile import DiskBackend, ObjectBackend
from objectstore.node import NODE, NodeContext, node_root
from objectstore.updates import ContainerUpdates

log = logging.getLogger(__name__)


def text_error(request: web.Request, err: ApiError) -> web.Response:
    """The node's error format: its handlers raise ``common.errors`` classes
    (:mod:`objectstore.errors`), answered as their message in plain text; with no
    message, a bare status and headers (no body, no Content-Type). Storage nodes
    answer only the proxy and each other: nothing more is needed."""
    if not err.message:
        return web.Response(status=err.status, headers=err.headers)
    return web.Response(status=err.status, text=err.message, headers=err.headers)


def node_settings() -> AppSettings:
    """How a storage node's application is made (``common.http.make_app``): its
    errors mapped by the common middleware and rendered by :func:`text_error`."""
    return AppSettings(
        service="storage", error_format=text_error, max_body=1 << 40,
        request_id=swift_txn_id, request_id_headers=("X-Trans-Id",),
        incoming_id_headers=("X-Trans-Id",), map_error=client_gone,
        quiet_prefixes=("/replicate/",),
    )


def build_app(node: NodeContext, backend: ObjectBackend | None = None) -> web.Application:
    app = make_app(node_settings())
    app[NODE] = node
    base = backend or DiskBackend(node.devices)
    app[object_server.BACKEND] = base
    app[object_server.BACKENDS] = {i: base.for_policy(i) for i in range(len(node.policies))}
    app[object_server.UPDATES] = ContainerUpdates(node)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        await node.close()

    app.cleanup_ctx.append(lifecycle)
    object_server.add_routes(app)
    container_server.add_routes(app)
    account_server.add_routes(app)
    db_replication_server.add_routes(app)
    replication_server.add_routes(app)
    return app


def node_context(cfg: config_mod.StrataConfig, node: int) -> NodeContext:
    osc = cfg.objectstore
    return NodeContext(devices=node_root(cfg, node), hash_prefix=cfg.hash_prefix(),
                       hash_suffix=cfg.hash_suffix(), node_timeout=osc.node_timeout,
                       conn_timeout=osc.conn_timeout, workers=osc.io_threads,
                       aio_fsync=osc.aio_fsync,
                       reclaim_age=osc.reclaim_age, max_meta_count=cfg.proxy.max_meta_count,
                       max_meta_overall_size=cfg.proxy.max_meta_overall_size,
                       policies=tuple(p.name for p in osc.policies()))


async def serve(cfg: config_mod.StrataConfig, node: int) -> None:
    ctx = node_context(cfg, node)
    app = build_app(ctx)
    for daemon in (db_replicator, updater, expirer, replicator, auditor):
        app.cleanup_ctx.append(daemon.daemon_ctx(cfg, node))
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    port = cfg.objectstore.port + node - 1
    log.info("storage node %d listening on http://%s:%d, devices %s", node,
             cfg.objectstore.host, port, ctx.devices)
    try:
        await run_app(app, cfg.objectstore.host, port)
    except asyncio.CancelledError:
        log.info("storage node %d stopping", node)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one Strata storage node.")
    parser.add_argument("--node", type=int, required=True, help="node number, from 1")
    args = parser.parse_args()
    cfg = config_mod.load()
    if not 1 <= args.node <= cfg.objectstore.nodes:
        parser.error(f"--node must be between 1 and {cfg.objectstore.nodes}")
    setup_logging(cfg.log_level, f"storage-{args.node}")
    run_service(serve(cfg, args.node))
