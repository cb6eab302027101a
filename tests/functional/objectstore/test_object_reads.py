"""How a storage node reads a large object out: one hand-off to a worker thread per
GET, and every file it opens closed again, whatever the client does.

A read of an object above ``VERIFY_ON_READ`` reads its state and opens its file
on the event loop (quick calls, as Swift's object server makes them in its hub),
then sends and closes it on a single worker thread: before, the open, the send
and the close each went to a thread of their own, and a multipart object's GET,
eight such reads, paid the round trips eight times over (docs/architecture.md,
"Storage node"). Real node app, disk backend, over loopback HTTP, on uvloop (what
the services run: the worker sends with ``os.sendfile``) and on asyncio's loop
(whose own ``loop.sendfile`` sends from the loop; the worker then only closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop
from aiohttp.test_utils import TestServer

from common.timestamp import normalize
from objectstore.node import NODE, NodeContext
from objectstore.object_server import VERIFY_ON_READ
from tests.functional.objectstore.node_server import running_node

OBJ = "/objects/d1/1/a/c/big"
SIZE = VERIFY_ON_READ * 3 + 12345
DATA = os.urandom(SIZE)


LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}
# The one call a large GET hands to a worker, on each loop.
WORKER_CALL = {"uvloop": "_sendfile_blocking", "asyncio": "close"}


class CountingNode:
    """The node under test, with its worker-thread calls counted by function name."""

    def __init__(self, server: TestServer, session: aiohttp.ClientSession) -> None:
        self.server, self.session = server, session
        self.ctx: NodeContext = server.app[NODE]
        self.calls: list[str] = []
        real = self.ctx.executor.run

        async def counted(fn: Callable[..., Any], *args: Any) -> Any:
            self.calls.append(getattr(fn, "__name__", repr(fn)))
            return await real(fn, *args)

        self.ctx.executor.run = counted  # type: ignore[method-assign]

    def url(self, path: str = OBJ) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"


def open_files(root: Path) -> int:
    """How many descriptors of this process name files under ``root``."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(root)):
                n += 1
        except OSError:
            pass
    return n


@contextlib.asynccontextmanager
async def large_object_node(root: Path) -> AsyncIterator[CountingNode]:
    """A node holding ``DATA`` at ``OBJ``, its worker calls counted from here on."""
    async with running_node(root) as (server, session):
        node = CountingNode(server, session)
        headers = {"X-Timestamp": normalize(1_700_000_000), "Content-Type": "x/y",
                   "ETag": hashlib.md5(DATA).hexdigest()}
        async with session.put(node.url(), data=DATA, headers=headers) as r:
            assert r.status == 201, await r.text()
        node.calls.clear()
        yield node


async def all_closed(root: Path) -> int:
    """Wait (up to 5 s) for the node to close every file it opened under ``root``
    (it closes after the last byte goes out: the client may have it first); how
    many stay open."""
    for _ in range(100):
        if open_files(root) == 0:
            return 0
        await asyncio.sleep(0.05)
    return open_files(root)


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_large_get_hands_one_call_to_a_worker_and_closes_its_file(
        tmp_path: Path, loop: str) -> None:
    async def main() -> None:
        async with large_object_node(tmp_path) as node:
            async with node.session.get(node.url()) as r:
                assert r.status == 200
                assert await r.read() == DATA
            assert await all_closed(tmp_path) == 0
            assert node.calls == [WORKER_CALL[loop]]  # not open, send and close: three

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(main())


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_a_ranged_get_too(tmp_path: Path, loop: str) -> None:
    middle = f"bytes={VERIFY_ON_READ}-{VERIFY_ON_READ * 2}"
    ranges = {"bytes=100-": DATA[100:], "bytes=-5000": DATA[-5000:],
              middle: DATA[VERIFY_ON_READ:VERIFY_ON_READ * 2 + 1]}

    async def main() -> None:
        async with large_object_node(tmp_path) as node:
            for header, want in ranges.items():
                node.calls.clear()
                async with node.session.get(node.url(), headers={"Range": header}) as r:
                    assert r.status == 206
                    assert await r.read() == want
                assert await all_closed(tmp_path) == 0
                assert node.calls == [WORKER_CALL[loop]], header

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(main())


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_gets_that_end_early_leave_no_file_open(tmp_path: Path, loop: str) -> None:
    """A multi-range GET, a HEAD, a 304, a 416 and clients that hang up mid-body: no
    descriptor of the object's file outlives its request."""
    async def main() -> None:
        async with large_object_node(tmp_path) as node:
            async with node.session.get(node.url(),
                                        headers={"Range": "bytes=0-9,20-29"}) as r:
                assert r.status == 206
                assert r.headers["Content-Type"].startswith("multipart/byteranges")
                await r.read()
            etag = hashlib.md5(DATA).hexdigest()
            for method, headers, status in (
                    ("HEAD", {}, 200), ("GET", {"If-None-Match": etag}, 304),
                    ("GET", {"Range": f"bytes={SIZE}-"}, 416)):
                async with node.session.request(method, node.url(), headers=headers) as r:
                    assert r.status == status
                    await r.read()
            for _ in range(5):
                reader, writer = await asyncio.open_connection("127.0.0.1", node.server.port)
                writer.write(f"GET {OBJ} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                await reader.read(1 << 16)  # the head and the first bytes, then hang up
                writer.transport.abort()
            assert await all_closed(tmp_path) == 0  # the sends see the reset, give up
            async with node.session.get(node.url()) as r:  # and the node serves on
                assert await r.read() == DATA

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(main())
