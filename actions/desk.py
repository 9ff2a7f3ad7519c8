"""At the office: checking people in as they arrive, desks calling them, walk-ins, marking them served or not come."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from actions import audit
from actions.bookings import audited, state
from actions.context import Context
from actions.errors import NotAllowed
from booking import bookings, queue
from booking.errors import InvalidSettings, NotFound
from booking.lookup import get_or_not_found
from booking.models import Booking, Desk, Office
from notifications import notices


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


# -- desks and the live queue (issue 14) ---------------------------------------------------------------

@dataclass(frozen=True)
class Counter:
    """What a counter screen shows its staff: the desk, who is at it, how many wait, where to send someone."""

    desk: Desk
    serving: Booking | None
    waiting: int
    others: list[Desk]


def desks(ctx: Context, *, office_id: int) -> list[Desk]:
    _runs_the_day(ctx, office_id)
    return queue.desks(ctx.db, office_id)


def save_desk(ctx: Context, *, office_id: int, number: int, name: str, active: bool = True,
              desk_id: int | None = None) -> Desk:
    """The office's manager adds a desk or changes one."""
    _runs_the_day(ctx, office_id)
    before = None
    if desk_id is not None:
        found = queue.desk_of(ctx.db, office_id, desk_id)
        before = {"number": found.number, "name": found.name, "active": found.active}
    desk = queue.save_desk(ctx.db, office_id=office_id, number=number, name=name, active=active, desk_id=desk_id)
    audit.record(ctx.db, actor=ctx.actor.name, action="desk.saved", target_type="desk", target_id=desk.id,
                 office_id=office_id, before=before, after={"number": desk.number, "name": desk.name,
                                                            "active": desk.active}, now=ctx.now, ip=ctx.actor.ip)
    return desk


def open_counter(ctx: Context, *, office_id: int, desk_id: int) -> Counter:
    _runs_the_day(ctx, office_id)
    desk = queue.desk_of(ctx.db, office_id, desk_id)
    office = get_or_not_found(ctx.db, Office, office_id)
    return Counter(desk, queue.current(ctx.db, desk.id),
                   queue.waiting_count(ctx.db, office_id, queue.today_at(office, ctx.now), desk_id=desk.id),
                   [d for d in queue.desks(ctx.db, office_id, active_only=True) if d.id != desk.id])


def _nearly_turn(ctx: Context, office: Office) -> None:
    """Everyone with at most the office's number of people ahead gets their one 'nearly your turn' SMS."""
    ahead = office.nearly_turn_ahead
    if ahead <= 0:
        return
    for position, booking in enumerate(queue.waiting(ctx.db, office.id, queue.today_at(office, ctx.now),
                                                     limit=ahead + 1)):
        if position > 0:  # the first is called next: the screen and the chime tell them
            notices.nearly_turn(ctx.db, booking, ahead=position, now=ctx.now, policy=ctx.sms,
                                loc=ctx.loc(booking.language))


def call_next(ctx: Context, *, office_id: int, desk_id: int) -> Booking | None:
    """Call the next person to the desk (None: nobody waits); those now near the front are told by SMS."""
    _runs_the_day(ctx, office_id)
    booking = queue.call_next(ctx.db, office_id=office_id, desk_id=desk_id, actor=ctx.actor.history, now=ctx.now)
    if booking is not None:
        audited(ctx, "booking.called", booking, before={"status": booking.status, "desk_id": None})
    _nearly_turn(ctx, get_or_not_found(ctx.db, Office, office_id))
    return booking


def recall(ctx: Context, *, office_id: int, desk_id: int) -> Booking:
    _runs_the_day(ctx, office_id)
    booking = queue.recall(ctx.db, office_id=office_id, desk_id=desk_id, actor=ctx.actor.history, now=ctx.now)
    audited(ctx, "booking.recalled", booking)
    return booking


def transfer(ctx: Context, *, office_id: int, desk_id: int, to_desk_id: int) -> Booking:
    _runs_the_day(ctx, office_id)
    booking = queue.transfer(ctx.db, office_id=office_id, desk_id=desk_id, to_desk_id=to_desk_id,
                             actor=ctx.actor.history, now=ctx.now)
    audited(ctx, "booking.transferred", booking, before={"desk_id": desk_id})
    return booking


def served_at_desk(ctx: Context, *, office_id: int, desk_id: int) -> Booking:
    """The desk's current person is served (the same action as from the roster)."""
    _runs_the_day(ctx, office_id)
    return mark_served(ctx, code=queue.serving(ctx.db, office_id=office_id, desk_id=desk_id).code)


def no_show_at_desk(ctx: Context, *, office_id: int, desk_id: int) -> Booking:
    """The desk called its current person, who did not come up."""
    _runs_the_day(ctx, office_id)
    before = state(queue.serving(ctx.db, office_id=office_id, desk_id=desk_id))
    booking = queue.not_at_counter(ctx.db, office_id=office_id, desk_id=desk_id, actor=ctx.actor.history,
                                   now=ctx.now)
    audited(ctx, "booking.no_show", booking, before=before)
    return booking


def issue_walk_in(ctx: Context, *, office_id: int, phone: str | None = None, name: str | None = None,
                  language: str = "vi") -> Booking:
    """A walk-in ticket from the session running now, checked in at once."""
    _runs_the_day(ctx, office_id)
    booking = queue.issue_walk_in(ctx.db, office_id=office_id, actor=ctx.actor.history, now=ctx.now,
                                  policy=ctx.policy, phone=phone, name=name, language=language)
    audited(ctx, "booking.walk_in", booking)
    return booking


def board(ctx: Context, *, office_code: str) -> queue.Board:
    """The office's public screen: anybody may look (queue numbers and desks only)."""
    office = ctx.db.scalar(select(Office).where(Office.code == office_code, Office.active.is_(True)))
    if office is None:
        raise NotFound()
    return queue.board(ctx.db, office, now=ctx.now)


def set_nearly_turn(ctx: Context, *, office_id: int, ahead: int) -> Office:
    """How many people ahead a checked-in person is told 'nearly your turn' (0: never)."""
    _runs_the_day(ctx, office_id)
    if not 0 <= ahead <= 50:
        raise InvalidSettings(detail="0 to 50 people ahead")
    office = get_or_not_found(ctx.db, Office, office_id)
    before = {"nearly_turn_ahead": office.nearly_turn_ahead}
    office.nearly_turn_ahead = ahead
    audit.record(ctx.db, actor=ctx.actor.name, action="office.nearly_turn", target_type="office", target_id=office.id,
                 office_id=office.id, before=before, after={"nearly_turn_ahead": ahead}, now=ctx.now, ip=ctx.actor.ip)
    return office


def day_at_desks(ctx: Context, *, office_id: int) -> list[queue.DeskDay]:
    """Today's figures per desk (served, not come, median wait and service), for the office's staff."""
    _runs_the_day(ctx, office_id)
    office = get_or_not_found(ctx.db, Office, office_id)
    return queue.day_at_desks(ctx.db, office, queue.today_at(office, ctx.now))
