"""Fixtures of the EC2 front's tests: one private cloud for the package (its start is
the slow part), credentials and boto3 clients of demo (member of ``demo``), third
(member of ``third``), admin and reader (the reader role on ``demo``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.ec2.ec2_server import (
    Ec2Cloud,
    Ec2Credential,
    ec2_cloud,
    native_ids,
    private_subnet,
)


@pytest.fixture(scope="package")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ec2Cloud]:
    with ec2_cloud(tmp_path_factory) as c:
        yield c


@pytest.fixture(scope="package")
def demo_cred(cloud: Ec2Cloud) -> Ec2Credential:
    return cloud.credential("demo")


@pytest.fixture(scope="package")
def demo(cloud: Ec2Cloud, demo_cred: Ec2Credential) -> Any:
    return cloud.client(demo_cred)


@pytest.fixture(scope="package")
def third_cred(cloud: Ec2Cloud) -> Ec2Credential:
    return cloud.credential("third")


@pytest.fixture(scope="package")
def third(cloud: Ec2Cloud, third_cred: Ec2Credential) -> Any:
    return cloud.client(third_cred)


@pytest.fixture(scope="package")
def admin(cloud: Ec2Cloud) -> Any:
    return cloud.client(cloud.credential("admin"))


@pytest.fixture(scope="package")
def reader(cloud: Ec2Cloud) -> Any:
    return cloud.client(cloud.credential("reader"))


@pytest.fixture(scope="module")
def ami(cloud: Ec2Cloud, demo: Any) -> Iterator[str]:
    """A small raw image of demo's, by its EC2 id (deregistered after the module: the
    modules share the cloud)."""
    api = cloud.api("demo")
    img = api.create(name="guest", disk_format="raw", container_format="bare")
    r = api.upload(img["id"], b"\0" * 65536)
    assert r.status_code == 204, r.text
    ident = native_ids(cloud, "image", [img["id"]])[img["id"]]
    yield ident
    demo.deregister_image(ImageId=ident)


@pytest.fixture(scope="package")
def subnet(demo: Any) -> str:
    """The subnet of demo's network ``private`` (10.0.0.0/26), by its EC2 id."""
    return private_subnet(demo)
