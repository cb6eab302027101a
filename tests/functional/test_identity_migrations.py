"""Identity's migrations carry existing data forward, on SQLite and PostgreSQL:
an EC2 credential made before 0002 is still found by its access key."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from common.db import make_engine, migrate
from identity.api import MIGRATIONS
from tests.functional.conftest import fresh_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return fresh_pg_database(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'identity.db'}"


def test_ec2_credentials_get_their_lookup_key(db_url: str) -> None:
    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO domain (id, name, description, enabled, tags, extra) "
                          "VALUES ('default', 'Default', '', true, '[]', '{}')"))
        conn.execute(text("INSERT INTO \"user\" (id, name, domain_id, enabled, created_at, "
                          "extra) VALUES ('u', 'u', 'default', true, '2026-01-01', '{}')"))
        for ident, kind in (("hash-of-access", "ec2"), ("other", "cert")):
            conn.execute(text("INSERT INTO credential (id, user_id, type, encrypted_blob, "
                              "extra) VALUES (:id, 'u', :kind, 'sealed', '{}')"),
                         {"id": ident, "kind": kind})
    migrate(db_url, MIGRATIONS)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, access_hash FROM credential")).all())
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert rows == {"hash-of-access": "hash-of-access", "other": None}
    assert version == "0002"
