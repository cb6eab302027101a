"""One real storage-node app (``objectstore.server.build_app``) on loopback, for tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from objectstore.diskfile import ObjectBackend
from objectstore.node import NodeContext
from objectstore.server import build_app


@contextlib.asynccontextmanager
async def running_node(root: Path, backend: ObjectBackend | None = None
                       ) -> AsyncIterator[tuple[TestServer, aiohttp.ClientSession]]:
    """A node with device ``d1`` under ``root`` (the disk backend unless ``backend``),
    and a client session to call it with."""
    (root / "d1").mkdir()
    ctx = NodeContext(devices=root, hash_prefix=b"p", hash_suffix=b"s",
                      node_timeout=2.0, conn_timeout=0.5)
    server = TestServer(build_app(ctx, backend), host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    try:
        yield server, session
    finally:
        await session.close()
        await server.close()
