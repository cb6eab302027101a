"""The proxy: Swift v1 API on one port, in front of the storage nodes."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from common import config as config_mod
from common.http import (
    RUNNER_OPTIONS,
    TXN_ID,
    AppSettings,
    Handler,
    make_app,
    run_service,
    serve_site,
    setup_logging,
    swift_txn_id,
)
from identity.client import service_validator
from objectstore.protocol import BACKEND_PREFIX, ring_file, ring_kinds, valid_utf8
from proxy import containers, features, objects, pipeline
from proxy.auth import identify, v1_auth
from proxy.backend import Backend
from proxy.domain_remap import Remap, domains, remap
from proxy.errors import fail, map_error, swift_error
from proxy.httpserver import ProxyRunner
from proxy.request import (
    MAX_ACCOUNT_NAME,
    MAX_CONTAINER_NAME,
    MAX_HEADER_SIZE,
    MAX_OBJECT_NAME,
    parse_path,
)
from proxy.s3.front import s3_api
from proxy.state import STATE, ProxyState
from rings.ring import Ring

log = logging.getLogger(__name__)

# What the proxy's client reads from a node: a header line (name and a value of
# up to Swift's limit, which every write is held to), and how many headers (an
# object's or a DB's metadata, at most max_meta_count of them, plus the rest).
NODE_HEADER_LIMIT = 4 * MAX_HEADER_SIZE
NODE_HEADER_COUNT = 1024


def info_document(cfg: config_mod.StrataConfig) -> dict[str, object]:
    p = cfg.proxy
    return {
        "swift": {
            "version": "2.38.0",
            "max_file_size": p.max_file_size,
            "max_meta_name_length": 128,
            "max_meta_value_length": 256,
            "max_meta_count": p.max_meta_count,
            "max_meta_overall_size": p.max_meta_overall_size,
            "max_header_size": 8192,
            "max_object_name_length": MAX_OBJECT_NAME,
            "max_container_name_length": MAX_CONTAINER_NAME,
            "max_account_name_length": MAX_ACCOUNT_NAME,
            "container_listing_limit": p.container_listing_limit,
            "account_listing_limit": p.container_listing_limit,
            "extra_header_count": 0,
            "valid_api_versions": ["v1", "v1.0"],
            "allow_account_management": False,
            "account_autocreate": p.account_autocreate,
            "allow_open_expired": p.allow_open_expired,
            "policies": [{"name": pol.name, "aliases": pol.name,
                          **({"default": True} if pol.default else {})}
                         for pol in cfg.objectstore.policies()],
            "strict_cors_mode": p.strict_cors_mode,
        },
        # account ACLs (X-Account-Access-Control), as tempauth advertises them; the
        # /auth/v1.0 login is tempauth's too
        "keystoneauth": {"account_acls": True},
        "tempauth": {"account_acls": True},
    }


def _dropped(key: str, value: str) -> bool:
    """Headers a client request loses at the door: every ``X-Backend-*`` (clients
    never speak for the backend), and a value that is not UTF-8 in any header but
    metadata and Content-Type, which the write checks refuse with Swift's 400."""
    k = key.lower()
    if k.startswith(BACKEND_PREFIX):
        return True
    return not valid_utf8(value) and not (k == "content-type" or "-meta-" in k)


async def swift_api(request: web.Request, remapped: Remap | None = None) -> web.StreamResponse:
    """A Swift v1 request (``remapped``: one whose host named its account)."""
    st = request.app[STATE]
    if any(_dropped(k, v) for k, v in request.headers.items()):
        clean = request.headers.copy()
        for k, v in list(clean.items()):
            if _dropped(k, v):
                clean.popall(k, None)
        request = request.clone(headers=clean)
    raw_path = remapped.raw_path if remapped else request.raw_path
    path = parse_path(raw_path)
    caller = await identify(request, st.validator)
    req = pipeline.from_aiohttp(request, path, caller, request[TXN_ID], raw_path)
    resp = await st.pipeline.top(req)
    if remapped:
        remapped.rewrite(resp.headers)
    return await pipeline.send(request, resp)


def domain_remapper(cfg: config_mod.StrataConfig) -> Any:
    """Swift's domain_remap (``proxy.domain_remap``) before any routing: a request to
    a host under ``storage_domain`` naming an account is a Swift request of the
    path it stands for, whatever its own path looked like."""
    suffixes = domains(cfg.proxy.storage_domain)
    default_prefix = cfg.proxy.domain_remap_default_reseller_prefix

    @web.middleware
    async def domain_remap(request: web.Request, handler: Handler) -> web.StreamResponse:
        remapped = remap(request.host, request.raw_path, suffixes, default_prefix)
        if remapped is None:
            return await handler(request)
        return await swift_api(request, remapped)

    return domain_remap


