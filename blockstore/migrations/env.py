"""Alembic environment for the block store database (run through common.db.migrate).

The volume tables may share a PostgreSQL database with other services, so the
revision is kept in a table of its own (``blockstore_alembic_version``).
"""

from alembic import context

from blockstore.models import Base

VERSION_TABLE = "blockstore_alembic_version"

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # e.g. `alembic revision --autogenerate` from a shell
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata,
                          render_as_batch=True, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
