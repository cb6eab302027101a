"""common.sendfile on the loop the services really run (uvloop) and on asyncio's own."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import IO

import aiohttp
import pytest
import uvloop
from aiohttp import web

from common.sendfile import STALL_TIMEOUT, Runner, sendfile
from common.threadpool import ThreadPool
from tests.conftest import free_port

SIZE = 6 << 20
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


@contextlib.asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> AsyncIterator[int]:
    """A one-route server on a free loopback port."""
    app = web.Application()
    app.router.add_get("/f", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


def sending(open_file: Callable[[], IO[bytes]], offset: int, count: int, errors: list[str],
            run: Runner | None = None, stall_timeout: float = STALL_TIMEOUT
            ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler that sends ``count`` bytes of a file it opens, noting the errors
    ``sendfile`` raised; it closes the file itself unless ``run`` is given (then
    ``sendfile`` must)."""
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(count)})
        await resp.prepare(request)
        assert request.transport is not None
        f = open_file()
        try:
            await sendfile(request.transport, f, offset, count, stall_timeout, run)
        except (ConnectionResetError, TimeoutError) as exc:
            errors.append(type(exc).__name__)
            raise
        finally:
            if run is None:
                f.close()
        await resp.write_eof()
        return resp
    return handler


def serve_and_fetch(loop_factory: Callable[[], asyncio.AbstractEventLoop], path: Path,
                    offset: int, count: int, slow: bool) -> tuple[bytes, list[str]]:
    errors: list[str] = []
    handler = sending(lambda: path.open("rb"), offset, count, errors)

    async def main() -> bytes:
        async with serving(handler) as port, \
                aiohttp.ClientSession(read_bufsize=1 << 14) as s, \
                s.get(f"http://127.0.0.1:{port}/f") as r:
            out = bytearray()
            async for chunk in r.content.iter_chunked(1 << 14):
                out += chunk
                if slow and len(out) < (1 << 20):
                    await asyncio.sleep(0.001)  # the server meets a full socket
            return bytes(out)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main()), errors


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_sendfile_sends_exactly_the_range(tmp_path: Path, loop: str) -> None:
    data = os.urandom(SIZE)
    path = tmp_path / "blob"
    path.write_bytes(data)
    got, errors = serve_and_fetch(LOOPS[loop], path, 12345, SIZE - 20000, slow=True)
    assert errors == []
    assert got == data[12345:12345 + SIZE - 20000]


def test_sendfile_reports_a_client_that_goes_away(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(SIZE * 4))
    errors: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(SIZE * 4)})
        await resp.prepare(request)
        assert request.transport is not None
        with path.open("rb") as f:
            try:
                await sendfile(request.transport, f, 0, SIZE * 4, stall_timeout=5.0)
            except (ConnectionResetError, TimeoutError) as exc:
                errors.append(type(exc).__name__)
        return resp

    async def main() -> None:
        async with serving(handler) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.read(1 << 16)
            writer.transport.abort()  # reset: the server's next sends fail
            for _ in range(200):
                if errors:
                    break
                await asyncio.sleep(0.05)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    assert errors == ["ConnectionResetError"]


class Recorded(io.BufferedReader):
    """A file that notes which thread closed it."""

    closers: list[str]

    def close(self) -> None:
        if not self.closed:
            self.closers.append(threading.current_thread().name)
        super().close()


def recorded(path: Path) -> Recorded:
    f = Recorded(io.FileIO(path, "r"))
    f.closers = []
    return f


@pytest.mark.parametrize("loop", sorted(LOOPS))
@pytest.mark.parametrize("hang_up", [False, True])
def test_with_a_runner_the_file_is_closed_on_its_worker(tmp_path: Path, loop: str,
                                                        hang_up: bool) -> None:
    """Given ``run`` (a storage node's thread pool), ``sendfile`` closes the file
    itself, on a worker: after the last byte, or when the client went away."""
    path = tmp_path / "blob"
    data = os.urandom(SIZE * 4)
    path.write_bytes(data)
    files: list[Recorded] = []
    errors: list[str] = []

    def opened() -> Recorded:
        files.append(recorded(path))
        return files[-1]

    pool = ThreadPool(2, "sender")
    handler = sending(opened, 0, len(data), errors, run=pool.run, stall_timeout=5.0)

    async def main() -> bytes:
        async with serving(handler) as port:
            if hang_up:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n")
                await reader.read(1 << 16)
                writer.transport.abort()
                got = b""
            else:
                async with aiohttp.ClientSession() as s, \
                        s.get(f"http://127.0.0.1:{port}/f") as r:
                    got = await r.read()
            for _ in range(200):
                if files and files[0].closed:
                    break
                await asyncio.sleep(0.025)
            return got

    try:
        with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
            got = runner.run(main())
    finally:
        pool.shutdown()
    assert len(files) == 1 and files[0].closed
    assert len(files[0].closers) == 1 and files[0].closers[0].startswith("sender_")
    if hang_up:
        assert got == b"" and errors == ["ConnectionResetError"], errors
    else:
        assert got == data and errors == []
