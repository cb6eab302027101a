"""Image domain logic on a real (SQLite) database, and the upload pipeline on the
in-memory store: visibility, keyset pagination, quotas, hashing, inspection."""

from __future__ import annotations

import functools
import hashlib
import itertools
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from common.db import Database
from imagestore import core, listing, members
from imagestore.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from imagestore.policy import Caller
from imagestore.stores.memory import MemoryStore
from imagestore.upload import store_image

A = Caller("ua", "proj-a", frozenset({"member"}))
B = Caller("ub", "proj-b", frozenset({"member"}))
READER = Caller("ur", "proj-a", frozenset({"reader"}))
ADMIN = Caller("uz", "proj-admin", frozenset({"admin", "member"}))
NO_LIMITS = core.Limits(max_image_size=1 << 40)


def create(db: Database, who: Caller, limits: core.Limits = NO_LIMITS,
           **body: Any) -> str:
    return db.run_sync(lambda s: core.create_image(s, who, body, limits).id)


def names(db: Database, who: Caller, *params: tuple[str, str]) -> list[str | None]:
    q = listing.parse(list(params))
    return db.run_sync(lambda s: [i.name for i in listing.select_page(s, who, q)[0]])


def test_visibility_rules(db: Database) -> None:
    create(db, A, name="a-shared")
    create(db, A, name="a-private", visibility="private")
    create(db, A, name="a-community", visibility="community")
    create(db, ADMIN, name="public", visibility="public")
    shared = create(db, A, name="a-to-b")
    db.run_sync(lambda s: members.add(s, A, shared, {"member": "proj-b"}))
    sort = ("sort", "name:asc")
    assert names(db, A, sort) == ["a-community", "a-private", "a-shared", "a-to-b", "public"]
    assert names(db, B, sort) == ["public"]
    assert names(db, B, sort, ("member_status", "pending")) == ["a-to-b", "public"]
    assert names(db, B, sort, ("visibility", "community")) == ["a-community"]
    assert names(db, B, sort, ("visibility", "all")) == ["a-community", "public"]
    db.run_sync(lambda s: members.update(s, B, shared, "proj-b", {"status": "accepted"}))
    assert names(db, B, sort) == ["a-to-b", "public"]
    assert len(names(db, ADMIN)) == 5
    # B sees the image but changes nothing of it; A's private image is invisible to B
    with pytest.raises(Forbidden):
        db.run_sync(lambda s: core.apply_patch(s, B, shared, []))
    private = db.run_sync(lambda s: listing.select_page(
        s, A, listing.parse([("name", "a-private")]))[0][0].id)
    with pytest.raises(NotFound):
        db.run_sync(lambda s: core.get_image(s, B, private))
    with pytest.raises(Forbidden):
        create(db, READER, name="reader")
    with pytest.raises(Forbidden):
        create(db, A, name="pub", visibility="public")


@pytest.mark.parametrize("sort", ["name:asc", "name:desc,size:asc", "size:desc",
                                  "min_ram:asc,name:desc", "created_at:desc"])
def test_pagination_visits_every_image_once_in_order(db: Database, sort: str) -> None:
    # names and sizes with repeats and NULLs: the keyset must still be exact
    for i, (name, ram) in enumerate(itertools.product([None, "a", "b"], [0, 1, 2, 1])):
        iid = create(db, A, name=name, min_ram=ram)
        if i % 3:
            db.run_sync(functools.partial(core.end_data, image_id=iid, expected="queued",
                                          status="queued", size=i % 4))
    everything = db.run_sync(lambda s: [i.id for i in listing.select_page(
        s, A, listing.parse([("sort", sort), ("limit", "1000")]))[0]])
    assert len(everything) == 12
    seen: list[str] = []
    marker: list[tuple[str, str]] = []
    while True:
        params = [("sort", sort), ("limit", "5"), *marker]
        images, more = db.run_sync(functools.partial(
            listing.select_page, caller=A, q=listing.parse(params)))
        page = [i.id for i in images]
        seen += page
        if not more:
            break
        marker = [("marker", page[-1])]
    assert seen == everything


def test_patch_is_all_or_nothing(db: Database) -> None:
    from imagestore.patch import parse

    iid = create(db, A, name="n", keep="1")
    ops = parse([{"op": "replace", "path": "/name", "value": "changed"},
                 {"op": "replace", "path": "/missing", "value": "x"}])
    with pytest.raises(Conflict):
        db.run_sync(lambda s: core.apply_patch(s, A, iid, ops))
    assert db.run_sync(lambda s: core.view(core.get_image(s, A, iid))["name"]) == "n"


def test_quotas(db: Database) -> None:
    limits = core.Limits(max_image_size=1000, image_count=2, image_bytes=1500)
    first = create(db, A, limits, name="1", disk_format="raw", container_format="bare")
    up = db.run_sync(lambda s: core.begin_data(s, A, first, "queued", "saving", limits))
    assert (up.limit, up.quota_limited) == (1000, False)
    db.run_sync(lambda s: core.end_data(s, first, "saving", "active", size=900,
                                        location="memory://x", store="memory"))
    second = create(db, A, limits, name="2", disk_format="raw", container_format="bare")
    up = db.run_sync(lambda s: core.begin_data(s, A, second, "queued", "saving", limits))
    assert (up.limit, up.quota_limited) == (600, True)
    with pytest.raises(Conflict):  # already saving
        db.run_sync(lambda s: core.begin_data(s, A, second, "queued", "saving", limits))
    with pytest.raises(TooLarge):
        create(db, A, limits, name="3")
    create(db, B, limits, name="other project")  # quotas are per project


def test_bad_create_bodies(db: Database) -> None:
    for body, error in [({"disk_format": "floppy"}, Invalid), ({"status": "active"}, Forbidden),
                        ({"size": 3}, Forbidden), ({"prop": 1}, Invalid),
                        ({"min_ram": -1}, Invalid), ({"os_glance_x": "y"}, Forbidden),
                        ({"owner": "proj-b"}, Forbidden), ({"tags": "x"}, Invalid)]:
        with pytest.raises(error):
            db.run_sync(functools.partial(core.create_image, caller=A, body=body,
                                          limits=NO_LIMITS))
    assert db.run_sync(lambda s: core.count_images(s, "proj-a")) == 0


async def chunks(data: bytes, size: int = 7000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def test_store_image_hashes_and_sizes() -> None:
    store = MemoryStore()
    data = bytes(range(256)) * 9000
    result = await store_image(store, "img1", chunks(data), disk_format="raw",
                               container_format="bare", limit=len(data), limit_message="big")
    assert result.size == len(data) and result.virtual_size == len(data)
    assert result.checksum == hashlib.md5(data).hexdigest()
    assert result.os_hash_value == hashlib.sha512(data).hexdigest()
    assert store.objects["img1"] == data


async def test_store_image_limit_leaves_nothing() -> None:
    store = MemoryStore()
    with pytest.raises(TooLarge, match="big"):
        await store_image(store, "img2", chunks(b"x" * (3 << 20)), disk_format="raw",
                          container_format="bare", limit=(2 << 20) + 1, limit_message="big")
    assert store.objects == {}


async def test_store_image_refused_by_inspection_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(path), "1M"], check=True,
                   capture_output=True)
    store = MemoryStore()
    with pytest.raises(Invalid, match="qcow2"):
        await store_image(store, "img3", chunks(path.read_bytes()), disk_format="raw",
                          container_format="bare", limit=1 << 30, limit_message="big")
    assert store.objects == {}
