"""Reminders: the evening before, and a set time before the session.

The scheduled job looks only at bookings for today and tomorrow, and each reminder has its own
dedupe key, so running the job every minute (or in two schedulers at once) queues each reminder
once. A booking made after its reminder time gets no reminder: the confirmation just said it all.
The key names the appointment the text tells of, so a booking that moves can be reminded of its
new one, and the dispatcher can tell (`is_current`) that a queued reminder tells of an old one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from booking.errors import InvalidPhone
from booking.models import Booking, BookingStatus, OfficeSession
from booking.phones import PhoneKind, parse_phone
from notifications import texts
from notifications.models import MessageKind, MessageStatus, OutboxMessage
from notifications.outbox import enqueue
from notifications.policy import SmsPolicy
from notifications.texts import Localizer
from notifications.zalo import booking_params

NAMES = ("evening", "before")
MOVED_AWAY = ("booking_moved", "the appointment has changed since")  # error code and message of a stale one


def _mobile(phone: str) -> bool:
    try:
        return parse_phone(phone).kind is PhoneKind.MOBILE
    except InvalidPhone:
        return False


def appointment_key(booking: Booking) -> str:
    """What a reminder tells: office, day, session, arrival window and queue number; a move changes it."""
    return (f"{booking.office_id}:{booking.date.isoformat()}:{booking.session_code}:"
            f"{booking.arrival_start.strftime('%H%M')}:{booking.queue_number}")


def reminder_key(name: str, booking: Booking) -> str:
    return f"reminder:{name}:{booking.id}:{appointment_key(booking)}"


def is_current(key: str | None, booking: Booking) -> bool:
    """Whether a reminder queued under `key` still tells of the booking's appointment."""
    return key in {reminder_key(name, booking) for name in NAMES}


def arrival(booking: Booking) -> datetime:
    return datetime.combine(booking.date, booking.arrival_start, ZoneInfo(booking.office.timezone))


def drop_stale(session: Session, booking: Booking, *, now: datetime) -> int:
    """Cancel the booking's waiting reminders of an appointment it no longer has; returns how many.

    The dispatcher would refuse them anyway; cancelled at the move, they no longer show as waiting.
    Their keys are given back, so that a booking coming back to that appointment is reminded again.
    """
    current = [reminder_key(name, booking) for name in NAMES]
    return len(session.execute(
        update(OutboxMessage).where(
            OutboxMessage.booking_id == booking.id, OutboxMessage.kind == MessageKind.REMINDER,
            OutboxMessage.status.in_([MessageStatus.QUEUED, MessageStatus.HELD]),
            OutboxMessage.dedupe_key.is_(None) | OutboxMessage.dedupe_key.not_in(current))
        .values(status=MessageStatus.CANCELLED, error_code=MOVED_AWAY[0], error_message=MOVED_AWAY[1],
                dedupe_key=None, updated_at=now)
        .returning(OutboxMessage.id)).all())


def queue_reminders(session: Session, *, now: datetime, policy: SmsPolicy, evening: time | None,
                    before: timedelta | None, localizer: Callable[[str], Localizer]) -> int:
    """Queue the reminders that have fallen due; returns how many were queued.

    Only the latest reminder owed is queued: after an outage that let both fall due, the evening
    one is not sent as well; nor is one while another of the same appointment still waits to go
    (both say the same), which is recorded as superseded. A reminder that could go out only at or
    after the arrival time is not queued: an early session's reminder held by quiet hours would
    arrive too late to help.
    """
    tz = policy.timezone
    today = now.astimezone(tz).date()
    candidates = session.execute(
        select(Booking, OfficeSession.start_time).join(OfficeSession, OfficeSession.id == Booking.session_id)
        .where(Booking.status == BookingStatus.BOOKED, Booking.date.between(today, today + timedelta(days=1)),
               OfficeSession.closed.is_(False))
        .options(joinedload(Booking.office))
    ).all()
    due = policy.due(now, urgent=policy.is_urgent(MessageKind.REMINDER))
    wanted: dict[str, Booking] = {}
    for booking, start_time in candidates:
        office_tz = ZoneInfo(booking.office.timezone)
        starts = datetime.combine(booking.date, start_time, office_tz)
        moments = []
        if evening is not None:
            moments.append(("evening", datetime.combine(booking.date - timedelta(days=1), evening, office_tz)))
        if before is not None:
            moments.append(("before", starts - before))
        owed = [(moment, name) for name, moment in moments if booking.created_at < moment <= now]
        if owed and due < arrival(booking) and _mobile(booking.phone):
            wanted[reminder_key(max(owed)[1], booking)] = booking
    if not wanted:
        return 0
    # Reminders sent before the key named the whole appointment (`reminder:evening:42:2027-03-02:S`)
    # count as sent too: without this, the day of the upgrade would send each one again.
    legacy = {key: f"reminder:{key.split(':')[1]}:{booking.id}:{booking.date.isoformat()}:{booking.session_code}"
              for key, booking in wanted.items()}
    done = set(session.scalars(select(OutboxMessage.dedupe_key).where(
        OutboxMessage.dedupe_key.in_([*wanted, *legacy.values()]))))
    fresh = {booking.id: (key, booking) for key, booking in wanted.items()
             if key not in done and legacy[key] not in done}
    if not fresh:
        return 0
    waiting = {booking_id for booking_id, key in session.execute(
        select(OutboxMessage.booking_id, OutboxMessage.dedupe_key).where(
            OutboxMessage.booking_id.in_(fresh), OutboxMessage.kind == MessageKind.REMINDER,
            OutboxMessage.status.in_([MessageStatus.QUEUED, MessageStatus.HELD, MessageStatus.SENDING])))
        if booking_id is not None and is_current(key, fresh[booking_id][1])}
    queued = 0
    for key, booking in fresh.values():
        loc = localizer(booking.language)
        body = texts.reminder(texts.visit_of(booking, loc.language), hotline=policy.hotline, loc=loc, fits=policy.fits)
        message = enqueue(session, kind=MessageKind.REMINDER, recipient=booking.phone, body=body,
                          language=booking.language, now=now, policy=policy, booking_id=booking.id, dedupe_key=key,
                          params=booking_params(booking))
        if message is not None and booking.id in waiting:
            # Settled, but kept so that its key is taken: left out, it would be queued a minute later and
            # follow the first one out.
            message.status, message.error_code = MessageStatus.CANCELLED, "superseded"
            message.error_message = "a reminder of the same appointment is still waiting to go"
        elif message is not None:
            queued += 1
    return queued
