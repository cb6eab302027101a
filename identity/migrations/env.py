"""Alembic environment for the identity database (run through common.db.migrate)."""

from alembic import context

from identity.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # e.g. `alembic revision --autogenerate` from a shell
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
