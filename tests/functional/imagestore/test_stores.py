"""The image data store contract (imagestore/stores/base.py), one suite run against
every store: memory, filesystem (a temporary directory) and swift (a real
private Strata, ``strata up -d``, used as the image service will: its internal
``strata-service`` user's token from identity, 1 MiB segments).

Then what only one store has: the filesystem store's refusal of paths outside
its directory and its ``StoreFull`` on a full disk; the swift store's layout
(segments plus an SLO manifest), its cleanup of stray segments, its error
mapping, and a 300 MiB upload and download in constant memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import requests

from identity.client import TokenValidator, password_auth_body
from imagestore.stores.base import (
    AlreadyExists,
    ImageStore,
    InvalidLocation,
    NotFound,
    StoreError,
    StoreFull,
)
from imagestore.stores.filesystem import FilesystemStore
from imagestore.stores.memory import MemoryStore
from imagestore.stores.swift import SwiftStore
from tests.cloud import running_strata
from tests.conftest import free_port
from tests.functional.swift.conftest import StrataInstance

MIB = 1 << 20
SEG = MIB  # the swift store's segment size in these tests
KINDS = ["memory", "filesystem", "swift"]


class Boom(Exception):
    """What a failing upload's iterator raises."""


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 7919 + size).randbytes(size)


async def feed(data: bytes, sizes: tuple[int, ...] = (1, 7, 65536, 300001, 4096, 1 << 20),
               fail_at: int | None = None, gate: asyncio.Event | None = None,
               reached: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    """``data`` in chunks of irregular sizes (crossing segment boundaries anywhere);
    at ``fail_at`` bytes raise Boom, or (with ``gate``) set ``reached`` and wait."""
    pos, i = 0, 0
    while pos < len(data):
        if fail_at is not None and pos >= fail_at:
            if gate is None:
                raise Boom("the client went away")
            assert reached is not None
            reached.set()
            await gate.wait()
        n = sizes[i % len(sizes)]
        yield data[pos:pos + n]
        pos += n
        i += 1
        if i % 8 == 0:
            await asyncio.sleep(0)  # let concurrent uploads interleave
    yield b""  # an empty chunk is allowed anywhere


@dataclass
class SwiftAccess:
    strata: StrataInstance
    identity_url: str
    password: str
    project_id: str
    token: str  # a service-user token for checks made with requests

    @property
    def account(self) -> str:
        return f"AUTH_{self.project_id}"

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                **kw: object) -> requests.Response:
        url = f"{self.strata.proxy_url}/v1/{self.account}{path}"
        return requests.request(method, url, headers={"X-Auth-Token": self.token,
                                                      **(headers or {})},
                                timeout=60, **kw)  # type: ignore[arg-type]

    def names(self, container: str, prefix: str) -> list[str]:
        r = self.request("GET", f"/{container}", params={"format": "json", "prefix": prefix})
        assert r.status_code in (200, 204, 404), r.text
        return [i["name"] for i in r.json()] if r.status_code == 200 else []


@pytest.fixture(scope="module")
def strata_swift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataInstance]:
    """``strata up -d`` of a private instance with identity and the object store only
    (as ``tests/functional/swift/conftest.py``'s, without the image service: the stores
    are tested below it)."""
    with running_strata(tmp_path_factory, "strata-img",
                        STRATA_IMAGESTORE_ENABLED="false") as env:
        yield StrataInstance(env)


@pytest.fixture(scope="module")
def swift_access(strata_swift: StrataInstance) -> SwiftAccess:
    """The internal service user's project (its account holds the images) and a token."""
    identity = f"http://127.0.0.1:{strata_swift.env['STRATA_IDENTITY_PORT']}"
    password = str(strata_swift.secrets["service_password"])
    r = requests.post(identity + "/v3/auth/tokens?nocatalog", timeout=30,
                      json=password_auth_body("strata-service", password, "service"))
    assert r.status_code == 201, r.text
    return SwiftAccess(strata_swift, identity, password, r.json()["token"]["project"]["id"],
                       r.headers["X-Subject-Token"])


