"""Fixtures of the EC2 front's tests: one private cloud for the package (its start is
the slow part), credentials and boto3 clients of demo (member of ``demo``), third
(member of ``third``), admin and reader (the reader role on ``demo``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.ec2.ec2_server import Ec2Cloud, Ec2Credential, ec2_cloud


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
