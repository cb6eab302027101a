"""volume backups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('backup',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('volume_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('fail_reason', sa.Text(), nullable=True),
    sa.Column('container', sa.String(length=255), nullable=False),
    sa.Column('is_incremental', sa.Boolean(), nullable=False),
    sa.Column('parent_id', sa.String(length=36), nullable=True),
    sa.Column('object_count', sa.Integer(), nullable=False),
    sa.Column('volume_back_to', sa.String(length=32), nullable=True),
    sa.Column('availability_zone', sa.String(length=255), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('data_timestamp', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('backup', schema=None) as batch_op:
        batch_op.create_index('ix_backup_volume_created', ['volume_id', 'created_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_backup_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_backup_project_id'), ['project_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backup', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_backup_project_id'))
        batch_op.drop_index(batch_op.f('ix_backup_parent_id'))
        batch_op.drop_index('ix_backup_volume_created')

    op.drop_table('backup')
