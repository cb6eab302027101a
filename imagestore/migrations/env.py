"""Alembic environment for the image database (run through common.db.migrate).

The image tables may share a PostgreSQL database with other services, so the
revision is kept in a table of its own (``imagestore_alembic_version``).
"""

from common.db import alembic_environment
from imagestore.models import Base

alembic_environment(Base.metadata, "imagestore_alembic_version")
