"""waitlist_entries: people waiting for a seat in a full session, and the offers of freed seats (call, SMS)

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As notifications.models.MessageKind had them when this was written.
KINDS = ('confirmation', 'reminder', 'cancellation', 'move', 'closure', 'callback_ack', 'broadcast', 'nearly_turn')
KINDS_NOW = (*KINDS, 'waitlist_offer')
LIVE = "status IN ('waiting', 'offered')"
CHANNELS = ('ivr', 'operator', 'web', 'api', 'walkin')
STATUSES = ('waiting', 'offered', 'accepted', 'declined', 'expired', 'cancelled')
CALLS = ('due', 'placed', 'answered', 'unanswered')


def _kinds(table: str, kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(f'ck_{table}_messagekind'), type_='check')
        batch_op.create_check_constraint(batch_op.f(f'ck_{table}_messagekind'),
                                         sa.column('kind').in_(kinds))


def upgrade() -> None:
    op.create_table(
        'waitlist_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('session_code', sa.String(length=1), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('language', sa.String(length=5), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('procedure_id', sa.Integer(), nullable=True),
        sa.Column('field', sa.String(length=120), nullable=True),
        sa.Column('channel', sa.Enum(*CHANNELS, name='channel', native_enum=False, create_constraint=True,
                                     length=16), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('phone_verified', sa.Boolean(), nullable=False),
        sa.Column('status', sa.Enum(*STATUSES, name='waitliststatus', native_enum=False, create_constraint=True,
                                    length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('offered_at', sa.DateTime(), nullable=True),
        sa.Column('offer_expires_at', sa.DateTime(), nullable=True),
        sa.Column('hold_id', sa.Integer(), nullable=True),
        sa.Column('call_status', sa.Enum(*CALLS, name='offercall', native_enum=False, create_constraint=True,
                                         length=16), nullable=True),
        sa.Column('call_sid', sa.String(length=64), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_waitlist_entries_booking_id_bookings'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_waitlist_entries_office_id_offices'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['procedure_id'], ['procedures.id'],
                                name=op.f('fk_waitlist_entries_procedure_id_procedures'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['session_id'], ['office_sessions.id'],
                                name=op.f('fk_waitlist_entries_session_id_office_sessions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entries')),
        sa.UniqueConstraint('call_sid', name=op.f('uq_waitlist_entries_call_sid')),
    )
    op.create_index('uq_waitlist_live_phone_per_session', 'waitlist_entries', ['session_id', 'phone'], unique=True,
                    postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE))
    op.create_index('ix_waitlist_session_status', 'waitlist_entries', ['session_id', 'status'], unique=False)
    op.create_index('ix_waitlist_call', 'waitlist_entries', ['call_status'], unique=False)
    op.create_index(op.f('ix_waitlist_entries_phone'), 'waitlist_entries', ['phone'], unique=False)
    _kinds('outbox', KINDS_NOW)
    _kinds('broadcasts', KINDS_NOW)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind = 'waitlist_offer'")
    _kinds('broadcasts', KINDS)
    _kinds('outbox', KINDS)
    op.drop_index(op.f('ix_waitlist_entries_phone'), table_name='waitlist_entries')
    op.drop_index('ix_waitlist_call', table_name='waitlist_entries')
    op.drop_index('ix_waitlist_session_status', table_name='waitlist_entries')
    op.drop_index('uq_waitlist_live_phone_per_session', table_name='waitlist_entries')
    op.drop_table('waitlist_entries')
