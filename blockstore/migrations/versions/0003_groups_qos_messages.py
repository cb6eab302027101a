"""QoS specs, volume type access, groups and group snapshots, user messages, quota classes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('group_snapshot',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('group_id', sa.String(length=36), nullable=False),
    sa.Column('group_type_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('group_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_snapshot_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_group_snapshot_project_id'), ['project_id'], unique=False)

    op.create_table('group_type',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('is_public', sa.Boolean(), nullable=False),
    sa.Column('group_specs', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('qos_specs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('consumer', sa.String(length=16), nullable=False),
    sa.Column('specs', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('quota_class_limit',
    sa.Column('class_name', sa.String(length=255), nullable=False),
    sa.Column('resource', sa.String(length=300), nullable=False),
    sa.Column('hard_limit', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('class_name', 'resource')
    )
    op.create_table('user_message',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('resource_type', sa.String(length=32), nullable=True),
    sa.Column('resource_uuid', sa.String(length=36), nullable=True),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('message_level', sa.String(length=16), nullable=False),
    sa.Column('action_id', sa.String(length=8), nullable=False),
    sa.Column('detail_id', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('user_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_message_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_user_message_project_created', ['project_id', 'created_at'], unique=False)

    op.create_table('volume_group',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('availability_zone', sa.String(length=255), nullable=False),
    sa.Column('group_type_id', sa.String(length=36), nullable=False),
    sa.Column('volume_type_ids', sa.JSON(), nullable=False),
    sa.Column('group_snapshot_id', sa.String(length=36), nullable=True),
    sa.Column('source_group_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('volume_group', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volume_group_project_id'), ['project_id'], unique=False)

    op.create_table('volume_type_access',
    sa.Column('volume_type_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('volume_type_id', 'project_id')
    )
    with op.batch_alter_table('snapshot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_snapshot_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_snapshot_group_snapshot_id'), ['group_snapshot_id'], unique=False)

    with op.batch_alter_table('volume', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('provider_id', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_volume_group_id'), ['group_id'], unique=False)

    with op.batch_alter_table('volume_type', schema=None) as batch_op:
        batch_op.add_column(sa.Column('qos_specs_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_volume_type_qos_specs_id'), ['qos_specs_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('volume_type', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volume_type_qos_specs_id'))
        batch_op.drop_column('qos_specs_id')

    with op.batch_alter_table('volume', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volume_group_id'))
        batch_op.drop_column('provider_id')
        batch_op.drop_column('group_id')

    with op.batch_alter_table('snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snapshot_group_snapshot_id'))
        batch_op.drop_column('group_snapshot_id')

    op.drop_table('volume_type_access')
    with op.batch_alter_table('volume_group', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volume_group_project_id'))

    op.drop_table('volume_group')
    with op.batch_alter_table('user_message', schema=None) as batch_op:
        batch_op.drop_index('ix_user_message_project_created')
        batch_op.drop_index(batch_op.f('ix_user_message_expires_at'))

    op.drop_table('user_message')
    op.drop_table('quota_class_limit')
    op.drop_table('qos_specs')
    op.drop_table('group_type')
    with op.batch_alter_table('group_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_snapshot_project_id'))
        batch_op.drop_index(batch_op.f('ix_group_snapshot_group_id'))

    op.drop_table('group_snapshot')
