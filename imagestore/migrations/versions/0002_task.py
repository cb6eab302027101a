"""tasks: the interoperable import's task (and later POST /v2/tasks)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('task',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('image_id', sa.String(length=36), nullable=True),
    sa.Column('input', sa.Text(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_task_image', 'task', ['image_id', 'created_at'], unique=False)
    op.create_index('ix_task_owner_created', 'task', ['owner', 'created_at', 'id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_task_owner_created', table_name='task')
    op.drop_index('ix_task_image', table_name='task')
    op.drop_table('task')
