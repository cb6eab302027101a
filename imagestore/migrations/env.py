"""Alembic environment for the image database (run through common.db.migrate).

The image tables may share a PostgreSQL database with other services, so the
revision is kept in a table of its own (``imagestore_alembic_version``).
"""

from alembic import context

from imagestore.models import Base

VERSION_TABLE = "imagestore_alembic_version"

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
