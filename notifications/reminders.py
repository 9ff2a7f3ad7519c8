"""Reminders: the evening before, and a set time before the session.

The scheduled job looks only at bookings for today and tomorrow, and each reminder has its own
dedupe key, so running the job every minute (or in two schedulers at once) queues each reminder
once. A booking made after its reminder time gets no reminder: the confirmation just said it all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from booking.errors import InvalidPhone
from booking.models import Booking, BookingStatus, OfficeSession
from booking.phones import PhoneKind, parse_phone
from notifications import texts
from notifications.models import MessageKind, OutboxMessage
from notifications.outbox import enqueue
from notifications.policy import SmsPolicy
from notifications.texts import Localizer

REMINDER = texts.N_("Reminder: appointment %(code)s at %(office)s on %(date)s (%(part)s), arrive %(start)s-%(end)s, "
                    "queue number %(queue)s.")


def _mobile(phone: str) -> bool:
    try:
        return parse_phone(phone).kind is PhoneKind.MOBILE
    except InvalidPhone:
        return False


def queue_reminders(session: Session, *, now: datetime, policy: SmsPolicy, evening: time | None,
                    before: timedelta | None, localizer: Callable[[str], Localizer]) -> int:
    """Queue the reminders that have fallen due; returns how many were queued."""
    tz = policy.timezone
    today = now.astimezone(tz).date()
    candidates = session.execute(
        select(Booking, OfficeSession.start_time).join(OfficeSession, OfficeSession.id == Booking.session_id)
        .where(Booking.status == BookingStatus.BOOKED, Booking.date.between(today, today + timedelta(days=1)))
        .options(joinedload(Booking.office))
    ).all()
    wanted: dict[str, tuple[Booking, str]] = {}
    for booking, start_time in candidates:
        office_tz = ZoneInfo(booking.office.timezone)
        starts = datetime.combine(booking.date, start_time, office_tz)
        moments = []
        if evening is not None:
            moments.append(("evening", datetime.combine(booking.date - timedelta(days=1), evening, office_tz)))
        if before is not None:
            moments.append(("before", starts - before))
        for name, moment in moments:
            if moment <= now < starts and booking.created_at < moment and _mobile(booking.phone):
                # Keyed by the appointment, not only the booking: a booking moved to another day
                # gets the reminders of its new day.
                key = f"reminder:{name}:{booking.id}:{booking.date.isoformat()}:{booking.session_code}"
                wanted[key] = (booking, name)
    if not wanted:
        return 0
    done = set(session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(wanted))))
    queued = 0
    for key, (booking, _name) in wanted.items():
        if key in done:
            continue
        loc = localizer(booking.language)
        office = booking.office.name_en if booking.language == "en" and booking.office.name_en else booking.office.name
        body = loc.gettext(REMINDER, code=booking.code, office=office, date=loc.date(booking.date),
                           part=texts.part_of_day(booking.session_code, loc), start=loc.time(booking.arrival_start),
                           end=loc.time(booking.arrival_end), queue=booking.queue_label)
        if enqueue(session, kind=MessageKind.REMINDER, recipient=booking.phone, body=body, language=booking.language,
                   now=now, policy=policy, booking_id=booking.id, dedupe_key=key) is not None:
            queued += 1
    return queued
