"""The proxy's HTTP server takes request lines holding raw UTF-8, as Swift does.

A real server (:class:`proxy.httpserver.ProxyRunner`) on loopback, spoken to
over raw sockets: the fast parser hands a connection over to the tolerant one
at the request whose line it refuses, with requests before and after it on the
same connection, pipelined or not, and heads split across reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from proxy.httpserver import ProxyRunner


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        text = f"{request.method} {request.raw_path} {len(body)}"
        return web.Response(body=text.encode("utf-8", "surrogateescape"))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = ProxyRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.addresses
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def exchange(port: int, *pieces: bytes, answers: int) -> list[tuple[int, bytes]]:
    """Send ``pieces`` (each in its own write, a little apart), read ``answers``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)
        out = []
        for _ in range(answers):
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            out.append((int(status_line.split()[1]), await reader.readexactly(length)))
        return out
    finally:
        writer.close()


def request(path: bytes, body: bytes = b"", method: bytes = b"PUT") -> bytes:
    return (method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\n\r\n" + body)


async def test_raw_utf8_after_plain_requests_on_one_connection(server: int) -> None:
    got = await exchange(server, request(b"/plain", b"abc"), request(b"/caf\xc3\xa9", b"xy"),
                         request(b"/after", b"\xff\x00"), answers=3)
    assert got == [(200, b"PUT /plain 3"), (200, "PUT /café 2".encode()),
                   (200, b"PUT /after 2")]


async def test_pipelined_and_split_heads(server: int) -> None:
    both = request(b"/one", b"1") + request(b"/\xe5\x90\x8d", b"22")
    got = await exchange(server, both, answers=2)
    assert got == [(200, b"PUT /one 1"), (200, "PUT /名 2".encode())]
    whole = request(b"/split-\xc3\xa9", b"body")
    got = await exchange(server, whole[:9], whole[9:30], whole[30:], answers=1)
    assert got == [(200, "PUT /split-é 4".encode())]


async def test_bytes_that_are_not_utf8_reach_the_application(server: int) -> None:
    """The application decides about them (the proxy answers 412)."""
    [(status, body)] = await exchange(server, request(b"/bad-\xff", method=b"GET"),
                                      answers=1)
    assert status == 200 and body == b"GET /bad-\xff 0"


async def test_what_both_parsers_refuse_stays_refused(server: int) -> None:
    [(status, _)] = await exchange(server, b"PUT /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n"
                                   b"Transfer-Encoding: gzip\r\n\r\n", answers=1)
    assert status == 400
    [(status, _)] = await exchange(server, b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
                                   answers=1)
    assert status == 400
