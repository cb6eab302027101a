"""Alembic environment for the identity database (run through common.db.migrate)."""

from common.db import alembic_environment
from identity.models import Base

alembic_environment(Base.metadata)
