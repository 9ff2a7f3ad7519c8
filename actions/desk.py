"""At the office: checking people in as they arrive, marking them served or not come."""

from __future__ import annotations

from actions import audit
from actions.bookings import state
from actions.context import Context
from actions.errors import NotAllowed
from booking import bookings
from booking.models import Booking


def _runs_the_day(ctx: Context, office_id: int) -> None:
    if not ctx.actor.may_manage(office_id):
        raise NotAllowed()


def _audit(ctx: Context, action: str, booking: Booking, before: dict[str, object]) -> None:
    audit.record(ctx.db, actor=ctx.actor.name, action=action, target_type="booking", target_id=booking.code,
                 office_id=booking.office_id, before=before, after=state(booking), now=ctx.now, ip=ctx.actor.ip)


def check_in(ctx: Context, *, code: str, office_id: int) -> Booking:
    """The person with this code has arrived at `office_id` (on the booking's own day, at its own office)."""
    _runs_the_day(ctx, office_id)
    found = bookings.find_booking(ctx.db, code)
    before = state(found)
    booking = bookings.check_in(ctx.db, code=code, actor=ctx.actor.history, now=ctx.now, office_id=office_id)
    _audit(ctx, "booking.check_in", booking, before)
    return booking


def mark_served(ctx: Context, *, code: str) -> Booking:
    found = bookings.find_booking(ctx.db, code)
    _runs_the_day(ctx, found.office_id)
    before = state(found)
    booking = bookings.mark_served(ctx.db, booking_id=found.id, actor=ctx.actor.history, now=ctx.now)
    _audit(ctx, "booking.served", booking, before)
    return booking


def mark_no_show(ctx: Context, *, code: str) -> Booking:
    found = bookings.find_booking(ctx.db, code)
    _runs_the_day(ctx, found.office_id)
    before = state(found)
    booking = bookings.mark_no_show(ctx.db, booking_id=found.id, actor=ctx.actor.history, now=ctx.now,
                                    policy=ctx.policy)
    _audit(ctx, "booking.no_show", booking, before)
    return booking


def mark_no_shows(ctx: Context) -> int:
    """Everyone whose session has ended and whose grace has passed (the scheduler's job, as the system)."""
    if not ctx.actor.is_staff:
        raise NotAllowed()
    return bookings.mark_no_shows(ctx.db, now=ctx.now, actor=ctx.actor.history, policy=ctx.policy)
