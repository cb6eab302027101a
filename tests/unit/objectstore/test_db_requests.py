"""The container/account servers' request parsing, without a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from common import timestamp as tsmod
from common.errors import BadRequest, PreconditionFailed
from objectstore.async_pending import (
    iter_async_pending,
    read_async_pending,
    record_hash,
    write_async_pending,
)
from objectstore.container_server import validate_row
from objectstore.listing import (
    LISTING_LIMIT,
    canonical_header,
    db_path,
    metadata_headers,
    metadata_updates,
    parse_listing,
    require_timestamp,
)
from objectstore.node import NodeContext
from rings.hashing import hash_path


def test_parse_listing_defaults_and_limits() -> None:
    p = parse_listing({})
    assert (p.limit, p.marker, p.end_marker, p.prefix, p.delimiter, p.reverse) == (
        LISTING_LIMIT, "", "", "", "", False)
    assert parse_listing({"limit": "10000"}).limit == 10000
    assert parse_listing({"limit": "0"}).limit == 0
    assert parse_listing({"limit": "abc"}).limit == LISTING_LIMIT  # ignored, as Swift does
    with pytest.raises(PreconditionFailed):
        parse_listing({"limit": "10001"})
    # any delimiter (but one no name can sort past), a NUL anywhere: answered, as Swift
    assert parse_listing({"delimiter": "ab"}).delimiter == "ab"
    with pytest.raises(PreconditionFailed):
        parse_listing({"delimiter": "a\U0010ffff"})
    assert parse_listing({"marker": "a\x00"}).marker == "a\x00"
    assert parse_listing({"path": "dir"}).path == "dir"
    assert parse_listing({}).path is None
    for value in ("true", "1", "yes", "on", "True"):
        assert parse_listing({"reverse": value}).reverse
    for value in ("false", "0", "", "no"):
        assert not parse_listing({"reverse": value}).reverse
    p = parse_listing({"prefix": "日本/", "delimiter": "/", "marker": "m", "end_marker": "n"})
    assert (p.prefix, p.delimiter, p.marker, p.end_marker) == ("日本/", "/", "m", "n")


def test_timestamps() -> None:
    assert require_timestamp({"X-Timestamp": "1700000000.5"}) == "1700000000.50000"
    with pytest.raises(tsmod.BadTimestamp):
        require_timestamp({})
    with pytest.raises(tsmod.BadTimestamp):
        require_timestamp({"X-Timestamp": "soon"})


def test_metadata_headers() -> None:
    headers = {"x-container-meta-color": "red", "X-Container-Read": ".r:*",
               "X-Container-Sysmeta-Thing": "1", "X-Container-Meta-": "no name",
               "X-Other": "ignored", "X-Container-Meta-Gone": ""}
    updates = metadata_updates(headers, ("x-container-meta-", "x-container-sysmeta-"),
                               frozenset({"x-container-read"}), "T")
    assert updates == {"X-Container-Meta-Color": ("red", "T"),
                       "X-Container-Read": (".r:*", "T"),
                       "X-Container-Sysmeta-Thing": ("1", "T"),
                       "X-Container-Meta-Gone": ("", "T")}
    assert metadata_headers({"A": ["1", "T"], "B": ["", "T"]}) == {"A": "1"}
    assert canonical_header("x-ACCOUNT-meta-foo") == "X-Account-Meta-Foo"


def test_db_path(tmp_path: Path) -> None:
    node = NodeContext(devices=tmp_path, hash_prefix=b"p", hash_suffix=b"s")
    try:
        h = hash_path("a", "c", hash_prefix=b"p", hash_suffix=b"s")
        assert db_path(node, tmp_path / "d1", "containers", "7", "a", "c") == (
            tmp_path / "d1" / "containers" / "7" / h[-3:] / h / f"{h}.db")
    finally:
        node.executor.shutdown()


def test_validate_row() -> None:
    row = validate_row({"name": "o", "created_at": "1700000000", "size": 3,
                        "content_type": "t", "etag": "e", "deleted": False})
    assert row == {"name": "o", "created_at": "1700000000.00000", "size": 3,
                   "content_type": "t", "etag": "e", "deleted": 0}
    bads: list[Any] = [[], {"name": ""}, {"name": "o", "created_at": "x"},
                       {"name": "o", "created_at": "1", "size": -1},
                       {"name": "o", "created_at": "1", "size": True},
                       {"name": "o", "created_at": "1", "deleted": 2}]
    for bad in bads:
        with pytest.raises(BadRequest):
            validate_row(bad)


def test_async_pending_records(tmp_path: Path) -> None:
    record = {"kind": "account-update", "host": "127.0.0.1:1", "device": "d1",
              "partition": "3", "account": "a", "container": "c", "method": "PUT",
              "path": "/accounts/d1/3/a/c", "headers": {"X-Put-Timestamp": "1"},
              "timestamp": "1700000000.00000"}
    p1 = write_async_pending(tmp_path, record)
    p2 = write_async_pending(tmp_path, record)  # same target and time: both kept
    assert p1 != p2
    digest = record_hash(record)
    assert p1.parent == tmp_path / "async_pending" / digest[-3:]
    assert p1.name.startswith(f"{digest}-1700000000.00000-")
    assert read_async_pending(p1) == {**record, "version": 1}
    assert sorted(iter_async_pending(tmp_path)) == sorted([p1, p2])
    assert list((tmp_path / "tmp").iterdir()) == []
    p1.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError):
        read_async_pending(p1)
    assert list(iter_async_pending(tmp_path / "nothing")) == []
