"""Container and account servers on a real loopback aiohttp server, driven over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from common.http import make_app
from common.timestamp import normalize
from objectstore import account_server, container_server
from objectstore.async_pending import iter_async_pending, read_async_pending
from objectstore.listing import DB_RESOURCES
from objectstore.node import NODE, NodeContext
from objectstore.server import node_settings
from tests.conftest import free_port


def ts(n: float) -> str:
    return normalize(1_700_000_000 + n)


@dataclass
class Node:
    server: TestServer
    session: aiohttp.ClientSession
    ctx: NodeContext
    root: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def url(self, *parts: str, query: str = "") -> URL:
        path = "/" + "/".join(quote(p, safe="") for p in parts)
        return URL(f"http://{self.host}{path}" + (f"?{query}" if query else ""), encoded=True)

    async def call(self, method: str, *parts: str, query: str = "",
                   headers: dict[str, str] | None = None,
                   body: Any = None) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        async with self.session.request(method, self.url(*parts, query=query),
                                        headers=headers or {}, data=data) as r:
            return r.status, dict(r.headers), await r.read()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    (tmp_path / "d1").mkdir()
    ctx = NodeContext(devices=tmp_path, hash_prefix=b"p", hash_suffix=b"s",
                      node_timeout=2.0, conn_timeout=0.5)
    app = make_app(node_settings())
    app[NODE] = ctx
    container_server.add_routes(app)
    account_server.add_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    try:
        yield Node(server, session, ctx, tmp_path)
    finally:
        await session.close()
        await server.close()
        await ctx.close()


C = ("containers", "d1", "0", "AUTH_a")
A = ("accounts", "d1", "0", "AUTH_a")


def account_headers(node: Node, host: str | None = None) -> dict[str, str]:
    return {"X-Backend-Account-Host": host or node.host, "X-Backend-Account-Device": "d1",
            "X-Backend-Account-Partition": "0"}


async def test_container_lifecycle(node: Node) -> None:
    assert (await node.call("HEAD", *C, "c"))[0] == 404
    assert (await node.call("PUT", *C, "c", headers={"X-Timestamp": ts(1)}))[0] == 201
    assert (await node.call("PUT", *C, "c", headers={"X-Timestamp": ts(2)}))[0] == 202
    status, h, _ = await node.call("HEAD", *C, "c")
    assert status == 204
    assert h["X-Container-Object-Count"] == "0" and h["X-Container-Bytes-Used"] == "0"
    assert h["X-PUT-Timestamp"] == ts(2)
    assert h["X-Backend-Delete-Timestamp"] == "0000000000.00000"
    status, _, _ = await node.call("PUT", *C, "c", "photos/cat.jpg", headers={
        "X-Timestamp": ts(3), "X-Size": "12", "X-Content-Type": "image/jpeg", "X-Etag": "ab"})
    assert status == 201
    status, h, _ = await node.call("HEAD", *C, "c")
    assert (h["X-Container-Object-Count"], h["X-Container-Bytes-Used"]) == ("1", "12")
    assert (await node.call("DELETE", *C, "c", headers={"X-Timestamp": ts(4)}))[0] == 409
    status, _, _ = await node.call("DELETE", *C, "c", "photos/cat.jpg",
                                   headers={"X-Timestamp": ts(5)})
    assert status == 204
    assert (await node.call("DELETE", *C, "c", headers={"X-Timestamp": ts(6)}))[0] == 204
    status, h, _ = await node.call("HEAD", *C, "c")
    assert status == 404 and h["X-Backend-Delete-Timestamp"] == ts(6)
    assert (await node.call("GET", *C, "c"))[0] == 404
    assert (await node.call("DELETE", *C, "c", headers={"X-Timestamp": ts(7)}))[0] == 404
    status, _, _ = await node.call("PUT", *C, "c", "o", headers={
        "X-Timestamp": ts(7), "X-Size": "1"})
    assert status == 404  # rows for a deleted container are refused
    # an older PUT than the delete does not bring it back; a newer one does
    assert (await node.call("PUT", *C, "c", headers={"X-Timestamp": ts(5.5)}))[0] == 409
    assert (await node.call("PUT", *C, "c", headers={"X-Timestamp": ts(8)}))[0] == 201
    assert (await node.call("HEAD", *C, "c"))[0] == 204
    assert (await node.call("DELETE", *C, "missing", headers={"X-Timestamp": ts(1)}))[0] == 404


async def test_object_rows_batch_and_listing(node: Node) -> None:
    await node.call("PUT", *C, "c", headers={"X-Timestamp": ts(1)})
    rows = [{"name": n, "created_at": ts(2), "size": 10, "content_type": "text/plain",
             "etag": "e" + str(i), "deleted": 0}
            for i, n in enumerate(["a/1", "a/2", "b", "日本/東京", "日本/x", "z z"])]
    status, _, _ = await node.call("POST", *C, "c", query="batch", body=rows)
    assert status == 202
    rows2 = [{**rows[0], "created_at": ts(3), "deleted": 1, "size": 0},
             {**rows[2], "created_at": ts(1.5), "size": 99}]  # delete a/1; stale b ignored
    assert (await node.call("POST", *C, "c", query="batch", body=rows2))[0] == 202
    status, h, body = await node.call("GET", *C, "c")
    assert status == 200
    assert h["Content-Type"] == "application/json; charset=utf-8"
    assert h["X-Container-Object-Count"] == "5" and h["X-Container-Bytes-Used"] == "50"
    listing = json.loads(body)
    assert [e["name"] for e in listing] == ["a/2", "b", "z z", "日本/x", "日本/東京"]
    assert listing[1] == {"name": "b", "hash": "e2", "bytes": 10,
                          "content_type": "text/plain",
                          "last_modified": "2023-11-14T22:13:22.000000"}
    q = "delimiter=/&prefix=" + quote("日本/")
    assert json.loads((await node.call("GET", *C, "c", query=q))[2]) == [
        {"name": "日本/x", "hash": "e4", "bytes": 10, "content_type": "text/plain",
         "last_modified": "2023-11-14T22:13:22.000000"},
        {"name": "日本/東京", "hash": "e3", "bytes": 10, "content_type": "text/plain",
         "last_modified": "2023-11-14T22:13:22.000000"}]
    names = [e.get("name") or e["subdir"] for e in json.loads(
        (await node.call("GET", *C, "c", query="delimiter=/&reverse=on"))[2])]
    assert names == ["日本/", "z z", "b", "a/"]
    names = [e["name"] for e in json.loads(
        (await node.call("GET", *C, "c", query="marker=a/2&end_marker=z&limit=5"))[2])]
    assert names == ["b"]
    names = [e["name"] for e in json.loads(
        (await node.call("GET", *C, "c", query="limit=2"))[2])]
    assert names == ["a/2", "b"]
    # a batch for a container that does not exist
    assert (await node.call("POST", *C, "nope", query="batch", body=rows))[0] == 404


async def test_concurrent_row_updates_are_group_committed(node: Node) -> None:
    await node.call("PUT", *C, "c", headers={"X-Timestamp": ts(1)})

    async def put(i: int) -> int:
        status, _, _ = await node.call("PUT", *C, "c", f"obj-{i:03d}", headers={
            "X-Timestamp": ts(2), "X-Size": "1", "X-Content-Type": "t", "X-Etag": "e"})
        return status

    statuses = await asyncio.gather(*(put(i) for i in range(200)))
    assert set(statuses) == {201}
    commits = node.server.app[DB_RESOURCES].committer(node.ctx).commits
    assert commits < 200
    _, h, body = await node.call("GET", *C, "c")
    assert h["X-Container-Object-Count"] == "200" and len(json.loads(body)) == 200


async def test_container_metadata(node: Node) -> None:
    await node.call("PUT", *C, "c", headers={
        "X-Timestamp": ts(1), "X-Container-Meta-Color": "red", "X-Container-Read": ".r:*",
        "X-Versions-Location": "old", "X-Container-Sysmeta-Tag": "s", "X-Unrelated": "no"})
    _, h, _ = await node.call("HEAD", *C, "c")
    assert h["X-Container-Meta-Color"] == "red" and h["X-Container-Read"] == ".r:*"
    assert h["X-Versions-Location"] == "old" and h["X-Container-Sysmeta-Tag"] == "s"
    assert "X-Unrelated" not in h
    assert (await node.call("POST", *C, "c", headers={
        "X-Timestamp": ts(3), "X-Container-Meta-Color": "blue"}))[0] == 204
    await node.call("POST", *C, "c", headers={  # older: loses
        "X-Timestamp": ts(2), "X-Container-Meta-Color": "green",
        "X-Container-Meta-New": "n"})
    await node.call("POST", *C, "c", headers={
        "X-Timestamp": ts(4), "X-Container-Read": "", "x-container-meta-lower": "v"})
    _, h, _ = await node.call("HEAD", *C, "c")
    assert h["X-Container-Meta-Color"] == "blue"
    assert h["X-Container-Meta-New"] == "n"  # a key not set before: taken
    assert h["X-Container-Meta-Lower"] == "v"
    assert "X-Container-Read" not in h  # empty value removed it
    _, h, _ = await node.call("GET", *C, "c")
    assert h["X-Container-Meta-Color"] == "blue"
    assert (await node.call("POST", *C, "nope", headers={"X-Timestamp": ts(5)}))[0] == 404
    assert (await node.call("POST", *C, "c"))[0] == 400


async def test_account_lifecycle(node: Node) -> None:
    assert (await node.call("HEAD", *A))[0] == 404
    assert (await node.call("PUT", *A, headers={
        "X-Timestamp": ts(1), "X-Account-Meta-Owner": "me"}))[0] == 201
    assert (await node.call("PUT", *A, headers={"X-Timestamp": ts(2)}))[0] == 202
    status, h, _ = await node.call("HEAD", *A)
    assert status == 204 and h["X-Account-Meta-Owner"] == "me"
    assert (h["X-Account-Container-Count"], h["X-Account-Object-Count"],
            h["X-Account-Bytes-Used"]) == ("0", "0", "0")
    assert (await node.call("POST", *A, headers={
        "X-Timestamp": ts(3), "X-Account-Meta-Owner": "",
        "X-Account-Access-Control": '{"read-only": ["x"]}'}))[0] == 204
    status, h, body = await node.call("GET", *A)
    assert status == 200 and json.loads(body) == []
    assert "X-Account-Meta-Owner" not in h
    assert h["X-Account-Access-Control"] == '{"read-only": ["x"]}'
    assert (await node.call("DELETE", *A, headers={"X-Timestamp": ts(4)}))[0] == 204
    status, h, _ = await node.call("HEAD", *A)
    assert status == 404 and h["X-Account-Status"] == "Deleted"
    assert (await node.call("PUT", *A, headers={"X-Timestamp": ts(5)}))[0] == 403
    assert (await node.call("DELETE", *A, headers={"X-Timestamp": ts(6)}))[0] == 404


async def test_container_updates_reach_the_account(node: Node) -> None:
    await node.call("PUT", *A, headers={"X-Timestamp": ts(1)})
    hdrs = {"X-Timestamp": ts(2), **account_headers(node)}
    assert (await node.call("PUT", *C, "photos", headers=hdrs))[0] == 201
    assert (await node.call("PUT", *C, "logs", headers={**hdrs, "X-Timestamp": ts(3)}))[0] == 201
    status, h, body = await node.call("GET", *A)
    assert h["X-Account-Container-Count"] == "2"
    assert json.loads(body) == [
        {"name": "logs", "count": 0, "bytes": 0, "last_modified": "2023-11-14T22:13:23.000000",
         "storage_policy": "Policy-0"},
        {"name": "photos", "count": 0, "bytes": 0,
         "last_modified": "2023-11-14T22:13:22.000000", "storage_policy": "Policy-0"}]
    assert h["X-Account-Storage-Policy-Policy-0-Container-Count"] == "2"
    assert (await node.call("DELETE", *C, "logs", headers={
        **hdrs, "X-Timestamp": ts(4)}))[0] == 204
    status, h, body = await node.call("GET", *A, query="prefix=p")
    assert [e["name"] for e in json.loads(body)] == ["photos"]
    assert h["X-Account-Container-Count"] == "1"
    assert list(iter_async_pending(node.root / "d1")) == []
    # a container row for an account that was never created: 404 all the way back
    other = ("containers", "d1", "0", "AUTH_nobody")
    status, _, _ = await node.call("PUT", *other, "c", headers={
        "X-Timestamp": ts(5), "X-Backend-Account-Host": node.host,
        "X-Backend-Account-Device": "d1", "X-Backend-Account-Partition": "0"})
    assert status == 404


async def test_account_row_put_directly(node: Node) -> None:
    assert (await node.call("PUT", *A, "c", headers={"X-Put-Timestamp": ts(1)}))[0] == 404
    await node.call("PUT", *A, headers={"X-Timestamp": ts(1)})
    assert (await node.call("PUT", *A, "c", headers={
        "X-Put-Timestamp": ts(2), "X-Delete-Timestamp": "0", "X-Object-Count": "3",
        "X-Bytes-Used": "30"}))[0] == 201
    _, h, _ = await node.call("HEAD", *A)
    assert (h["X-Account-Object-Count"], h["X-Account-Bytes-Used"]) == ("3", "30")
    assert (await node.call("PUT", *A, "c", headers={
        "X-Put-Timestamp": ts(2), "X-Delete-Timestamp": ts(3)}))[0] == 204
    _, h, _ = await node.call("HEAD", *A)
    assert h["X-Account-Container-Count"] == "0"
    assert (await node.call("PUT", *A, "c", headers={"X-Put-Timestamp": "x"}))[0] == 400
    assert (await node.call("PUT", *A, "c", headers={
        "X-Put-Timestamp": ts(9), "X-Object-Count": "-1"}))[0] == 400


async def test_unreachable_account_writes_async_pending(node: Node) -> None:
    port = free_port()  # nobody listens there
    hdrs = {"X-Timestamp": ts(1), **account_headers(node, f"127.0.0.1:{port}")}
    assert (await node.call("PUT", *C, "c", headers=hdrs))[0] == 201
    records = list(iter_async_pending(node.root / "d1"))
    assert len(records) == 1
    rec = read_async_pending(records[0])
    assert rec["kind"] == "account-update" and rec["method"] == "PUT"
    assert rec["host"] == f"127.0.0.1:{port}"
    assert rec["path"] == "/accounts/d1/0/AUTH_a/c"
    assert rec["headers"]["X-Put-Timestamp"] == ts(1)
    assert rec["headers"]["X-Delete-Timestamp"] == "0000000000.00000"
    assert rec["headers"]["X-Object-Count"] == "0"
    assert (await node.call("DELETE", *C, "c", headers={**hdrs, "X-Timestamp": ts(2)}))[0] == 204
    assert len(list(iter_async_pending(node.root / "d1"))) == 2


async def test_bad_requests(node: Node) -> None:
    assert (await node.call("PUT", *C, "c", headers={"X-Timestamp": "later"}))[0] == 400
    assert (await node.call("PUT", *C, "c"))[0] == 400
    assert (await node.call("PUT", "containers", "nodev", "0", "a", "c",
                            headers={"X-Timestamp": ts(1)}))[0] == 507
    assert (await node.call("HEAD", "accounts", "nodev", "0", "a"))[0] == 507
    assert (await node.call("PUT", "containers", "d1", "x1", "a", "c",
                            headers={"X-Timestamp": ts(1)}))[0] == 400
    await node.call("PUT", *C, "c", headers={"X-Timestamp": ts(1)})
    assert (await node.call("GET", *C, "c", query="limit=10001"))[0] == 412
    assert (await node.call("GET", *A, query="limit=10001"))[0] == 412
    assert (await node.call("GET", *C, "c", query="limit=10000"))[0] == 200
    assert (await node.call("GET", *C, "c", query="delimiter=ab"))[0] == 200  # as Swift
    assert (await node.call("GET", *C, "c", query="delimiter=a%F4%8F%BF%BF"))[0] == 412
    assert (await node.call("PUT", *C, "c", "o", headers={
        "X-Timestamp": ts(2), "X-Size": "big"}))[0] == 400
    assert (await node.call("PUT", *C, "c", "o", headers={"X-Timestamp": ts(2)}))[0] == 400
    assert (await node.call("DELETE", *C, "c", "o", headers={"X-Timestamp": "x"}))[0] == 400
    async with node.session.post(node.url(*C, "c", query="batch"), data=b"{nope") as r:
        assert r.status == 400
    assert (await node.call("POST", *C, "c", query="batch", body={"a": 1}))[0] == 400
    assert (await node.call("POST", *C, "c", query="batch",
                            body=[{"name": "o", "created_at": "bad"}]))[0] == 400
    assert (await node.call("PUT", *C, "missing", "o", headers={
        "X-Timestamp": ts(2), "X-Size": "1"}))[0] == 404
