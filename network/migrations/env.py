"""Alembic environment for the networking database (run through common.db.migrate).

The networking tables may share a PostgreSQL database with other services, so the
revision is kept in a table of its own (``network_alembic_version``).
"""

from common.db import alembic_environment
from network.models import Base

alembic_environment(Base.metadata, "network_alembic_version")
