"""console tokens: one-time tokens of remote console URLs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
# 0002 (instance system metadata) was made beside this one: once both are in one
# tree this revises '0002', so that the chain has one head
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('console_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('console_type', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_index(op.f('ix_console_token_instance_uuid'), 'console_token',
                    ['instance_uuid'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_console_token_instance_uuid'), table_name='console_token')
    op.drop_table('console_token')
