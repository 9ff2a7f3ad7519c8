"""campaigns and campaign_targets: outbound calls offering sessions to an uploaded list

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CAMPAIGN = ('draft', 'running', 'paused', 'done', 'cancelled')
TARGET = ('pending', 'calling', 'booked', 'declined', 'unreachable', 'failed')


def upgrade() -> None:
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=5), nullable=False),
        sa.Column('status', sa.Enum(*CAMPAIGN, name='campaignstatus', native_enum=False, create_constraint=True,
                                    length=16), nullable=False),
        sa.Column('rate_per_minute', sa.Integer(), nullable=False),
        sa.Column('max_attempts', sa.Integer(), nullable=False),
        sa.Column('retry_minutes', sa.Integer(), nullable=False),
        sa.Column('hours_start', sa.Time(), nullable=False),
        sa.Column('hours_end', sa.Time(), nullable=False),
        sa.Column('file_name', sa.String(length=200), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('targets_count', sa.Integer(), nullable=False),
        sa.Column('duplicates_count', sa.Integer(), nullable=False),
        sa.Column('refused_count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_campaigns_office_id_offices'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    )
    op.create_index(op.f('ix_campaigns_office_id'), 'campaigns', ['office_id'], unique=False)
    op.create_table(
        'campaign_targets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('status', sa.Enum(*TARGET, name='campaigntargetstatus', native_enum=False, create_constraint=True,
                                    length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_call_sid', sa.String(length=64), nullable=True),
        sa.Column('booking_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_campaign_targets_booking_id_bookings'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'],
                                name=op.f('fk_campaign_targets_campaign_id_campaigns'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_targets')),
        sa.UniqueConstraint('campaign_id', 'phone', name=op.f('uq_campaign_targets_campaign_id_phone')),
        sa.UniqueConstraint('last_call_sid', name=op.f('uq_campaign_targets_last_call_sid')),
    )
    op.create_index('ix_campaign_targets_due', 'campaign_targets', ['campaign_id', 'status', 'next_attempt_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_campaign_targets_due', table_name='campaign_targets')
    op.drop_table('campaign_targets')
    op.drop_index(op.f('ix_campaigns_office_id'), table_name='campaigns')
    op.drop_table('campaigns')
