"""Alembic environment for the EC2 front's database (run through common.db.migrate).

Its tables may share a PostgreSQL database with other services, so the revision
is kept in a table of its own (``ec2_alembic_version``).
"""

from common.db import alembic_environment
from ec2.models import Base

alembic_environment(Base.metadata, "ec2_alembic_version")
