"""The storage node's error answers, as the proxy and the other nodes read them.

Handlers raise ``common.errors`` classes; the common middleware maps them and
``objectstore.server.text_error`` renders them: the message as plain text, or a
bare status (no body, no Content-Type) when there is none, with the protocol's
headers (``X-Backend-Timestamp`` of what is newer, the deleted DB's timestamps).
These are the statuses, bodies and headers of docs/storage-protocol.md, pinned
on a real node app (disk backend) over loopback HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from common.timestamp import normalize
from rings.hashing import hash_path
from tests.functional.objectstore.node_server import running_node

TEXT = "text/plain; charset=utf-8"


def ts(n: float) -> str:
    return normalize(1_700_000_000 + n)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Node:
    server: TestServer
    session: aiohttp.ClientSession

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    async def call(self, method: str, path: str, headers: dict[str, str] | None = None,
                   body: bytes | None = None) -> Answer:
        url = URL(f"http://{self.host}{path}", encoded=True)
        async with self.session.request(method, url, headers=headers or {}, data=body) as r:
            return Answer(r.status, dict(r.headers), await r.read())


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(tmp_path) as (server, session):
        yield Node(server, session)


def bare(a: Answer, status: int, **headers: str) -> None:
    """A bare status: no body, no Content-Type, and exactly these protocol headers."""
    assert (a.status, a.body) == (status, b"")
    assert "Content-Type" not in a.headers
    for name, value in headers.items():
        assert a.headers.get(name.replace("_", "-")) == value


def text(a: Answer, status: int, body: str) -> None:
    assert (a.status, a.text, a.headers.get("Content-Type")) == (status, body, TEXT)


OBJ = "/objects/d1/1/a/c/o"


async def test_object_errors(node: Node) -> None:
    text(await node.call("PUT", "/objects/d1/x/a/c/o", {"X-Timestamp": ts(1)}, b""), 400,
         "partition must be a number")
    text(await node.call("PUT", "/objects/nodev/1/a/c/o", {"X-Timestamp": ts(1)}, b""), 507,
         "device nodev is not mounted here")
    text(await node.call("PUT", OBJ, {}, b""), 400, "missing or bad X-Timestamp")
    text(await node.call("PUT", OBJ, {"X-Timestamp": ts(1), "ETag": "0" * 32}, b"hello"), 422,
         "ETag does not match the body")
    big = b"x" * (300 * 1024)  # past SMALL_BODY: the streamed write
    text(await node.call("PUT", "/objects/d1/1/a/c/big", {"X-Timestamp": ts(1),
                                                          "ETag": "0" * 32}, big), 422,
         "ETag does not match the body")
    assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(2)}, b"hello")).status == 201
    for body in (b"hello", big):  # an older write, either way: 409 naming what is there
        bare(await node.call("PUT", OBJ, {"X-Timestamp": ts(1)}, body), 409,
             X_Backend_Timestamp=ts(2))
    bare(await node.call("POST", OBJ, {"X-Timestamp": ts(1)}), 409, X_Backend_Timestamp=ts(2))
    bare(await node.call("GET", "/objects/d1/1/a/c/none"), 404)
    bare(await node.call("POST", "/objects/d1/1/a/c/none", {"X-Timestamp": ts(3)}), 404)
    text(await node.call("DELETE", OBJ, {"X-Timestamp": ts(3), "X-If-Delete-At": "12"}), 412,
         "X-If-Delete-At and X-Delete-At do not match")
    bare(await node.call("DELETE", OBJ, {"X-Timestamp": ts(1)}), 409, X_Backend_Timestamp=ts(2))
    bare(await node.call("DELETE", OBJ, {"X-Timestamp": ts(4)}), 204)
    # deleted: the 404 names the tombstone; a second delete is a 404 all the same
    bare(await node.call("GET", OBJ), 404, X_Backend_Timestamp=ts(4))
    bare(await node.call("HEAD", OBJ), 404, X_Backend_Timestamp=ts(4))
    bare(await node.call("POST", OBJ, {"X-Timestamp": ts(5)}), 404, X_Backend_Timestamp=ts(4))
    bare(await node.call("DELETE", OBJ, {"X-Timestamp": ts(5)}), 404)


async def test_object_length_required(node: Node) -> None:
    """A PUT with neither Content-Length nor chunked encoding: 411, Length Required."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.server.port)
    writer.write(f"PUT {OBJ} HTTP/1.1\r\nHost: x\r\nX-Timestamp: {ts(1)}\r\n"
                 "Connection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411 ")
    assert b"Content-Type: text/plain; charset=utf-8" in head
    assert body == b"Length Required"


