"""Alembic environment for the block store database (run through common.db.migrate).

The volume tables may share a PostgreSQL database with other services, so the
revision is kept in a table of its own (``blockstore_alembic_version``).
"""

from blockstore.models import Base
from common.db import alembic_environment

alembic_environment(Base.metadata, "blockstore_alembic_version")
