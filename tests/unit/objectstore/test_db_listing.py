"""Listings: prefix/delimiter/marker/end_marker/reverse, checked against a brute-force
reference, and kept fast at a million rows."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from common import timestamp as tsmod
from common.timestamp import normalize
from objectstore.db import AccountBroker, ContainerBroker
from objectstore.db.base import prefix_upper_bound

TS = normalize(1_700_000_000)


def reference(names: list[str], limit: int, marker: str = "", end_marker: str = "",
              prefix: str = "", delimiter: str = "", reverse: bool = False) -> list[str]:
    """What a listing must return (subdirs as ``subdir:<name>``), the slow obvious way."""
    ordered = sorted(set(names), reverse=reverse)
    if reverse:
        ordered = [n for n in ordered if (not marker or n < marker)
                   and (not end_marker or n > end_marker)]
    else:
        ordered = [n for n in ordered if (not marker or n > marker)
                   and (not end_marker or n < end_marker)]
    out: list[str] = []
    for n in ordered:
        if len(out) >= limit:
            break
        if not n.startswith(prefix):
            continue
        if delimiter:
            i = n.find(delimiter, len(prefix))
            if i >= 0:
                sub = n[:i + 1]
                if sub == marker or (out and out[-1] == "subdir:" + sub):
                    continue
                out.append("subdir:" + sub)
                continue
        out.append(n)
    return out


def flat(entries: list[dict[str, Any]]) -> list[str]:
    return ["subdir:" + e["subdir"] if "subdir" in e else e["name"] for e in entries]


def make(tmp_path: Path, names: list[str]) -> ContainerBroker:
    b = ContainerBroker(tmp_path / "c.db")
    b.initialize(TS, "a", "c")
    b.merge_items([{"name": n, "created_at": TS, "size": 1, "content_type": "t",
                    "etag": "e", "deleted": 0} for n in names])
    return b


NAMES = [
    "a", "a/", "a//", "a/b", "a/b/", "a/b/c", "a/c", "a-b", "a0", "ab", "b", "b/x",
    "b/y/z", "photos/2024/jan.jpg", "photos/2024/feb.jpg", "photos/2025/x.jpg",
    "photos/cat.jpg", "photos/", "é", "é/ü", "日本/東京", "日本/大阪/x", "日本語",
    "z\U0001f600/", "z\U0001f600/x", "\U0010ffff", "\U0010ffff/x",
]


def test_plain_and_paging(tmp_path: Path) -> None:
    b = make(tmp_path, NAMES)
    assert flat(b.list_objects(1000)) == sorted(NAMES)
    got: list[str] = []
    marker = ""
    while True:
        page = flat(b.list_objects(4, marker=marker))
        if not page:
            break
        got += page
        marker = page[-1]
    assert got == sorted(NAMES)


def test_examples(tmp_path: Path) -> None:
    b = make(tmp_path, NAMES)
    assert flat(b.list_objects(100, prefix="photos/", delimiter="/")) == [
        "photos/", "subdir:photos/2024/", "subdir:photos/2025/", "photos/cat.jpg"]
    assert flat(b.list_objects(100, delimiter="/", prefix="a/")) == [
        "a/", "subdir:a//", "a/b", "subdir:a/b/", "a/c"]
    assert flat(b.list_objects(100, prefix="日本/", delimiter="/")) == [
        "subdir:日本/大阪/", "日本/東京"]
    # paging through subdirs: a subdir equal to the marker is not repeated
    assert flat(b.list_objects(2, prefix="photos/", delimiter="/", marker="photos/2024/")) == [
        "subdir:photos/2025/", "photos/cat.jpg"]
    assert flat(b.list_objects(100, delimiter="/", reverse=True, prefix="photos/")) == [
        "photos/cat.jpg", "subdir:photos/2025/", "subdir:photos/2024/", "photos/"]
    assert flat(b.list_objects(3, marker="a/b", end_marker="b")) == ["a/b/", "a/b/c", "a/c"]
    assert flat(b.list_objects(3, marker="b", end_marker="a/b", reverse=True)) == [
        "ab", "a0", "a/c"]
    assert flat(b.list_objects(0)) == []
    # prefix ending in the highest code point (no upper bound exists)
    assert flat(b.list_objects(100, prefix="\U0010ffff")) == ["\U0010ffff", "\U0010ffff/x"]


def test_delimiter_rollup_skips_ahead(tmp_path: Path) -> None:
    """A subdir holding many names costs one query, not a scan of the names."""
    names = [f"big/{i:05d}" for i in range(20000)] + ["c", "d/1", "e"]
    b = make(tmp_path, names)
    start = time.perf_counter()
    assert flat(b.list_objects(10, delimiter="/")) == ["subdir:big/", "c", "subdir:d/", "e"]
    assert flat(b.list_objects(10, delimiter="/", reverse=True)) == [
        "e", "subdir:d/", "c", "subdir:big/"]
    assert time.perf_counter() - start < 0.05


@pytest.mark.parametrize("seed", range(6))
def test_matches_reference(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    alphabet = ["a", "b", "/", "-", "é", "日", "\U0001f600", "0"]
    names = sorted({"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 5)))
                    for _ in range(300)})
    b = make(tmp_path, names)
    probes = ["", *alphabet, *rnd.sample(names, 10), "a/", "b/a", "日/"]
    for _ in range(400):
        kwargs: dict[str, Any] = {
            "limit": rnd.choice([1, 2, 3, 7, 50, 1000]),
            "marker": rnd.choice(probes), "end_marker": rnd.choice(probes),
            "prefix": rnd.choice(["", "", "a", "a/", "b", "日", "é/"]),
            "delimiter": rnd.choice(["", "", "/", "-", "a"]),
            "reverse": rnd.random() < 0.4,
        }
        assert flat(b.list_objects(**kwargs)) == reference(names, **kwargs), kwargs


def test_deleted_rows_never_listed(tmp_path: Path) -> None:
    b = make(tmp_path, ["a", "b/1", "c"])
    b.delete_object("b/1", normalize(1_700_000_001))
    assert flat(b.list_objects(10, delimiter="/")) == ["a", "c"]


def test_account_listing(tmp_path: Path) -> None:
    b = AccountBroker(tmp_path / "a.db")
    b.initialize(TS, "a")
    for name in ["logs-2024", "logs-2025", "photos", "video"]:
        b.put_container(name, TS, "0", 1, 2)
    assert flat(b.list_containers(10, delimiter="-")) == ["subdir:logs-", "photos", "video"]
    assert flat(b.list_containers(10, prefix="logs-", reverse=True)) == [
        "logs-2025", "logs-2024"]


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff") is None


def test_million_rows_listing_is_correct(tmp_path: Path) -> None:
    """A million rows: stats from the info table, pages from the index (speed: bench/)."""
    rows: list[dict[str, Any]] = [
        {"name": f"dir{i % 100:02d}/obj-{i:07d}", "created_at": TS, "size": i % 4096,
         "content_type": "application/octet-stream",
         "etag": "d41d8cd98f00b204e9800998ecf8427e", "deleted": 0}
        for i in range(1_000_000)]
    b = ContainerBroker(tmp_path / "big.db")
    b.initialize(TS, "a", "big")
    b.merge_items(rows)  # one transaction, one executemany
    assert b.transactions == 1
    info = b.get_info()
    assert info.object_count == 1_000_000
    assert info.bytes_used == sum(r["size"] for r in rows)
    del rows
    page = b.list_objects(10000)
    assert len(page) == 10000 and page[0]["name"] == "dir00/obj-0000000"
    assert json.loads(b.list_objects_json(10000) or b"") == as_json(page)
    page = b.list_objects(10000, marker="dir50/", reverse=True)
    assert len(page) == 10000 and page[0]["name"] < "dir50/"
    page = b.list_objects(10000, delimiter="/")
    assert len(page) == 100 and page[0] == {"subdir": "dir00/"}
    b.close()


def as_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the container server sends for ``list_objects`` rows."""
    return [{"name": r["name"], "hash": r["etag"], "bytes": r["size"],
             "content_type": r["content_type"], "last_modified": tsmod.iso(r["created_at"])}
            for r in rows]


@pytest.mark.parametrize("kwargs", [
    {}, {"limit": 3}, {"marker": "a/b"}, {"end_marker": "photos/"}, {"prefix": "photos/"},
    {"prefix": "日本"}, {"reverse": True}, {"reverse": True, "marker": "b", "end_marker": "a"},
    {"prefix": "a/", "reverse": True, "limit": 2}, {"marker": "\U0010ffff"},
    {"prefix": "zz-no-such"},
])
def test_json_listing_matches_the_row_listing(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    b = make(tmp_path, NAMES)
    b.merge_items([{"name": "a/c", "created_at": "1700000001.00001", "size": 0,
                    "content_type": "", "etag": "", "deleted": 1},
                   {"name": "b", "created_at": "1700000002.50000", "size": 7,
                    "content_type": "text/plain; charset=utf-8", "etag": 'q"uote',
                    "deleted": 0}])
    limit = kwargs.pop("limit", 10000)
    rows = b.list_objects(limit, **kwargs)
    body = b.list_objects_json(limit, **kwargs)
    assert body is not None
    assert json.loads(body) == as_json(rows)
    assert "a/c" not in [r["name"] for r in json.loads(body)]
