"""Reads that no replica answers well: what the proxy concludes from its nodes' answers.

The nodes are real HTTP servers on loopback: the three primaries of an account
answer in ways the proxy's client cannot use (a head larger than anything a
node may send, or a dropped connection), its handoffs answer 404 (they never
held the account). That is not an empty account: the proxy answers 503 and
never fabricates one, even for its owner with account autocreate on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, MultiDict

from common.config import StrataConfig
from identity.client import TokenInfo, TokenValidator
from proxy import containers
from proxy.auth import Caller
from proxy.backend import Backend
from proxy.pipeline import SwiftRequest
from proxy.request import SwiftPath
from proxy.state import ProxyState
from rings.builder import RingBuilder
from rings.ring import Ring

ACCOUNT = "AUTH_reads"
RESELLER = Caller(TokenInfo("u", "u", "default", "p", "p", "default",
                            frozenset({"service"}), 2e9))


class FakeNode:
    """A storage node that answers every request with ``behaviour``."""

    def __init__(self) -> None:
        self.behaviour = "404"
        self.calls = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        if self.behaviour == "huge-head":
            # far over any header a node may send: the client cannot read it
            return web.Response(status=204, headers={"X-Account-Meta-Huge": "h" * 200_000})
        if self.behaviour == "hang-up":
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.1)
        return web.Response(status=404)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[ProxyState, dict[str, FakeNode]]]:
    nodes: dict[str, FakeNode] = {}
    servers = []
    builder = RingBuilder(4, 3, 0)
    for i in range(6):
        node = FakeNode()
        app = web.Application(handler_args={"max_field_size": 300_000})
        app.router.add_route("*", "/{tail:.*}", node.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        nodes[f"d{i}"] = node
        assert server.port is not None
        builder.add_dev(region=1, zone=i + 1, ip="127.0.0.1", port=server.port,
                        device=f"d{i}", weight=100.0)
    builder.rebalance(seed=1)
    builder.write_ring(tmp_path / "account.ring.gz")
    ring = Ring(tmp_path / "account.ring.gz", b"p", b"s")
    session = aiohttp.ClientSession(max_line_size=65536, max_field_size=65536)
    st = ProxyState(cfg=StrataConfig(), backend=Backend(session, 1.0, 2.0),
                    rings={"account": ring}, validator=TokenValidator(
                        session, "http://127.0.0.1:9", user="u", password="p", project="p"))
    try:
        yield st, nodes
    finally:
        await session.close()
        for server in servers:
            await server.close()


def primaries(st: ProxyState) -> set[str]:
    return {n["device"] for n in st.place("account", ACCOUNT).primaries}


async def account_get(st: ProxyState, method: str) -> int:
    req = SwiftRequest(method, SwiftPath("v1", ACCOUNT), CIMultiDict(), MultiDict(),
                       caller=RESELLER, txn="tx")
    try:
        resp = await containers.get_or_head(st, req, req.path, "account", RESELLER)
    except Exception as err:  # the ApiError the client would get
        status: int = getattr(err, "status", 500)
        return status
    await resp.close()
    return resp.status


@pytest.mark.parametrize("behaviour", ["huge-head", "hang-up"])
async def test_unreadable_primaries_are_503_not_an_empty_account(
        cluster: tuple[ProxyState, dict[str, FakeNode]], behaviour: str) -> None:
    st, nodes = cluster
    for device in primaries(st):
        nodes[device].behaviour = behaviour
    for method in ("HEAD", "GET"):
        assert await account_get(st, method) == 503
    info = await st.info("tx", ACCOUNT)
    assert info.status == 503 and not info.exists
    assert sum(nodes[d].calls for d in set(nodes) - primaries(st)) > 0  # handoffs asked


async def test_an_account_nobody_has_is_404_and_autocreated_for_its_owner(
        cluster: tuple[ProxyState, dict[str, FakeNode]]) -> None:
    st, _nodes = cluster
    assert await account_get(st, "HEAD") == 204  # autocreate: an empty account
    assert (await st.info("tx", ACCOUNT)).status == 404


def test_read_failure_counts_primaries_and_tombstones() -> None:
    from proxy.quorum import Answer, read_failure

    def a(status: int, handoff: bool = False, **headers: str) -> Answer:
        return Answer(status, {k.replace("_", "-"): v for k, v in headers.items()},
                      handoff=handoff)

    assert read_failure([a(404), a(404), a(503)], 3) == 404
    assert read_failure([a(404), a(503), a(503), a(404, True), a(404, True)], 3) == 503
    assert read_failure([a(404), a(503), a(503),
                         a(404, True, X_Backend_Timestamp="1.00000")], 3) == 404
    assert read_failure([a(503), a(503), a(503), a(503, True)], 3) == 503
    assert read_failure([a(412), a(412), a(404)], 3) == 412
