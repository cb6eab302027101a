"""The metadata proxy on its own: the real process on loopback in front of a
real aiohttp server on a UNIX socket (in the data path it listens on
169.254.169.254 inside a router or DHCP namespace; see test_dataplane.py)."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import free_port


class Upstream:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers), body))
        if request.path == "/gone":
            return web.Response(status=404, text="not here")
        if request.path == "/zipped":
            return web.Response(body=gzip.compress(b"packed"),
                                headers={"Content-Encoding": "gzip"})
        return web.Response(text=f"{request.method} {request.path_qs} {body.decode()}",
                            headers={"X-Upstream": "yes"})


async def _start_proxy(socket_path: Path, port: int, *who: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "network.dataplane.metadata_proxy",
                             "--listen", "127.0.0.1", "--port", str(port),
                             "--upstream", str(socket_path), *who])
    for _ in range(100):
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return proc
    proc.kill()
    raise AssertionError("the metadata proxy did not start")


@pytest.fixture
async def upstream(tmp_path: Path) -> AsyncIterator[tuple[Upstream, Path, web.AppRunner]]:
    up = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", up.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    path = tmp_path / "md.sock"
    await web.UnixSite(runner, str(path)).start()
    yield up, path, runner
    await runner.cleanup()


async def test_forwards_with_identity_and_drops_forged_headers(
        upstream: tuple[Upstream, Path, web.AppRunner]) -> None:
    up, path, _runner = upstream
    port = free_port()
    proc = await _start_proxy(path, port, "--router-id", "router-1")
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            forged = {"X-Forwarded-For": "10.0.0.99", "X-Neutron-Router-ID": "other",
                      "X-Neutron-Network-ID": "other", "X-Instance-ID": "i-other",
                      "Accept": "application/json"}
            url = f"http://127.0.0.1:{port}"
            async with session.get(f"{url}/openstack/latest/meta_data.json?a=1",
                                   headers=forged) as resp:
                assert resp.status == 200
                assert await resp.text() == "GET /openstack/latest/meta_data.json?a=1 "
                assert resp.headers["X-Upstream"] == "yes"
            headers = up.seen[-1][2]
            assert headers["X-Forwarded-For"] == "127.0.0.1"
            assert headers["X-Neutron-Router-ID"] == "router-1"
            assert "X-Neutron-Network-ID" not in headers
            assert "X-Instance-ID" not in headers
            assert headers["Accept"] == "application/json"
            async with session.post(f"{url}/openstack/latest/password", data=b"secret") as resp:
                assert await resp.text() == "POST /openstack/latest/password secret"
            async with session.get(f"{url}/gone") as resp:
                assert (resp.status, await resp.text()) == (404, "not here")
            async with session.get(f"{url}/zipped") as resp:  # passed through as it came
                assert resp.headers["Content-Encoding"] == "gzip"
                assert gzip.decompress(await resp.read()) == b"packed"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


async def test_network_identity_and_upstream_down(
        upstream: tuple[Upstream, Path, web.AppRunner]) -> None:
    up, path, runner = upstream
    port = free_port()
    proc = await _start_proxy(path, port, "--network-id", "net-1")
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/latest/meta-data/"
            async with session.get(url) as resp:
                assert resp.status == 200
            headers = up.seen[-1][2]
            assert headers["X-Neutron-Network-ID"] == "net-1"
            assert "X-Neutron-Router-ID" not in headers
            await runner.cleanup()  # the metadata service goes away
            async with session.get(url) as resp:
                assert resp.status == 503
    finally:
        proc.terminate()
        proc.wait(10)
