"""A migrated image database (SQLite) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.db import Database, migrate
from imagestore.api import MIGRATIONS


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'images.db'}"
    migrate(url, MIGRATIONS)
    database = Database(url)
    yield database
    database.close()