C = "/containers/d1/0/AUTH_a/c"
A = "/accounts/d1/0/AUTH_a"


async def test_container_and_account_errors(node: Node) -> None:
    bare(await node.call("HEAD", C), 404)
    bare(await node.call("GET", C), 404)
    text(await node.call("PUT", C), 400, "missing X-Timestamp\n")
    text(await node.call("PUT", "/containers/d1/x/AUTH_a/c", {"X-Timestamp": ts(1)}), 400,
         "bad partition 'x'")
    text(await node.call("PUT", "/containers/zz/0/AUTH_a/c", {"X-Timestamp": ts(1)}), 507,
         "device zz is not mounted here\n")
    text(await node.call("POST", C, {"X-Timestamp": ts(1)}), 404, "Not Found\n")
    text(await node.call("DELETE", C, {"X-Timestamp": ts(1)}), 404, "Not Found\n")
    assert (await node.call("PUT", C, {"X-Timestamp": ts(2)})).status == 201
    text(await node.call("PUT", C + "/o2", {"X-Timestamp": ts(3)}), 400, "missing X-Size")
    text(await node.call("PUT", C + "/o2", {"X-Timestamp": ts(3), "X-Size": "-1"}), 400,
         "bad X-Size: '-1'")
    text(await node.call("PUT", C + "/o2", {"X-Timestamp": "x", "X-Size": "1"}), 400,
         "not a timestamp: 'x'\n")
    assert (await node.call("PUT", C + "/o1", {"X-Timestamp": ts(3),
                                               "X-Size": "3"})).status == 201
    text(await node.call("DELETE", C, {"X-Timestamp": ts(4)}), 409, "Conflict\n")
    text(await node.call("GET", C + "?limit=10001"), 412, "Maximum limit is 10000\n")
    text(await node.call("GET", C + "?delimiter=%F4%8F%BF%BF"), 412, "Bad delimiter\n")
    assert (await node.call("GET", C + "?marker=a%00")).status == 200  # as Swift answers
    text(await node.call("POST", C + "?batch", {}, b"{nope"), 400, "body is not JSON\n")
    text(await node.call("POST", C + "?batch", {}, b"{}"), 400,
         "body must be a JSON list of rows\n")
    text(await node.call("POST", C + "?batch", {}, b'[{"name": ""}]'), 400, "bad row: name\n")
    assert (await node.call("DELETE", C + "/o1", {"X-Timestamp": ts(5)})).status == 204
    assert (await node.call("DELETE", C, {"X-Timestamp": ts(7)})).status == 204
    deleted = {"X-Backend-Status": "deleted", "X-Backend-Put-Timestamp": ts(2),
               "X-Backend-Delete-Timestamp": ts(7)}
    for method in ("HEAD", "GET"):
        a = await node.call(method, C)
        assert a.status == 404 and a.headers["Content-Type"] == TEXT
        assert a.body == (b"Not Found\n" if method == "GET" else b"")
        assert {k: a.headers[k] for k in deleted} == deleted
    text(await node.call("PUT", C, {"X-Timestamp": ts(6)}), 409, "Conflict\n")
    text(await node.call("PUT", C + "/o3", {"X-Timestamp": ts(9), "X-Size": "1"}), 404,
         "Not Found\n")
    account = {"X-Backend-Account-Host": node.host, "X-Backend-Account-Device": "d1",
               "X-Backend-Account-Partition": "0"}
    text(await node.call("PUT", "/containers/d1/0/AUTH_a/c2", {"X-Timestamp": ts(10),
                                                               **account}), 404,
         "Account not found\n")

    text(await node.call("GET", A), 404, "Not Found\n")
    text(await node.call("PUT", A + "/c", {"X-Put-Timestamp": ts(1)}), 404, "Not Found\n")
    assert (await node.call("PUT", A, {"X-Timestamp": ts(1)})).status == 201
    text(await node.call("PUT", A + "/c", {"X-Put-Timestamp": ts(2), "X-Bytes-Used": "x"}),
         400, "bad X-Bytes-Used: 'x'")
    assert (await node.call("DELETE", A, {"X-Timestamp": ts(3)})).status == 204
    a = await node.call("PUT", A, {"X-Timestamp": ts(4)})  # not re-created until reaped
    text(a, 403, "Recently deleted\n")
    assert (a.headers["X-Account-Status"], a.headers["X-Backend-Put-Timestamp"],
            a.headers["X-Backend-Delete-Timestamp"]) == ("Deleted", ts(1), ts(3))


