"""Alembic environment for the compute database (run through common.db.migrate).

The compute tables may share a PostgreSQL database with other services, so the
revision is kept in a table of its own (``compute_alembic_version``).
"""

from common.db import alembic_environment
from compute.models import Base

alembic_environment(Base.metadata, "compute_alembic_version")
