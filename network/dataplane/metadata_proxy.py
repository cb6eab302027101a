"""The metadata proxy: runs inside a router or DHCP namespace, answers guests
at 169.254.169.254:80 and forwards each request to the metadata service's
UNIX socket on the host (namespaces share the file system), saying who asks:
``X-Forwarded-For`` (the guest's address, as the namespace sees it) and
``X-Neutron-Router-ID`` or ``X-Neutron-Network-ID`` (where it asks from), as
Neutron's proxy does. Headers of those names that a guest sends are dropped,
so a guest cannot pose as another.

Started by the data path as ``ip netns exec <ns> python -m
network.dataplane.metadata_proxy ...``; it writes one byte to ``--ready-fd``
once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence

import aiohttp
from aiohttp import web

log = logging.getLogger("network.dataplane.metadata_proxy")

# Hop-by-hop headers (RFC 9110 7.6.1) and those the proxy sets itself.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "proxy-authorization", "proxy-authenticate"}
IDENTITY_HEADERS = {"x-forwarded-for", "x-neutron-router-id", "x-neutron-network-id",
                    "x-instance-id", "x-instance-id-signature", "x-tenant-id"}
UPSTREAM_TIMEOUT = 30.0

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
IDENTITY: web.AppKey[tuple[str, str]] = web.AppKey("identity", tuple)


def forward_headers(headers: Mapping[str, str], remote: str,
                    identity: tuple[str, str]) -> dict[str, str]:
    """The headers sent upstream: the client's, less hop-by-hop and identity
    headers, plus who asks."""
    out = {k: v for k, v in headers.items()
           if k.lower() not in HOP_BY_HOP | IDENTITY_HEADERS | {"content-length"}}
    out["X-Forwarded-For"] = remote
    out[identity[0]] = identity[1]
    return out


async def _proxy(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION]
    body = await request.read()
    headers = forward_headers(request.headers, request.remote or "", request.app[IDENTITY])
    try:
        async with session.request(request.method, f"http://metadata{request.path_qs}",
                                   headers=headers, data=body or None,
                                   allow_redirects=False) as upstream:
            data = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items()
                           if k.lower() not in HOP_BY_HOP | {"content-length"}}
            return web.Response(status=upstream.status, body=data, headers=out_headers)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("metadata upstream failed: %s", exc)
        return web.Response(status=503, text="Metadata service unavailable\n")


def make_app(upstream_socket: str, identity: tuple[str, str]) -> web.Application:
    app = web.Application()
    app[IDENTITY] = identity

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.UnixConnector(path=upstream_socket)
        async with aiohttp.ClientSession(
                connector=connector, auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT)) as session:
            app[SESSION] = session
            yield

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", _proxy)
    return app


async def serve(args: argparse.Namespace) -> None:
    identity = (("X-Neutron-Router-ID", args.router_id) if args.router_id
                else ("X-Neutron-Network-ID", args.network_id))
    runner = web.AppRunner(make_app(args.upstream, identity), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, args.listen, args.port, reuse_address=True)
        await site.start()
        if args.ready_fd is not None:
            os.write(args.ready_fd, b"1")
            os.close(args.ready_fd)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="metadata_proxy", description=__doc__)
    parser.add_argument("--listen", default="169.254.169.254")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--upstream", required=True, help="the metadata service's UNIX socket")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--router-id")
    who.add_argument("--network-id")
    parser.add_argument("--owner", default="", help="marks the process as a data path's")
    parser.add_argument("--ready-fd", type=int)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
