"""At the office: checking people in as they arrive, marking them served or not come."""

from __future__ import annotations

from collections.abc import Callable

from actions.bookings import audited, state
from actions.context import Context
from actions.errors import NotAllowed
from booking import bookings
from booking.models import Booking


def _runs_the_day(ctx: Context, office_id: int) -> None:
    if not ctx.actor.may_manage(office_id):
        raise NotAllowed()


def check_in(ctx: Context, *, code: str, office_id: int) -> Booking:
    """The person with this code has arrived at `office_id` (on the booking's own day, at its own office)."""
    _runs_the_day(ctx, office_id)
    before = state(bookings.find_booking(ctx.db, code))
    booking = bookings.check_in(ctx.db, code=code, actor=ctx.actor.history, now=ctx.now, office_id=office_id)
    audited(ctx, "booking.check_in", booking, before=before)
    return booking


def _at_the_desk(ctx: Context, code: str, action: str, change: Callable[[int], Booking]) -> Booking:
    found = bookings.find_booking(ctx.db, code)
    _runs_the_day(ctx, found.office_id)
    before = state(found)
    booking = change(found.id)
    audited(ctx, action, booking, before=before)
    return booking


def mark_served(ctx: Context, *, code: str) -> Booking:
    return _at_the_desk(ctx, code, "booking.served", lambda booking_id: bookings.mark_served(
        ctx.db, booking_id=booking_id, actor=ctx.actor.history, now=ctx.now))


def mark_no_show(ctx: Context, *, code: str) -> Booking:
    return _at_the_desk(ctx, code, "booking.no_show", lambda booking_id: bookings.mark_no_show(
        ctx.db, booking_id=booking_id, actor=ctx.actor.history, now=ctx.now, policy=ctx.policy))


def mark_no_shows(ctx: Context) -> int:
    """Everyone whose session has ended and whose grace has passed (the scheduler's job, as the system)."""
    if not ctx.actor.is_staff:
        raise NotAllowed()
    return bookings.mark_no_shows(ctx.db, now=ctx.now, actor=ctx.actor.history, policy=ctx.policy)
