"""Fixtures of the EC2 front's tests: one private cloud per module, credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.ec2.ec2_server import Ec2Cloud, Ec2Credential, ec2_cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ec2Cloud]:
    with ec2_cloud(tmp_path_factory) as c:
        yield c


@pytest.fixture(scope="module")
def demo_cred(cloud: Ec2Cloud) -> Ec2Credential:
    return cloud.credential("demo")


@pytest.fixture(scope="module")
def demo(cloud: Ec2Cloud, demo_cred: Ec2Credential) -> Any:
    return cloud.client(demo_cred)


@pytest.fixture(scope="module")
def third(cloud: Ec2Cloud) -> Any:
    return cloud.client(cloud.credential("third"))
