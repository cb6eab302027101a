"""A service's Alembic migrations against its models, on a real SQLite database."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine

from common.db import migrate


def assert_migrations_match(tmp_path: Path, migrations: Path, metadata: MetaData,
                            version_table: str) -> None:
    """Migrated from nothing, the database is what the models declare."""
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    migrate(url, migrations)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": version_table})
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()
