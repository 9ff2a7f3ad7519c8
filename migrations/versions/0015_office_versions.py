"""offices.version: a number the database changes on every write of an office row (for per-process caches)

Revision ID: 0015
Revises: 0014

Every INSERT or UPDATE of a row of `offices`, whoever sends it (the console, an import, a script),
gives the row a version larger than any the table holds: a sequence on PostgreSQL (BEFORE trigger),
the larger of max(version) + 1 and the milliseconds since 2025 on SQLite (AFTER trigger; writers are
serialised there). So `(count(*), sum(version))` over the table changes whenever a committed write
changed it, and a process may keep what it derived from the offices (the IVR's list of offices
to say, hotline/ivr/directory.py) until that pair changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_NEXT = ("MAX(COALESCE((SELECT MAX(version) FROM offices), 0) + 1, "
               "CAST((julianday('now') - 2460676.5) * 86400000 AS INTEGER))")  # milliseconds since 2025


def upgrade() -> None:
    op.add_column('offices', sa.Column('version', sa.BigInteger(), server_default='0', nullable=False))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE SEQUENCE office_versions")
        op.execute("CREATE FUNCTION office_version() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN NEW.version := nextval('office_versions'); RETURN NEW; END $$")
        op.execute("CREATE TRIGGER offices_version BEFORE INSERT OR UPDATE ON offices "
                   "FOR EACH ROW EXECUTE FUNCTION office_version()")
    else:
        op.execute(f"CREATE TRIGGER offices_version_insert AFTER INSERT ON offices FOR EACH ROW BEGIN "
                   f"UPDATE offices SET version = {SQLITE_NEXT} WHERE id = NEW.id; END")
        op.execute(f"CREATE TRIGGER offices_version_update AFTER UPDATE ON offices FOR EACH ROW "
                   f"WHEN NEW.version = OLD.version BEGIN "
                   f"UPDATE offices SET version = {SQLITE_NEXT} WHERE id = NEW.id; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER offices_version ON offices")
        op.execute("DROP FUNCTION office_version()")
        op.execute("DROP SEQUENCE office_versions")
        op.drop_column('offices', 'version')
    else:
        op.execute("DROP TRIGGER offices_version_insert")
        op.execute("DROP TRIGGER offices_version_update")
        with op.batch_alter_table('offices') as batch_op:
            batch_op.drop_column('version')
