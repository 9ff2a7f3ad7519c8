"""Finding closed days' appointments a new home: each moves to the soonest later session with room.

When an office closes, a manager may rather move the people booked on those days than cancel
them: each keeps their booking code and goes, in queue order, to the soonest session at the same
office that starts no earlier than their own appointment and still has a seat for the operators'
channel. Never to an earlier one: a person told on Wednesday night that Thursday is closed cannot
be expected at 07:00 on Wednesday, nor anyone to come before the time they planned their day
around. Whoever cannot be moved (no later room within the horizon, or already booked in that
session) is handed back for the caller to cancel.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from booking import bookings
from booking.availability import SessionRoom, next_sessions_with_room
from booking.bookings import Actor
from booking.errors import BookingError
from booking.models import Booking, Channel
from booking.policy import BookingPolicy

ROOMS_LOOKED_AT = 20  # later sessions tried per booking before it is handed back
EVERY_ROOM = 10_000  # the listing is bounded by the offices' booking horizon, not by this


def appointment_start(booking: Booking) -> datetime:
    """When the booking's arrival window opens, on the office's clock."""
    return datetime.combine(booking.date, booking.arrival_start, ZoneInfo(booking.office.timezone))


def later_rooms(rooms: list[SessionRoom], booking: Booking) -> list[SessionRoom]:
    """The sessions of `rooms` (soonest first) that start no earlier than the booking's arrival, bar its own."""
    tz = ZoneInfo(booking.office.timezone)
    since = appointment_start(booking)
    here = (booking.office_id, booking.date, booking.session_code)
    return [r for r in rooms if r.starts_at(tz) >= since and (r.office_id, r.date, r.code) != here]


def move_to_soonest(session: Session, affected: list[Booking], *, actor: Actor, now: datetime,
                    policy: BookingPolicy) -> tuple[list[Booking], list[Booking]]:
    """Move each booking to its office's soonest later session with room; return (moved, not moved).

    Each move runs in its own savepoint (the booking services are atomic), so one that fails
    leaves that booking where it was and the others are still tried. The sessions with room are
    listed once per office: a list gone stale is safe, since move() takes the seat under the
    session's lock and refuses a full one. The seats are the operators' whoever asks (a person at
    the console or an integration): the move is the office's doing, and every edge must place
    the same people in the same sessions.
    """
    mover = Actor(actor.name, Channel.OPERATOR)
    moved: list[Booking] = []
    stuck: list[Booking] = []
    rooms: dict[int, list[SessionRoom]] = {}  # per office, soonest first; a full one is skipped by move()
    for booking in affected:
        if booking.office_id not in rooms:
            rooms[booking.office_id] = next_sessions_with_room(
                session, now=now, policy=policy, limit=EVERY_ROOM, channel=Channel.OPERATOR,
                office_ids=[booking.office_id])
        for room in later_rooms(rooms[booking.office_id], booking)[:ROOMS_LOOKED_AT]:
            try:
                moved.append(bookings.move(session, booking_id=booking.id, office_id=room.office_id, day=room.date,
                                           code=room.code, actor=mover, now=now, policy=policy))
                break
            except BookingError:
                continue  # full by now, or this caller already holds a seat there: try the next one
        else:
            stuck.append(booking)
    return moved, stuck
