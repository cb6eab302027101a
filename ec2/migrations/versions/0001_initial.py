"""the EC2 front's id mappings and tags

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ec2_ids',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('uuid', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'uuid', name='uq_ec2_ids_kind_uuid')
    )
    op.create_table('ec2_tags',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('project_id', 'resource_id', 'key')
    )
    with op.batch_alter_table('ec2_tags', schema=None) as batch_op:
        batch_op.create_index('ix_ec2_tags_project_type', ['project_id', 'resource_type'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ec2_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_ec2_tags_project_type')
    op.drop_table('ec2_tags')
    op.drop_table('ec2_ids')
