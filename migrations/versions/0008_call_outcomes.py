"""calls: what each call came to (outcome, first booking, where it ended, duration) for the call centre's figures

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As hotline.ivr.models.CallOutcome had them when this was written.
OUTCOMES = ('checked', 'booked', 'cancelled', 'rescheduled', 'callback', 'transferred', 'hung_up')


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome', sa.Enum(*OUTCOMES, name='calloutcome', native_enum=False,
                                                         create_constraint=True, length=16), nullable=True))
        batch_op.add_column(sa.Column('outcome_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('booked_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('ended_in', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('duration_seconds', sa.Integer(), nullable=True))
        batch_op.create_index('ix_calls_started_at', ['started_at'], unique=False)
    # Calls that ended before this revision keep no outcome: nothing recorded what they came to.


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_started_at')
        batch_op.drop_column('duration_seconds')
        batch_op.drop_column('ended_in')
        batch_op.drop_column('booked_at')
        batch_op.drop_column('outcome_at')
        batch_op.drop_constraint(batch_op.f('ck_calls_calloutcome'), type_='check')
        batch_op.drop_column('outcome')
