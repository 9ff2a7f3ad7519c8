"""outbox: the channel a message went by (sms or zalo), its Zalo template parameters, and why Zalo refused it

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        # Every message queued before this revision went by SMS.
        batch_op.add_column(sa.Column('channel', sa.String(length=8), nullable=False, server_default='sms'))
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('zalo_error', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('zalo_error')
        batch_op.drop_column('params')
        batch_op.drop_column('channel')
