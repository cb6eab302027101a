"""What the image service's test modules share: users of a module's ``cloud`` (each
module starts its own, with its own settings) and a web server for web-download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.imagestore.image_server import Api, ImageCloud, file_server


@pytest.fixture(scope="module")
def admin(cloud: ImageCloud) -> Api:
    return cloud.api("admin")


@pytest.fixture(scope="module")
def demo(cloud: ImageCloud) -> Api:
    return cloud.api("demo")


@pytest.fixture(scope="module")
def third(cloud: ImageCloud) -> Api:
    """A member of project ``third`` (the module's ``cloud`` makes the user)."""
    return cloud.api("third")


@pytest.fixture(scope="module")
def webroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files to web-download: under ``allowed/`` (the clouds' allowed prefix) or not."""
    root = tmp_path_factory.mktemp("webroot")
    (root / "allowed").mkdir()
    (root / "denied").mkdir()
    return root


@pytest.fixture(scope="module")
def web(webroot: Path) -> Iterator[str]:
    with file_server(webroot) as url:
        yield url
