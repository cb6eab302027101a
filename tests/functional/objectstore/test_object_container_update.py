"""An object PUT's container update on a real storage-node app over loopback HTTP:
Swift's container-update override headers decide what the listing shows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from common.timestamp import normalize
from objectstore.diskfile import MemoryBackend
from tests.functional.objectstore.node_server import running_node


def ts(n: float) -> str:
    return normalize(1_700_000_000 + n)


class Node:
    def __init__(self, server: TestServer, session: aiohttp.ClientSession) -> None:
        self.server, self.session = server, session

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    async def call(self, method: str, *parts: str, headers: dict[str, str] | None = None,
                   data: bytes | None = None) -> tuple[int, bytes]:
        url = f"http://{self.host}/" + "/".join(quote(p, safe="") for p in parts)
        async with self.session.request(method, url, headers=headers or {}, data=data) as r:
            return r.status, await r.read()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(tmp_path, MemoryBackend()) as (server, session):
        yield Node(server, session)


async def put(node: Node, name: str, n: float, body: bytes, **extra: str) -> None:
    headers = {"X-Timestamp": ts(n), "Content-Type": "text/plain",
               "X-Backend-Container-Host": node.host, "X-Backend-Container-Device": "d1",
               "X-Backend-Container-Partition": "0", **extra}
    status, _ = await node.call("PUT", "objects", "d1", "0", "AUTH_a", "c", name,
                                headers=headers, data=body)
    assert status == 201


async def listing(node: Node) -> dict[str, dict[str, object]]:
    status, body = await node.call("GET", "containers", "d1", "0", "AUTH_a", "c")
    assert status == 200
    return {e["name"]: e for e in json.loads(body)}


async def test_container_update_overrides(node: Node) -> None:
    assert (await node.call("PUT", "containers", "d1", "0", "AUTH_a", "c",
                            headers={"X-Timestamp": ts(1)}))[0] == 201
    await put(node, "plain", 2, b"hello")
    await put(node, "sys", 3, b"hello", **{
        "X-Object-Sysmeta-Container-Update-Override-Etag": "0123abcd-3",
        "X-Object-Sysmeta-Container-Update-Override-Size": "12345",
        "X-Object-Sysmeta-Container-Update-Override-Content-Type": "image/png"})
    await put(node, "backend", 4, b"hello", **{
        "X-Object-Sysmeta-Container-Update-Override-Etag": "from-sysmeta",
        "X-Backend-Container-Update-Override-Etag": "from-backend",
        "X-Backend-Container-Update-Override-Size": "not a number"})
    rows = await listing(node)
    md5 = "5d41402abc4b2a76b9719d911017c592"
    assert (rows["plain"]["hash"], rows["plain"]["bytes"]) == (md5, 5)
    assert rows["plain"]["content_type"] == "text/plain"
    assert (rows["sys"]["hash"], rows["sys"]["bytes"]) == ("0123abcd-3", 12345)
    assert rows["sys"]["content_type"] == "image/png"
    # the write's own backend header wins over the stored sysmeta; a bad size is ignored
    assert (rows["backend"]["hash"], rows["backend"]["bytes"]) == ("from-backend", 5)
    # the object itself keeps its real ETag; the sysmeta is stored with it
    status, _ = await node.call("HEAD", "objects", "d1", "0", "AUTH_a", "c", "sys")
    assert status == 200
    url = f"http://{node.host}/objects/d1/0/AUTH_a/c/sys"
    async with node.session.head(url) as r:
        assert r.headers["ETag"] == md5
        assert r.headers["X-Object-Sysmeta-Container-Update-Override-Etag"] == "0123abcd-3"
