"""the user data RunInstances gave each instance

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ec2_reservations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_data', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ec2_reservations', schema=None) as batch_op:
        batch_op.drop_column('user_data')