def core_handler(st: ProxyState) -> pipeline.Handler:
    """The end of the pipeline: the account, container and object controllers."""
    async def core(req: pipeline.SwiftRequest) -> pipeline.SwiftResponse:
        if req.path.kind == "object":
            return await objects.handle(st, req)
        return await containers.handle(st, req)
    return core


async def info(request: web.Request) -> web.Response:
    st = request.app[STATE]
    doc = info_document(st.cfg)
    for feature in st.pipeline.features:
        if feature.name:
            doc[feature.name] = feature.info()
    if st.cfg.proxy.storage_domain:
        doc["domain_remap"] = {"default_reseller_prefix":
                               st.cfg.proxy.domain_remap_default_reseller_prefix or None}
    return web.json_response(doc)


async def echo_keep_alive(request: web.Request, response: web.StreamResponse) -> None:
    """``Connection: keep-alive`` back to a client that asked for it, as Swift's
    server answers (aiohttp says it only to HTTP/1.0 clients)."""
    if request.keep_alive and "Connection" not in response.headers and \
            request.headers.get("Connection", "").lower() == "keep-alive":
        response.headers["Connection"] = "keep-alive"


def build_app(cfg: config_mod.StrataConfig) -> web.Application:
    app = make_app(AppSettings(
        service="proxy", error_format=swift_error, max_body=cfg.proxy.max_file_size + 1,
        request_id=swift_txn_id, request_id_headers=("X-Trans-Id", "X-Openstack-Request-Id"),
        incoming_id_headers=(), map_error=map_error,
    ))

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1024, limit_per_host=256,
                                           ttl_dns_cache=300),
            auto_decompress=False, read_bufsize=1 << 20,
            # whatever a node may send: header values up to Swift's limit, and
            # an object's or a DB's headers of every kind together
            max_line_size=NODE_HEADER_LIMIT, max_field_size=NODE_HEADER_LIMIT,
            max_headers=max(NODE_HEADER_COUNT, 2 * cfg.proxy.max_meta_count + 128),
            cookie_jar=aiohttp.DummyCookieJar())  # no cookies between our services
        rings = {kind: Ring(ring_file(cfg, kind), cfg.hash_prefix(), cfg.hash_suffix(),
                            reload_interval=15.0) for kind in ring_kinds(cfg)}
        validator = service_validator(cfg, session)
        app[STATE] = ProxyState(
            cfg=cfg, backend=Backend(session, cfg.objectstore.conn_timeout,
                                     cfg.objectstore.node_timeout),
            rings=rings, validator=validator)
        st = app[STATE]
        enabled = features.enabled(st)
        st.pipeline = pipeline.Pipeline(enabled, core_handler(st), features.s3_entry(enabled))
        yield
        await session.close()

    async def auth_v1(request: web.Request) -> web.Response:
        st = request.app[STATE]
        return await v1_auth(request, st.backend.session, st.identity_url, cfg.proxy_url())

    async def method_not_allowed(request: web.Request) -> web.Response:
        raise fail(405)

    app.cleanup_ctx.append(lifecycle)
    app.on_response_prepare.append(echo_keep_alive)
    if cfg.proxy.storage_domain:
        app.middlewares.append(domain_remapper(cfg))
    app.router.add_get("/info", info)
    app.router.add_get("/auth/v1.0", auth_v1)
    app.router.add_get("/auth/v1.0/", auth_v1)
    for version in ("/v1", "/v1.0"):
        app.router.add_route("*", version, swift_api)  # 412 Bad URL, as Swift
        app.router.add_route("*", version + "/{tail:.*}", swift_api)
    app.router.add_route("*", "/{tail:.*}", s3_api)  # everything else: the S3 front
    return app


def _listen(cfg: config_mod.StrataConfig) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((cfg.proxy.host, cfg.proxy.port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def serve(cfg: config_mod.StrataConfig, sock: socket.socket) -> None:
    app = build_app(cfg)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    runner = ProxyRunner(app, **RUNNER_OPTIONS)
    await runner.setup()
    try:
        await serve_site(runner, web.SockSite(runner, sock))
    except asyncio.CancelledError:
        log.info("proxy worker %d stopping", os.getpid())


def _worker(cfg: config_mod.StrataConfig, sock: socket.socket) -> None:
    setup_logging(cfg.log_level, "proxy")
    run_service(serve(cfg, sock))


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "proxy")
    sock = _listen(cfg)
    log.info("proxy listening on http://%s:%d with %d worker(s)", cfg.proxy.host,
             cfg.proxy.port, cfg.proxy.workers)
    if cfg.proxy.workers <= 1:
        run_service(serve(cfg, sock))
        return
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_worker, args=(cfg, sock), daemon=True)
               for _ in range(cfg.proxy.workers)]
    for w in workers:
        w.start()

    def stop(signum: int, frame: object) -> None:
        for w in workers:
            if w.pid:
                os.kill(w.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for w in workers:
        w.join()
