"""The object server's own rules for locked objects and expected writes
(objectstore/locks.py), on a real node app over loopback HTTP: a locked object is
neither deleted nor written over by any request, whatever API made it, unless the
proxy moved it first or may override a GOVERNANCE retention; a POST keeps the lock
and may only lengthen it; a write that expects what it replaces finds it or is 412."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from objectstore.protocol import (
    EXPECT_DATA,
    LOCK_BYPASS,
    LOCK_HOLD,
    LOCK_MODE,
    LOCK_MOVED,
    LOCK_UNTIL,
)
from tests.functional.objectstore.node_server import running_node
from tests.functional.objectstore.test_node_errors import Node, ts

OBJ = "/objects/d1/1/a/c/locked"
BIG = b"b" * (300 * 1024)  # past SMALL_BODY: the streamed write checks before reading


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    async with running_node(tmp_path) as (server, session):
        yield Node(server, session)


def retention(mode: str, seconds_ahead: float) -> dict[str, str]:
    return {LOCK_MODE: mode, LOCK_UNTIL: f"{time.time() + seconds_ahead:.3f}"}


async def test_compliance_lock_refuses_every_delete_and_overwrite(node: Node) -> None:
    put = await node.call("PUT", OBJ, {"X-Timestamp": ts(1), **retention("COMPLIANCE", 3600)},
                          b"keep me")
    assert put.status == 201
    for extra in ({}, {LOCK_BYPASS: "governance"}, {LOCK_MOVED: ts(0)}):
        a = await node.call("DELETE", OBJ, {"X-Timestamp": ts(2), **extra})
        assert a.status == 403, (extra, a.text)
        assert "COMPLIANCE" in a.text
        for body in (b"new", BIG):
            a = await node.call("PUT", OBJ, {"X-Timestamp": ts(2), **extra}, body)
            assert a.status == 403, (extra, len(body))
    got = await node.call("GET", OBJ)
    assert (got.status, got.body) == (200, b"keep me")
    assert got.headers[LOCK_MODE] == "COMPLIANCE"
    # moved elsewhere first (the versioning copy), naming this very copy: it may go
    assert (await node.call("DELETE", OBJ, {"X-Timestamp": ts(3), LOCK_MOVED: ts(1)})).status \
        == 204


async def test_post_keeps_the_lock_and_may_only_lengthen_it(node: Node) -> None:
    lock = retention("COMPLIANCE", 3600)
    assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(1), **lock}, b"x")).status == 201
    # a POST that does not name the lock (a Swift client's) keeps it
    assert (await node.call("POST", OBJ, {"X-Timestamp": ts(2),
                                          "X-Object-Meta-Colour": "red"})).status == 202
    head = await node.call("HEAD", OBJ)
    assert head.headers[LOCK_UNTIL] == lock[LOCK_UNTIL]
    assert head.headers["X-Object-Meta-Colour"] == "red"
    assert (await node.call("DELETE", OBJ, {"X-Timestamp": ts(3)})).status == 403
    for weaker in (retention("COMPLIANCE", 60), retention("GOVERNANCE", 7200),
                   {LOCK_MODE: "", LOCK_UNTIL: ""}):
        a = await node.call("POST", OBJ, {"X-Timestamp": ts(4), LOCK_BYPASS: "governance",
                                          **weaker})
        assert a.status == 403, weaker
    assert (await node.call("POST", OBJ, {"X-Timestamp": ts(5), "X-Delete-At": "1"})).status \
        == 403
    longer = retention("COMPLIANCE", 7200)
    assert (await node.call("POST", OBJ, {"X-Timestamp": ts(6), **longer})).status == 202
    assert (await node.call("HEAD", OBJ)).headers[LOCK_UNTIL] == longer[LOCK_UNTIL]


async def test_governance_gives_way_to_a_bypass_only(node: Node) -> None:
    assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(1), **retention("GOVERNANCE", 600)},
                            b"g")).status == 201
    assert (await node.call("DELETE", OBJ, {"X-Timestamp": ts(2)})).status == 403
    assert (await node.call("POST", OBJ, {"X-Timestamp": ts(3), LOCK_MODE: "",
                                          LOCK_UNTIL: ""})).status == 403
    assert (await node.call("POST", OBJ, {"X-Timestamp": ts(4), LOCK_BYPASS: "governance",
                                          **retention("GOVERNANCE", 30)})).status == 202
    assert (await node.call("DELETE", OBJ, {"X-Timestamp": ts(5),
                                            LOCK_BYPASS: "governance"})).status == 204


async def test_legal_hold_until_lifted_and_ended_retention(node: Node) -> None:
    assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(1), LOCK_HOLD: "ON",
                                         **retention("GOVERNANCE", -5)}, b"h")).status == 201
    for extra in ({}, {LOCK_BYPASS: "governance"}):
        assert (await node.call("DELETE", OBJ, {"X-Timestamp": ts(2), **extra})).status == 403
    assert (await node.call("POST", OBJ, {"X-Timestamp": ts(3), LOCK_HOLD: "OFF"})).status \
        == 202
    # the retention is over and the hold lifted: an ordinary object again
    assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(4)}, b"new")).status == 201
    assert (await node.call("DELETE", OBJ, {"X-Timestamp": ts(5)})).status == 204


async def test_expected_data(node: Node) -> None:
    assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(1), EXPECT_DATA: "none"},
                            b"first")).status == 201
    for body in (b"again", BIG):
        assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(2), EXPECT_DATA: "none"},
                                body)).status == 412
        assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(2), EXPECT_DATA: ts(0)},
                                body)).status == 412
    assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(3), EXPECT_DATA: ts(1)},
                            BIG)).status == 201
    assert (await node.call("DELETE", OBJ, {"X-Timestamp": ts(4)})).status == 204
    # deleted: "none" again
    assert (await node.call("PUT", OBJ, {"X-Timestamp": ts(5), EXPECT_DATA: "none"},
                            b"back")).status == 201
