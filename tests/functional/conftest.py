"""Fixtures that start real Strata services for functional tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.functional.identity_server import IdentityServer, make_server


def fresh_pg_database(base_url: str) -> str:
    """Create an empty database on the test PostgreSQL server; return its URL."""
    name = "strata_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def identity(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityServer]:
    """A running identity service, once on SQLite and once on real PostgreSQL."""
    db_url = ""
    if request.param == "postgresql":
        db_url = fresh_pg_database(request.getfixturevalue("postgres_url"))
    server = make_server(tmp_path_factory.mktemp(f"identity-{request.param}"), db_url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def identity_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityServer]:
    """A running identity service on SQLite only (for client-driven tests)."""
    server = make_server(tmp_path_factory.mktemp("identity-cli"))
    server.start()
    yield server
    server.stop()
