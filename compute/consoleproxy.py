"""The console proxy: a small aiohttp server on ``[compute] console_port`` that bridges
a websocket to a guest's console on this host, as Nova's noVNC and serial proxies do.

A client connects its websocket to ``/?token=<token>`` with a token from a console URL
(:mod:`compute.api.consoles`); the token is redeemed once (unknown, used or expired:
403 before any upgrade), then bytes go both ways between the websocket and the
console: the guest's VNC server (libvirt makes QEMU listen on 127.0.0.1) or its serial
pty (raw mode). noVNC's web client is served as static files from ``[compute]
novnc_dir`` (Debian's ``novnc`` package) when that directory exists, so the novnc URL
opens a page that connects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import WSMsgType, web
from yarl import URL

from common.db import Database
from compute import models as m
from compute.core import consoles
from compute.errors import Forbidden

log = logging.getLogger("compute.consoles")
DB = web.AppKey("console_db", Database)
CHUNK = 65536

Reader = Callable[[], Awaitable[bytes]]
Writer = Callable[[bytes], Awaitable[None]]


class _Pty:
    """A serial console's pty, opened raw and non-blocking, read through the loop."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        with contextlib.suppress(OSError):
            tty.setraw(self.fd)
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._ready.set)

    async def read(self) -> bytes:
        while True:
            try:
                return os.read(self.fd, CHUNK)
            except BlockingIOError:
                self._ready.clear()
                await self._ready.wait()
            except OSError:  # EIO: the guest's side is gone
                return b""

    async def write(self, data: bytes) -> None:
        while data:
            try:
                data = data[os.write(self.fd, data):]
            except BlockingIOError:
                await asyncio.sleep(0.01)

    def close(self) -> None:
        self._loop.remove_reader(self.fd)
        os.close(self.fd)


async def _to_ws(read: Reader, ws: web.WebSocketResponse) -> None:
    while data := await read():
        await ws.send_bytes(data)


async def _from_ws(ws: web.WebSocketResponse, write: Writer) -> None:
    async for msg in ws:
        if msg.type == WSMsgType.BINARY:
            await write(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await write(msg.data.encode())
        else:
            break


async def _bridge(ws: web.WebSocketResponse, read: Reader, write: Writer) -> None:
    """Both directions until either side ends."""
    tasks = [asyncio.create_task(_to_ws(read, ws)), asyncio.create_task(_from_ws(ws, write))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _session(request: web.Request, row: m.ConsoleToken) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=("binary",), max_msg_size=CHUNK * 16)
    if row.console_type == "novnc":
        try:
            reader, writer = await asyncio.open_connection(row.address, row.port)
        except OSError as exc:
            return web.Response(status=502, text=f"The server's console does not answer: {exc}")

        async def send(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        await ws.prepare(request)
        try:
            await _bridge(ws, lambda: reader.read(CHUNK), send)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    else:
        try:
            pty = _Pty(row.address)
        except OSError as exc:
            return web.Response(status=502, text=f"The server's console does not answer: {exc}")
        await ws.prepare(request)
        try:
            await _bridge(ws, pty.read, pty.write)
        finally:
            pty.close()
    await ws.close()
    log.info("console session of %s (%s) ended", row.instance_uuid, row.console_type)
    return ws


def _foreign_origin(request: web.Request) -> bool:
    """A browser's websocket opened by a page of another site (``Origin`` names a host
    other than the one it connects to): refused, before the token is spent."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return False
    return URL(origin).host_port_subcomponent != URL(f"http://{request.host}")\
        .host_port_subcomponent


async def connect(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token", "")
    if not token:
        return web.Response(status=400, text="A console token is required (?token=...).")
    if _foreign_origin(request):
        return web.Response(status=403, text="A console opens only from its own site.")
    try:
        row = await request.app[DB].run(lambda s: consoles.redeem(s, token))
    except Forbidden as exc:
        return web.Response(status=403, text=exc.message)
    log.info("console session of %s (%s)", row.instance_uuid, row.console_type)
    return await _session(request, row)


async def healthcheck(request: web.Request) -> web.Response:
    return web.Response(text="OK")


def build_app(db: Database, novnc_dir: Path | None) -> web.Application:
    app = web.Application()
    app[DB] = db
    app.router.add_get("/", connect)
    app.router.add_get("/healthcheck", healthcheck)
    if novnc_dir is not None and (novnc_dir / "vnc_lite.html").is_file():
        app.router.add_static("/", novnc_dir)
    else:
        async def no_client(request: web.Request) -> web.Response:
            return web.Response(status=404, text=(
                "noVNC's web client is not installed on this host (Debian package novnc, "
                "or [compute] novnc_dir); a websocket VNC client can still connect to / "
                "with the URL's token."))

        app.router.add_get("/vnc_lite.html", no_client)
    return app
