"""scheduler heartbeats: which scheduler processes are alive, and which one leads

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import database.base  # custom column types (UTCDateTime)


revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scheduler_heartbeats',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('leader', 'standby', name='schedulerrole', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('started_at', database.base.UTCDateTime(), nullable=False),
    sa.Column('role_since', database.base.UTCDateTime(), nullable=False),
    sa.Column('beat_at', database.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_heartbeats'))
    )
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.create_index('ix_scheduler_heartbeats_role_beat_at', ['role', 'beat_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scheduler_heartbeats', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduler_heartbeats_role_beat_at')

    op.drop_table('scheduler_heartbeats')
