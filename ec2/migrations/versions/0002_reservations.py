"""the reservation of each instance RunInstances made

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ec2_reservations',
    sa.Column('instance_uuid', sa.String(length=64), nullable=False),
    sa.Column('reservation_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('instance_uuid')
    )
    op.create_index(op.f('ix_ec2_reservations_reservation_id'), 'ec2_reservations',
                    ['reservation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_ec2_reservations_reservation_id'), table_name='ec2_reservations')
    op.drop_table('ec2_reservations')
