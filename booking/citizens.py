"""Citizens by phone number: created on first contact, locked while their bookings change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from booking.models import Citizen


def lock_citizen(session: Session, phone: str, *, now: datetime, name: str | None = None) -> Citizen:
    """The citizen row for `phone`, created if new and locked until the transaction ends.

    Locking it makes one phone's bookings happen one after another, so that two simultaneous
    calls from the same number cannot both slip under the future-bookings limit.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Citizen).values(phone=phone, name=name, broadcast_opt_out=False, created_at=now)
    # DO UPDATE (rather than DO NOTHING) takes the row lock in the same statement, on both engines.
    stmt = stmt.on_conflict_do_update(
        index_elements=["phone"], set_={"name": func.coalesce(Citizen.name, stmt.excluded.name)})
    return session.scalars(stmt.returning(Citizen), execution_options={"populate_existing": True}).one()


def set_broadcast_opt_out(session: Session, phone: str, *, opted_out: bool, now: datetime) -> Citizen:
    """Record a citizen's choice about broadcast notices (never about their own confirmations)."""
    citizen = lock_citizen(session, phone, now=now)
    citizen.broadcast_opt_out = opted_out
    citizen.opted_out_at = now if opted_out else None
    return citizen