@contextlib.asynccontextmanager
async def swift_store(access: SwiftAccess, **kw: object) -> AsyncIterator[SwiftStore]:
    async with aiohttp.ClientSession() as session:
        validator = TokenValidator(session, access.identity_url, user="strata-service",
                                   password=access.password, project="service")
        store = SwiftStore(access.strata.proxy_url, validator.service_token, access.account,
                           **{"segment_size": SEG, **kw})  # type: ignore[arg-type]
        try:
            yield store
        finally:
            await store.close()


@dataclass
class Harness:
    """A store under test and a look at what it holds, from outside the store."""

    kind: str
    store: ImageStore
    leftovers: Callable[[str], list[str]]  # anything stored for an image id


@pytest.fixture(params=KINDS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    kind = request.param
    if kind == "memory":
        mem = MemoryStore()
        yield Harness(kind, mem, lambda i: [k for k in mem.objects if k == i])
    elif kind == "filesystem":
        directory = tmp_path / "images"
        fs = FilesystemStore(directory)
        yield Harness(kind, fs, lambda i: sorted(p.name for p in directory.glob(f"*{i}*")))
        await fs.close()
    else:
        access: SwiftAccess = request.getfixturevalue("swift_access")
        async with swift_store(access) as sw:
            yield Harness(kind, sw, lambda i: access.names("images", i))


def new_id() -> str:
    return str(uuid.uuid4())


async def read(store: ImageStore, location: str, offset: int = 0,
               length: int | None = None) -> bytes:
    return await (await store.get(location, offset, length)).read_all()


# --- the contract, for every store ------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG + 12345])
async def test_round_trip(harness: Harness, size: int) -> None:
    data, image = data_of(size), new_id()
    stored = await harness.store.add(image, feed(data))
    assert stored.size == size
    assert image in stored.location
    assert await read(harness.store, stored.location) == data
    # a second read of the same location gives the same bytes
    stream = await harness.store.get(stored.location)
    digest = hashlib.sha256()
    async for chunk in stream:
        assert isinstance(chunk, bytes) and chunk
        digest.update(chunk)
    assert digest.digest() == hashlib.sha256(data).digest()
    await harness.store.delete(stored.location)
    assert harness.leftovers(image) == []


async def test_local_path_names_the_stored_bytes_or_nothing(harness: Harness) -> None:
    data, image = data_of(SEG + 7), new_id()
    stored = await harness.store.add(image, feed(data))
    local = harness.store.local_path(stored.location)
    if harness.store.local_files:
        assert local is not None and local.read_bytes() == data
    else:
        assert local is None
    await harness.store.delete(stored.location)


async def test_ranged_gets(harness: Harness) -> None:
    size = 2 * SEG + SEG // 2
    data = data_of(size, 1)
    stored = await harness.store.add(new_id(), feed(data))
    for offset, length in [(0, 10), (SEG - 5, 10), (SEG, SEG), (1, None), (2 * SEG + 3, None),
                           (size - 7, 100), (size - 1, 1), (0, size), (0, size + 99)]:
        want = data[offset:] if length is None else data[offset:offset + length]
        got = await read(harness.store, stored.location, offset, length)
        assert got == want, (offset, length)
    # nothing at or past the end, and nothing for an empty range
    for offset, length in [(size, None), (size, 5), (size + 100, None), (5, 0)]:
        assert await read(harness.store, stored.location, offset, length) == b""
    with pytest.raises(ValueError):
        await harness.store.get(stored.location, -1)
    # a stream closed early releases what it holds and yields no more
    stream = await harness.store.get(stored.location)
    first = await stream.__anext__()
    assert data.startswith(first)
    await stream.aclose()
    assert [c async for c in stream] == []
    await harness.store.delete(stored.location)


async def test_delete_then_get_is_not_found_and_delete_is_idempotent(harness: Harness) -> None:
    keep, doomed = new_id(), new_id()
    kept = await harness.store.add(keep, feed(data_of(SEG + 3, 2)))
    gone = await harness.store.add(doomed, feed(data_of(2 * SEG + 1, 3)))
    await harness.store.delete(gone.location)
    with pytest.raises(NotFound):
        await harness.store.get(gone.location)
    with pytest.raises(NotFound):
        await harness.store.get(gone.location, 5, 5)
    with pytest.raises(NotFound):
        await harness.store.get(gone.location, 0, 0)
    await harness.store.delete(gone.location)  # twice is fine
    assert harness.leftovers(doomed) == []
    # the other image is untouched
    assert await read(harness.store, kept.location) == data_of(SEG + 3, 2)
    await harness.store.delete(kept.location)


async def test_failed_upload_leaves_nothing(harness: Harness) -> None:
    image = new_id()
    source = feed(data_of(3 * SEG, 4), fail_at=2 * SEG + SEG // 2)
    with pytest.raises(Boom, match="the client went away"):  # the iterator's own exception
        await harness.store.add(image, source)
    assert harness.leftovers(image) == []
    await asyncio.sleep(0.5)  # nor does the interrupted write complete later
    assert harness.leftovers(image) == []
    # the id is free again: a retry works
    stored = await harness.store.add(image, feed(data_of(SEG, 5)))
    assert await read(harness.store, stored.location) == data_of(SEG, 5)
    await harness.store.delete(stored.location)
    assert harness.leftovers(image) == []


async def test_cancelled_upload_leaves_nothing(harness: Harness) -> None:
    image, gate, reached = new_id(), asyncio.Event(), asyncio.Event()
    source = feed(data_of(3 * SEG, 6), fail_at=SEG + SEG // 2, gate=gate, reached=reached)
    task = asyncio.ensure_future(harness.store.add(image, source))
    await asyncio.wait_for(reached.wait(), 30)
    await asyncio.sleep(0.2)  # the first segment is committed by now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert harness.leftovers(image) == []


async def test_concurrent_adds(harness: Harness) -> None:
    sizes = [SEG * 2 + 11, SEG // 3, 3 * SEG, 1, SEG]
    images = [new_id() for _ in sizes]
    stored = await asyncio.gather(*(
        harness.store.add(image, feed(data_of(size, n), sizes=(65536 + n, 1000 + n)))
        for n, (image, size) in enumerate(zip(images, sizes, strict=True))))
    assert len({s.location for s in stored}) == len(sizes)
    contents = await asyncio.gather(*(read(harness.store, s.location) for s in stored))
    for n, (size, got) in enumerate(zip(sizes, contents, strict=True)):
        assert got == data_of(size, n)
    await asyncio.gather(*(harness.store.delete(s.location) for s in stored))
    for image in images:
        assert harness.leftovers(image) == []


async def test_existing_image_is_not_overwritten(harness: Harness) -> None:
    image = new_id()
    stored = await harness.store.add(image, feed(data_of(SEG + 5, 7)))
    with pytest.raises(AlreadyExists):
        await harness.store.add(image, feed(data_of(10, 8)))
    assert await read(harness.store, stored.location) == data_of(SEG + 5, 7)
    await harness.store.delete(stored.location)


@pytest.mark.parametrize("bad_id", ["", "../etc", "a/b", ".hidden", "x" * 256, "a\0b"])
async def test_bad_image_ids_are_refused(harness: Harness, bad_id: str) -> None:
    with pytest.raises(StoreError, match="invalid image id"):
        await harness.store.add(bad_id, feed(b"data"))


async def test_foreign_locations_are_refused(harness: Harness, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"not an image")
    foreign = [f"file://{secret}", "file:///etc/passwd", "http://example.com/x", "", "garbage",
               "swift://images/../x", "swift://images/a/b", "swift:///x", "swift://../x",
               "swift://images/x?multipart-manifest=get", "memory://../x", "memory://a/b"]
    foreign += {"memory": ["swift://images/abc"], "filesystem": ["memory://abc"],
                "swift": ["memory://abc", "file:///abc"]}[harness.kind]
    for location in foreign:
        with pytest.raises(InvalidLocation):
            await harness.store.get(location)
        with pytest.raises(InvalidLocation):
            await harness.store.delete(location)
    assert secret.read_bytes() == b"not an image"


# --- filesystem only --------------------------------------------------------------------------


async def test_filesystem_layout_and_path_tricks(tmp_path: Path) -> None:
    directory = tmp_path / "images"
    store = FilesystemStore(directory)
    image = new_id()
    stored = await store.add(image, feed(data_of(1000, 9)))
    assert stored.location == f"{directory.resolve().as_uri()}/{image}"
    assert (directory / image).read_bytes() == data_of(1000, 9)
    assert os.listdir(directory) == [image]  # no temporary file left
    outside = tmp_path / "outside"
    outside.write_bytes(b"keep me")
    base = directory.resolve().as_uri()
    tricks = [f"{base}/../outside", f"{base}/%2E%2E/outside", f"{base}/./{image}",
              f"{base}//{image}", f"{base}/{image}/", f"{base}/sub/{image}",
              f"file://otherhost{directory.resolve()}/{image}", f"{base}/{image}?x=1",
              f"{base}/{image}%00", f"{base}/.tmp-{image}", base, f"{base}/..",
              f"file://{tmp_path.resolve()}/outside"]
    for location in tricks:
        with pytest.raises(InvalidLocation):
            await store.get(location)
        with pytest.raises(InvalidLocation):
            await store.delete(location)
    assert outside.read_bytes() == b"keep me"
    assert (directory / image).exists()
    # a symlink planted under an image's name is not followed
    link = new_id()
    (directory / link).symlink_to(outside)
    with pytest.raises(StoreError, match="symlink"):
        await store.get(f"{base}/{link}")
    # ... and an add of that name is refused, the target untouched
    with pytest.raises(AlreadyExists):
        await store.add(link, feed(b"overwrite?"))
    assert outside.read_bytes() == b"keep me"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root and mount; skipped where that is not allowed)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


async def test_filesystem_full_disk_is_store_full(small_fs: Path) -> None:
    store = FilesystemStore(small_fs)
    image = new_id()
    with pytest.raises(StoreFull, match="full"):
        await store.add(image, feed(data_of(3 * MIB, 10)))
    assert os.listdir(small_fs) == []  # the partial temporary file is gone
    stored = await store.add(image, feed(data_of(MIB, 11)))  # and the space is back
    assert await read(store, stored.location) == data_of(MIB, 11)


# --- swift only -------------------------------------------------------------------------------


async def test_swift_layout_segments_and_manifest(swift_access: SwiftAccess) -> None:
    image, empty = new_id(), new_id()
    size = 2 * SEG + 100
    async with swift_store(swift_access) as store:
        stored = await store.add(image, feed(data_of(size, 12)))
        assert stored.location == f"swift://images/{image}"
        blank = await store.add(empty, feed(b""))
        # segments <id>/00001.. (streamed as chunked PUTs) and an SLO manifest <id>
        assert swift_access.names("images", image) == [
            image, f"{image}/00001", f"{image}/00002", f"{image}/00003"]
        r = swift_access.request("HEAD", f"/images/{image}")
        assert r.headers["X-Static-Large-Object"].lower() == "true"
        assert int(r.headers["Content-Length"]) == size
        seg = swift_access.request("GET", f"/images/{image}/00002")
        assert seg.content == data_of(size, 12)[SEG:2 * SEG]
        # an empty image is one plain empty object
        r = swift_access.request("HEAD", f"/images/{empty}")
        assert r.status_code == 200 and r.headers["Content-Length"] == "0"
        assert "X-Static-Large-Object" not in r.headers
        assert swift_access.names("images", empty) == [empty]
        await store.delete(blank.location)
        assert swift_access.names("images", empty) == []
        # a stray segment (an upload interrupted by a crash) goes with the image
        r = swift_access.request("PUT", f"/images/{image}/00099", data=b"stray")
        assert r.status_code == 201
        await store.delete(stored.location)
        assert swift_access.names("images", image) == []


async def test_swift_delete_cleans_segments_without_manifest(swift_access: SwiftAccess) -> None:
    image = new_id()
    for n in (1, 2):
        r = swift_access.request("PUT", f"/images/{image}/{n:05d}", data=b"left over")
        assert r.status_code == 201
    async with swift_store(swift_access) as store:
        await store.delete(f"swift://images/{image}")
        assert swift_access.names("images", image) == []
        # and the id can be used
        stored = await store.add(image, feed(data_of(10, 13)))
        assert await read(store, stored.location) == data_of(10, 13)
        await store.delete(stored.location)


async def test_swift_quota_is_store_full(swift_access: SwiftAccess) -> None:
    """A container whose quota refuses the upload (413): StoreFull, nothing left."""
    r = swift_access.request("PUT", "/images-quota",
                             headers={"X-Container-Meta-Quota-Count": "0"})
    assert r.status_code in (201, 202)
    image = new_id()
    async with swift_store(swift_access, container="images-quota") as store:
        with pytest.raises(StoreFull, match="full"):
            await store.add(image, feed(data_of(2 * SEG, 14)))
    assert swift_access.names("images-quota", image) == []


async def test_swift_errors_are_store_errors(swift_access: SwiftAccess) -> None:
    async def bad_token() -> str:
        return "not-a-token"

    async def no_identity() -> str:
        raise ConnectionError("identity is down")

    proxy = swift_access.strata.proxy_url
    account = swift_access.account
    stores = {
        "refused the image service's credentials (401)": SwiftStore(proxy, bad_token, account),
        "cannot authenticate": SwiftStore(proxy, no_identity, account),
        "unreachable": SwiftStore(f"http://127.0.0.1:{free_port()}", bad_token, account,
                                  conn_timeout=2),
    }
    image = new_id()
    for message, store in stores.items():
        try:
            with pytest.raises(StoreError, match=re.escape(message)):
                await store.add(image, feed(b"x"))
            with pytest.raises(StoreError, match=re.escape(message)):
                await store.get(f"swift://images/{image}")
            with pytest.raises(StoreError, match=re.escape(message)):
                await store.delete(f"swift://images/{image}")
        finally:
            await store.close()
    assert swift_access.names("images", image) == []


RSS_SCRIPT = textwrap.dedent("""
    import asyncio, hashlib, json, resource, sys, uuid
    import aiohttp
    from identity.client import TokenValidator
    from imagestore.stores.swift import SwiftStore

    MIB = 1 << 20
    cfg = json.loads(sys.argv[1])

    def rss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    async def source(count):
        block = bytearray(MIB)
        for i in range(count):
            block[:8] = i.to_bytes(8, "big")
            yield bytes(block)

    async def main():
        async with aiohttp.ClientSession() as session:
            v = TokenValidator(session, cfg["identity"], user="strata-service",
                               password=cfg["password"], project="service")
            store = SwiftStore(cfg["proxy"], v.service_token, cfg["account"])
            warm = await store.add(str(uuid.uuid4()), source(2))   # load every code path
            await (await store.get(warm.location)).read_all()
            await store.delete(warm.location)
            want = hashlib.md5()
            async for chunk in source(cfg["mib"]):
                want.update(chunk)
            base = rss()
            stored = await store.add(str(uuid.uuid4()), source(cfg["mib"]))
            after_add = rss()
            got = hashlib.md5()
            async for chunk in await store.get(stored.location):
                got.update(chunk)
            after_get = rss()
            await store.delete(stored.location)
            await store.close()
        print(json.dumps({"base": base, "after_add": after_add, "after_get": after_get,
                          "size": stored.size, "same": got.digest() == want.digest()}))

    asyncio.run(main())
""")


async def test_swift_300_mib_in_constant_memory(swift_access: SwiftAccess) -> None:
    """300 MiB up and down with the default 64 MiB segments, in a fresh process whose
    peak RSS must grow by far less than one segment."""
    cfg = {"identity": swift_access.identity_url, "password": swift_access.password,
           "proxy": swift_access.strata.proxy_url, "account": swift_access.account,
           "mib": 300}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RSS_SCRIPT, json.dumps(cfg),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[3])
    out, err = await asyncio.wait_for(proc.communicate(), 600)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)
    print("300 MiB through the swift store:", result)
    assert result["size"] == 300 * MIB and result["same"]
    assert result["after_add"] - result["base"] < 32 * MIB, result
    assert result["after_get"] - result["base"] < 32 * MIB, result

