"""The service clients other services use (``imagestore.client.ImageClient``,
``proxy.client.SwiftClient``, ``identity.client.service_validator``) against a real
private Strata: every call, and what each kind of failure becomes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from common import config
from common.errors import BadRequest, Forbidden, NotFound, TooLarge, Unavailable
from common.http import map_domain_error
from common.httpclient import (
    RemoteBadRequest,
    RemoteError,
    RemoteForbidden,
    RemoteNotFound,
    RemoteTooLarge,
    RemoteUnauthorized,
    RemoteUnavailable,
    RemoteUnprocessable,
)
from identity.client import TokenValidator, service_validator
from imagestore.client import ImageClient, error_message
from proxy.client import SwiftClient, project_account
from tests.cloud import Cloud, running_strata
from tests.conftest import free_port


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """Identity, the object store and the image service (no block store)."""
    with running_strata(tmp_path_factory, "strata-clients",
                        STRATA_BLOCKSTORE_ENABLED="false") as env:
        yield Cloud(env)


def demo_token(cloud: Cloud) -> tuple[str, str]:
    return cloud.login("demo", str(cloud.secrets["demo_password"]), "demo")


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def new_name() -> str:
    return uuid.uuid4().hex


# -- identity: one way to build the validator and the service account -----------------


async def test_service_validator_is_the_service_account(
        cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in cloud.env.items():
        if key.startswith("STRATA_"):
            monkeypatch.setenv(key, value)
    cfg = config.load()
    async with aiohttp.ClientSession() as session:
        validator = service_validator(cfg, session)
        token = await validator.service_token()
        info = await validator.validate(token)
        assert info is not None and info.user_name == "strata-service"
        assert "service" in info.roles
        assert await validator.service_project_id() == info.project_id
        assert await validator.validate(demo_token(cloud)[0]) is not None


# -- the image service ----------------------------------------------------------------


async def test_image_client_round_trip(cloud: Cloud) -> None:
    token, project = demo_token(cloud)
    data = b"strata image bytes " * 5000
    async with aiohttp.ClientSession() as session:
        images = ImageClient(cloud.url("imagestore"), token, session=session)
        image = await images.create({"name": "from-the-client", "disk_format": "raw",
                                     "container_format": "bare", "hw_disk_bus": "scsi"})
        assert image["status"] == "queued" and image["owner"] == project
        # streamed up in uneven chunks, down as it arrives
        await images.upload(image["id"], chunks(data[:1000], data[1000:70000], data[70000:]))
        shown = await images.show(image["id"])
        assert shown["status"] == "active" and shown["size"] == len(data)
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        assert shown["hw_disk_bus"] == "scsi"
        async with await images.download(image["id"]) as download:
            got = b"".join([c async for c in download.chunks(4096)])
        assert got == data
        await images.delete(image["id"])
        with pytest.raises(RemoteNotFound) as gone:
            await images.show(image["id"])
        assert gone.value.answered == 404 and isinstance(gone.value, NotFound)


async def test_image_client_errors_are_the_answers_classes(cloud: Cloud) -> None:
    token, _ = demo_token(cloud)
    async with aiohttp.ClientSession() as session:
        images = ImageClient(cloud.url("imagestore"), token, session=session)
        with pytest.raises(RemoteBadRequest) as bad:
            await images.create({"name": "x", "disk_format": "floppy",
                                 "container_format": "bare"})
        assert bad.value.answered == 400 and isinstance(bad.value, BadRequest)
        assert "floppy" in error_message(bad.value)  # Glance's own message, unwrapped
        with pytest.raises(RemoteForbidden) as refused:
            await images.create({"name": "x", "disk_format": "raw",
                                 "container_format": "bare", "visibility": "public"})
        assert refused.value.answered == 403 and isinstance(refused.value, Forbidden)
        assert "admins" in error_message(refused.value)
        # an error a caller does not catch is answered with the status it was answered
        mapped = map_domain_error(refused.value)
        assert mapped is not None and mapped.status == 403
        with pytest.raises(RemoteNotFound):
            await images.download(str(uuid.uuid4()))
        stranger = ImageClient(cloud.url("imagestore"), "not-a-token", session=session)
        with pytest.raises(RemoteUnauthorized) as unauth:
            await stranger.show(str(uuid.uuid4()))
        assert unauth.value.answered == 401
        nowhere = ImageClient(f"http://127.0.0.1:{free_port()}", token, session=session,
                              conn_timeout=2)
        with pytest.raises(RemoteUnavailable, match="the image service is unreachable") as down:
            await nowhere.show(str(uuid.uuid4()))
        assert down.value.answered is None and isinstance(down.value, Unavailable)


# -- the object store ------------------------------------------------------------------


async def test_swift_client_as_the_service_user(cloud: Cloud) -> None:
    async with aiohttp.ClientSession() as session:
        validator = TokenValidator(session, cloud.identity_url, user="strata-service",
                                   password=str(cloud.secrets["service_password"]),
                                   project="service")
        swift = SwiftClient.for_service(cloud.proxy_url, validator, session=session)
        container = "client-" + new_name()[:8]
        await swift.ensure_container(container)
        await swift.ensure_container(container)  # made once
        data = b"0123456789" * 1000
        etag = await swift.put_object(container, "dir/a", data,
                                      etag=hashlib.md5(data).hexdigest())
        assert etag == hashlib.md5(data).hexdigest()
        await swift.put_object(container, "dir/b", chunks(b"streamed ", b"body"))
        await swift.put_object(container, "other", b"x", headers={"X-Object-Meta-Color": "red"})
        assert await swift.read_object(container, "dir/b") == b"streamed body"
        head = await swift.head_object(container, "other")
        assert head is not None and head["X-Object-Meta-Color"] == "red"
        async with await swift.get_object(container, "dir/a",
                                          headers={"Range": "bytes=10-19"}) as part:
            assert part.status == 206 and await part.read() == data[10:20]
        names = [o["name"] async for o in swift.list_objects(container, prefix="dir/", limit=1)]
        assert names == ["dir/a", "dir/b"]  # two pages of one
        # a static large object of two segments, and its delete with them
        await swift.put_manifest(container, "big", [
            {"path": f"/{container}/dir/a", "etag": etag, "size_bytes": len(data)},
            {"path": f"/{container}/dir/b", "etag": hashlib.md5(b"streamed body").hexdigest(),
             "size_bytes": 13}])
        assert await swift.read_object(container, "big") == data + b"streamed body"
        outcome = await swift.delete_manifest(container, "big")
        assert outcome["Response Status"].startswith("200") and outcome["Number Deleted"] == 3
        assert await swift.head_object(container, "dir/a") is None
        await swift.delete_objects(container, ["other", "never-there"])
        assert [o async for o in swift.list_objects(container)] == []
        assert await swift.delete_object(container, "other") is False
        # in the service project's own account
        assert (await swift.account_url()).endswith(
            "/v1/" + project_account(await validator.service_project_id()))


async def test_swift_client_errors_are_the_answers_classes(cloud: Cloud) -> None:
    token, project = demo_token(cloud)
    async with aiohttp.ClientSession() as session:
        swift = SwiftClient(cloud.proxy_url, token, project_account(project), session=session)
        await swift.create_container("quota", {"X-Container-Meta-Quota-Count": "0"})
        await swift.create_container("plain")
        with pytest.raises(RemoteUnprocessable) as mismatch:
            await swift.put_object("plain", "o", b"data", etag="0" * 32)
        assert mismatch.value.answered == 422
        with pytest.raises(RemoteTooLarge) as full:
            await swift.put_object("quota", "o", b"data")
        assert full.value.answered == 413 and isinstance(full.value, TooLarge)
        with pytest.raises(RemoteNotFound) as missing:
            await swift.read_object("plain", "nothing/here")
        # messages name the container and object, never the account
        assert "plain/nothing/here" in missing.value.message
        assert project not in missing.value.message
        await swift.put_object("plain", "small", b"abc")
        with pytest.raises(RemoteError) as past_end:
            await swift.get_object("plain", "small", headers={"Range": "bytes=10-"})
        assert past_end.value.answered == 416 and isinstance(past_end.value, BadRequest)
        # another project's account: the demo user may not write there
        admin_token, admin_project = cloud.login("admin", str(cloud.secrets["admin_password"]),
                                                 "admin")
        assert admin_token
        elsewhere = SwiftClient(cloud.proxy_url, token, project_account(admin_project),
                                session=session)
        with pytest.raises(RemoteForbidden):
            await elsewhere.create_container("not-mine")
        stranger = SwiftClient(cloud.proxy_url, "not-a-token", project_account(project),
                               session=session)
        with pytest.raises(RemoteUnauthorized):
            await stranger.head_object("plain", "small")

        async def no_token() -> str:
            raise ConnectionError("identity is down")

        tokenless = SwiftClient(cloud.proxy_url, no_token, project_account(project),
                                session=session)
        with pytest.raises(RemoteUnavailable, match="cannot authenticate to the object store"):
            await tokenless.head_object("plain", "small")
        nowhere = SwiftClient(f"http://127.0.0.1:{free_port()}", token, "AUTH_x",
                              conn_timeout=2)
        try:
            with pytest.raises(RemoteUnavailable, match="the object store is unreachable"):
                await nowhere.head_object("plain", "small")
        finally:
            await nowhere.close()