async def test_replication_errors(node: Node) -> None:
    r = "/replicate/containers/d1/0/"
    h = hash_path("AUTH_a", "c", hash_prefix=b"p", hash_suffix=b"s")
    text(await node.call("POST", r + "zz", {}, b"{}"), 400, "bad partition or hash\n")
    text(await node.call("POST", r + h, {}, b'{"op": "what"}'), 400, "unknown op 'what'\n")
    text(await node.call("POST", r + h, {}, b'{"op": "sync", "remote_id": "r"}'), 404,
         "Not Found\n")
    text(await node.call("POST", "/replicate/containers/zz/0/" + h, {}, b"{}"), 507,
         "device zz is not mounted here\n")
    merge = {"op": "merge", "db": {"id": "x", "account": "AUTH_a", "container": "c",
                                   "put_timestamp": ts(1)}, "rows": [], "sync_point": -1}
    text(await node.call("POST", r + "0" * 32, {}, json.dumps(merge).encode()), 400,
         "the DB's name does not match the hash\n")
    text(await node.call("POST", r + h, {}, json.dumps({**merge, "rows": [{}]}).encode()),
         400, "bad row: name\n\n")

    p = "/replicate/objects/d1/"
    oh = hash_path("a", "c", "o", hash_prefix=b"p", hash_suffix=b"s")
    text(await node.call("GET", p + "x"), 400, "partition must be a number")
    text(await node.call("GET", "/replicate/objects/zz/1"), 507, "device zz is not mounted here")
    text(await node.call("GET", p + "1?recalculate=zz"), 400,
         "recalculate takes suffixes (three hex digits)")
    text(await node.call("GET", p + "1/zz"), 400, "bad suffix")
    push = {"X-Backend-Replication": "true", "X-Backend-Metadata-Length": "2"}
    text(await node.call("PUT", p + f"1/{oh}/{ts(2)}.ts", {}, b"{}"), 400,
         "X-Backend-Replication: true is required")
    text(await node.call("PUT", p + f"1/{oh}/{ts(2)}.ts", push, b"{}xx"), 400,
         "only a .data file has bytes")
    text(await node.call("PUT", p + f"1/{oh}/{ts(3)}.data", push, b"{}xx"), 422,
         "body does not match ETag/Content-Length")
    assert (await node.call("PUT", p + f"1/{oh}/{ts(2)}.ts", push, b"{}")).status == 201
    bare(await node.call("PUT", p + f"1/{oh}/{ts(2)}.ts", push, b"{}"), 200)  # kept already
    bare(await node.call("PUT", p + f"1/{oh}/{ts(1)}.ts", push, b"{}"), 409)  # older
