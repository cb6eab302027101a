"""A three-node storage cluster on loopback for the daemons' tests.

Each node is the real storage-node app (:func:`objectstore.server.build_app`)
on its own port with one device ``d<i>`` under ``<tmp>/node<i>/``; rings
(account, container, object; 3 replicas, part power 4) place everything on
all three devices.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from common import timestamp as tsmod
from objectstore.db import AccountBroker, ContainerBroker
from objectstore.listing import db_path
from objectstore.node import NodeContext
from objectstore.server import build_app
from rings.builder import RingBuilder
from rings.ring import Ring

PREFIX, SUFFIX = b"p", b"s"


BASE = int(time.time()) - 1000  # recent: nothing here is old enough to be reclaimed


async def settled(done: Callable[[], bool], seconds: float = 2.0) -> bool:
    """Whether ``done`` holds within ``seconds`` (checked every 20 ms): for what a node
    does soon after it answers, such as removing the files a write made obsolete."""
    for _ in range(int(seconds / 0.02)):
        if done():
            return True
        await asyncio.sleep(0.02)
    return done()


def ts(n: float) -> str:
    return tsmod.normalize(BASE + n)


@dataclass
class Cluster:
    root: Path
    nodes: list[NodeContext]
    ports: list[int]
    rings: dict[str, Ring]
    session: aiohttp.ClientSession
    servers: list[TestServer]

    def device(self, i: int) -> str:
        return f"d{i + 1}"

    def device_path(self, i: int) -> Path:
        return self.nodes[i].devices / self.device(i)

    def container_path(self, i: int, account: str, container: str,
                       device: str | None = None) -> Path:
        part = self.rings["container"].get_part(account, container)
        dev = self.nodes[i].devices / (device or self.device(i))
        return db_path(self.nodes[i], dev, "containers", str(part), account, container)

    def account_path(self, i: int, account: str) -> Path:
        part = self.rings["account"].get_part(account)
        return db_path(self.nodes[i], self.device_path(i), "accounts", str(part), account)

    def container(self, i: int, account: str, container: str,
                  device: str | None = None) -> ContainerBroker:
        return ContainerBroker(self.container_path(i, account, container, device))

    def account(self, i: int, account: str) -> AccountBroker:
        return AccountBroker(self.account_path(i, account))

    async def request(self, method: str, i: int, path: str,
                      headers: dict[str, str] | None = None,
                      body: Any = None) -> tuple[int, bytes]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        async with self.session.request(method, f"http://127.0.0.1:{self.ports[i]}{path}",
                                        headers=headers or {}, data=data) as r:
            return r.status, await r.read()


def listening_socket() -> socket.socket:
    """A TCP socket bound to a port of 127.0.0.1 the kernel chose."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _bound(sock: socket.socket, host: str, port: int, family: socket.AddressFamily
           ) -> socket.socket:
    return sock


@asynccontextmanager
async def cluster(tmp: Path, extra_devices: tuple[str, ...] = ()) -> AsyncIterator[Cluster]:
    """Three nodes; ``extra_devices`` are made on node 1 but left out of the rings."""
    # Each node's socket is bound here, before the rings name its port: a port only
    # found free, and bound later, can be taken meanwhile (a CI run lost one so).
    socks = [listening_socket() for _ in range(3)]
    ports = [sock.getsockname()[1] for sock in socks]
    rings: dict[str, Ring] = {}
    for kind in ("account", "container", "object"):
        builder = RingBuilder(4, 3, 0)
        for i, port in enumerate(ports):
            builder.add_dev(region=1, zone=i + 1, ip="127.0.0.1", port=port,
                            device=f"d{i + 1}", weight=100.0)
        builder.rebalance(seed=1)
        path = tmp / f"{kind}.ring.gz"
        builder.write_ring(path)
        rings[kind] = Ring(path, PREFIX, SUFFIX)
    nodes: list[NodeContext] = []
    servers: list[TestServer] = []
    for i, port in enumerate(ports):
        devices = tmp / f"node{i + 1}"
        (devices / f"d{i + 1}").mkdir(parents=True)
        if i == 0:
            for extra in extra_devices:
                (devices / extra).mkdir()
        ctx = NodeContext(devices=devices, hash_prefix=PREFIX, hash_suffix=SUFFIX,
                          node_timeout=3.0, conn_timeout=1.0, workers=4)
        nodes.append(ctx)
        server = TestServer(build_app(ctx), host="127.0.0.1", port=port,
                            socket_factory=partial(_bound, socks[i]))
        await server.start_server()
        servers.append(server)
    session = aiohttp.ClientSession()
    try:
        yield Cluster(tmp, nodes, ports, rings, session, servers)
    finally:
        await session.close()
        for server in servers:
            await server.close()
