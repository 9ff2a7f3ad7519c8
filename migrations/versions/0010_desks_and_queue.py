"""desks (counters) and the live queue: which desk called a booking, when, how often; walk-ins without a phone; the 'nearly your turn' SMS

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As notifications.models.MessageKind had them when this was written.
KINDS = ('confirmation', 'reminder', 'cancellation', 'move', 'closure', 'callback_ack', 'broadcast')
KINDS_NOW = (*KINDS, 'nearly_turn')
LIVE_BEFORE = "status <> 'cancelled'"
# A walk-in who gave no number has an empty phone: several of them may share a session.
LIVE_NOW = "status <> 'cancelled' AND phone <> ''"


def _kinds(table: str, kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(f'ck_{table}_messagekind'), type_='check')
        batch_op.create_check_constraint(batch_op.f(f'ck_{table}_messagekind'),
                                         sa.column('kind').in_(kinds))


def _live_index(where: str) -> None:
    op.drop_index('uq_bookings_live_phone_per_session', table_name='bookings')
    op.create_index('uq_bookings_live_phone_per_session', 'bookings', ['session_id', 'phone'], unique=True,
                    postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade() -> None:
    op.create_table(
        'desks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.CheckConstraint('number BETWEEN 1 AND 999', name=op.f('ck_desks_number_range')),
        sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_desks_office_id_offices'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_desks')),
        sa.UniqueConstraint('office_id', 'number', name=op.f('uq_desks_office_id_number')),
    )
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('desk_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('called_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('call_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_bookings_desk_id_desks'), 'desks', ['desk_id'], ['id'],
                                    ondelete='SET NULL')
    _live_index(LIVE_NOW)
    with op.batch_alter_table('offices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nearly_turn_ahead', sa.Integer(), server_default='3', nullable=False))
        batch_op.create_check_constraint(batch_op.f('ck_offices_nearly_turn_range'),
                                         sa.text('nearly_turn_ahead BETWEEN 0 AND 50'))
    _kinds('outbox', KINDS_NOW)
    _kinds('broadcasts', KINDS_NOW)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind = 'nearly_turn'")
    _kinds('broadcasts', KINDS)
    _kinds('outbox', KINDS)
    with op.batch_alter_table('offices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_offices_nearly_turn_range'), type_='check')
        batch_op.drop_column('nearly_turn_ahead')
    op.execute("DELETE FROM bookings WHERE phone = ''")
    _live_index(LIVE_BEFORE)
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_bookings_desk_id_desks'), type_='foreignkey')
        batch_op.drop_column('call_count')
        batch_op.drop_column('called_at')
        batch_op.drop_column('desk_id')
    op.drop_table('desks')
