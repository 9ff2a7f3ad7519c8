"""Finding closed days' appointments a new home: each moves to the soonest session with room.

When an office closes, a manager may rather move the people booked on those days than cancel
them: each keeps their booking code and goes, in queue order, to the soonest session at the same
office that still has a seat for the operators' channel. Whoever cannot be moved (no room within
the horizon, or already booked in that session) is handed back for the caller to cancel.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from booking import bookings
from booking.availability import SessionRoom, next_sessions_with_room
from booking.bookings import Actor
from booking.errors import BookingError
from booking.models import Booking
from booking.policy import BookingPolicy

ROOMS_LOOKED_AT = 20  # sessions tried per office before a booking is handed back


def move_to_soonest(session: Session, affected: list[Booking], *, actor: Actor, now: datetime,
                    policy: BookingPolicy) -> tuple[list[Booking], list[Booking]]:
    """Move each booking to its office's soonest session with room; return (moved, not moved).

    Each move runs in its own savepoint (the booking services are atomic), so one that fails
    leaves that booking where it was and the others are still tried. The sessions with room are
    listed once per office: a list gone stale is safe, since move() takes the seat under the
    session's lock and refuses a full one.
    """
    moved: list[Booking] = []
    stuck: list[Booking] = []
    rooms: dict[int, list[SessionRoom]] = {}  # per office, soonest first; a full one is skipped by move()
    for booking in affected:
        if booking.office_id not in rooms:
            rooms[booking.office_id] = next_sessions_with_room(
                session, now=now, policy=policy, limit=ROOMS_LOOKED_AT, channel=actor.channel,
                office_ids=[booking.office_id])
        for room in rooms[booking.office_id]:
            try:
                moved.append(bookings.move(session, booking_id=booking.id, office_id=room.office_id, day=room.date,
                                           code=room.code, actor=actor, now=now, policy=policy))
                break
            except BookingError:
                continue  # full by now, or this caller already holds a seat there: try the next one
        else:
            stuck.append(booking)
    return moved, stuck
