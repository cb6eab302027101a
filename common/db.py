"""SQL metadata databases: SQLite embedded by default, PostgreSQL by URL.

Services use the synchronous SQLAlchemy 2 ORM inside worker threads, so that no
database call ever runs on the event loop thread: ``await db.run(fn)`` calls
``fn(session)`` in a thread, inside a transaction that commits when ``fn``
returns and rolls back when it raises.

Schemas are managed by Alembic migrations kept beside each service's models
(``<service>/migrations``); :func:`migrate` brings a database to the newest
revision and is run by every service at start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8, max_overflow=8,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


class Database:
    """An engine plus a small thread pool that runs ORM work off the loop."""

    def __init__(self, url: str, workers: int = 4) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite allows one writer at a time; more threads only queue on its lock.
        n = 1 if url.startswith("sqlite") else workers
        self._executor = ThreadPoolExecutor(max_workers=n, thread_name_prefix="db")

    def _call(self, fn: Callable[[Session], T]) -> T:
        with self._sessions() as session, session.begin():
            return fn(session)

    async def run(self, fn: Callable[[Session], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def run_sync(self, fn: Callable[[Session], T]) -> T:
        return self._call(fn)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()


def migrate(url: str, migrations_dir: Path) -> None:
    """Upgrade the database at ``url`` to the newest migration in ``migrations_dir``."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


def alembic_environment(metadata: MetaData, version_table: str | None = None) -> None:
    """What every service's ``migrations/env.py`` runs: the migrations on the connection
    :func:`migrate` hands over, or, from a shell (``alembic revision --autogenerate``), on
    the configured URL. ``version_table`` keeps a service's revision apart when services
    share one PostgreSQL database."""
    from alembic import context

    config = context.config
    options: dict[str, Any] = {"target_metadata": metadata, "render_as_batch": True}
    if version_table:
        options["version_table"] = version_table
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        context.configure(connection=conn, **options)
        with context.begin_transaction():
            context.run_migrations()
