"""holds belong to whoever took them, and their ids are never reused

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Holds live for two minutes: any left from before the upgrade belong to nobody ('') and lapse.
    # On SQLite the table is rebuilt with AUTOINCREMENT, so a deleted hold's id is never handed out again.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    with op.batch_alter_table('holds', recreate='always' if sqlite else 'auto',
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=80), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_holds_owner'), ['owner'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('holds') as batch_op:
        batch_op.drop_index(batch_op.f('ix_holds_owner'))
        batch_op.drop_column('owner')
