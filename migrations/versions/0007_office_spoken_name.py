"""offices: the short name the IVR speaks, and the register's codes of the unit each office serves

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As booking.models.offices had them when this was written; a migration keeps its own copy, so that
# a later change to the model's rule does not change what this upgrade did.
NAME_PREFIXES = ("Trung tâm Phục vụ hành chính công ", "Bộ phận tiếp nhận và trả kết quả ", "Bộ phận Một cửa ")


def _spoken(name: str) -> str:
    name = " ".join(name.split())
    for prefix in NAME_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def upgrade() -> None:
    with op.batch_alter_table('offices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('spoken_name', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('official_code', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('province_code', sa.String(length=4), nullable=True))
        batch_op.create_index(batch_op.f('ix_offices_province_code'), ['province_code'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_offices_official_code'), ['official_code'])
    # Existing offices say what their name says after "Trung tâm Phục vụ hành chính công": "xã Năm Căn".
    offices = sa.table('offices', sa.column('id', sa.Integer()), sa.column('name', sa.String()),
                       sa.column('spoken_name', sa.String()))
    bind = op.get_bind()
    for office_id, name in bind.execute(sa.select(offices.c.id, offices.c.name)).all():
        bind.execute(offices.update().where(offices.c.id == office_id).values(spoken_name=_spoken(name or '')))


def downgrade() -> None:
    with op.batch_alter_table('offices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_offices_official_code'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_offices_province_code'))
        batch_op.drop_column('province_code')
        batch_op.drop_column('official_code')
        batch_op.drop_column('spoken_name')
