"""objectstore/protocol.py: the names and shapes the proxy and the nodes share."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from common.config import StrataConfig
from common.errors import PreconditionFailed
from objectstore import protocol
from objectstore.diskfile import ObjectState
from objectstore.locks import WriteGuard


def test_node_paths_are_percent_encoded_and_never_normalized() -> None:
    assert protocol.node_path(protocol.ACCOUNTS, "d1", 7, "AUTH_a") == "/accounts/d1/7/AUTH_a"
    assert protocol.node_path(protocol.CONTAINERS, "d1", "7", "AUTH_a", "c 1/x") == \
        "/containers/d1/7/AUTH_a/c%201%2Fx"
    # an object name keeps its slashes and its dot segments
    assert protocol.node_path(protocol.OBJECTS, "d1", 7, "AUTH_a", "c", "a/../b?c#d é") == \
        "/objects/d1/7/AUTH_a/c/a/../b%3Fc%23d%20%C3%A9"


async def test_node_paths_reach_the_routes_the_node_serves() -> None:
    """Each path the proxy builds arrives at the node's route with the names as given."""
    app = web.Application()

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(dict(request.match_info))

    for route in (protocol.OBJECT_ROUTE, protocol.CONTAINER_ROUTE, protocol.ACCOUNT_ROUTE,
                  protocol.CONTAINER_ROW_ROUTE, protocol.ACCOUNT_ROW_ROUTE):
        app.router.add_get(route, echo)
    names = {"device": "d 1", "part": "3", "account": "AUTH_a/x", "container": "c%d"}
    cases = [
        (protocol.node_path(protocol.OBJECTS, "d 1", 3, "AUTH_a/x", "c%d", "o/../p q"),
         {**names, "obj": "o/../p q"}),
        (protocol.node_path(protocol.CONTAINERS, "d 1", 3, "AUTH_a/x", "c%d"), names),
        (protocol.node_path(protocol.ACCOUNTS, "d 1", 3, "AUTH_a/x"),
         {k: v for k, v in names.items() if k != "container"}),
        # the rows an object server and a container server send
        (protocol.node_path(protocol.CONTAINERS, "d 1", 3, "AUTH_a/x", "c%d", "o/p"),
         {**names, "obj": "o/p"}),
        (protocol.node_path(protocol.ACCOUNTS, "d 1", 3, "AUTH_a/x", "c%d"), names),
    ]
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as s:
        for path, expected in cases:
            url = URL(f"http://127.0.0.1:{server.port}{path}", encoded=True)
            async with s.get(url) as r:
                assert r.status == 200, path
                assert await r.json() == expected


def test_stored_headers() -> None:
    for key in ("x-object-meta-color", "x-object-sysmeta-slo-etag", "x-delete-at",
                "x-static-large-object", "x-symlink-target", "content-disposition"):
        assert protocol.is_stored(key)
    for key in ("x-backend-timestamp", "etag", "x-object-transient-sysmeta-x", "x-timestamp"):
        assert not protocol.is_stored(key)
    assert protocol.POST_HEADERS < protocol.STORED_HEADERS
    assert protocol.meta_prefixes("container") == ("x-container-meta-", "x-container-sysmeta-")


def test_ring_files(tmp_path: Path) -> None:
    cfg = StrataConfig(home=tmp_path)
    assert [protocol.ring_file(cfg, kind).name for kind in protocol.RING_TYPES] == [
        "account.ring.gz", "container.ring.gz", "object.ring.gz"]
    assert protocol.ring_file(cfg, "object").parent == cfg.ring_path


def test_replaced_value_answers_only_system_metadata_of_the_replaced_object() -> None:
    meta = {"X-Object-Sysmeta-S3-Upload-Id": "abc-1", "X-Object-Meta-Color": "red",
            "ETag": "e"}
    assert protocol.replaced_value("x-object-sysmeta-s3-upload-id", meta) == "abc-1"
    assert protocol.replaced_value("X-Object-Sysmeta-Other", meta) is None
    assert protocol.replaced_value("X-Object-Meta-Color", meta) is None  # user metadata
    assert protocol.replaced_value("ETag", meta) is None
    assert protocol.replaced_value(None, meta) is None
    assert protocol.replaced_value("X-Object-Sysmeta-S3-Upload-Id", {}) is None  # nothing replaced


def test_a_delete_expecting_a_plain_object_refuses_a_large_object_manifest() -> None:
    manifest = ObjectState(data_timestamp="1.00000",
                           metadata={"X-Static-Large-Object": "True"})
    plain = ObjectState(data_timestamp="1.00000", metadata={"Content-Type": "a/b"})
    assert protocol.is_manifest(manifest.metadata)
    assert protocol.is_manifest({"x-static-large-object": "yes"})
    assert not protocol.is_manifest(plain.metadata)
    assert not protocol.is_manifest({"X-Static-Large-Object": "False"})
    guard = WriteGuard.of({protocol.EXPECT_PLAIN: "true"})
    with pytest.raises(PreconditionFailed):
        guard.check(manifest, True)
    with pytest.raises(PreconditionFailed):  # expired, it is still refused (and kept)
        guard.check(manifest, False)
    guard.check(plain, True)
    guard.check(ObjectState(), False)  # nothing there
    WriteGuard.of({}).check(manifest, True)  # not asked: a manifest goes like any object
    assert protocol.EXPECT_PLAIN.lower() in protocol.OBJECT_BACKEND_HEADERS
