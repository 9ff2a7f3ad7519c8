"""procedures: what citizens read about a procedure (documents, fee, processing time, online, by post, national code); bookings: the expected result date

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('documents', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('documents_en', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('documents_short', sa.String(length=120), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('documents_short_en', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('fee_vnd', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('fee_note', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('processing_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('online_url', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('by_post', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('national_code', sa.String(length=40), nullable=True))
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('result_date', sa.Date(), nullable=True))
    # Bookings made before this revision keep no result date: their procedures stated no processing time.


def downgrade() -> None:
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('result_date')
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.drop_column('national_code')
        batch_op.drop_column('by_post')
        batch_op.drop_column('online_url')
        batch_op.drop_column('processing_days')
        batch_op.drop_column('fee_note')
        batch_op.drop_column('fee_vnd')
        batch_op.drop_column('documents_short_en')
        batch_op.drop_column('documents_short')
        batch_op.drop_column('documents_en')
        batch_op.drop_column('documents')
