"""What managers change: weekly sessions, per-date capacity and hours, crowd limits, closures.

A change that touches a session already open for booking also updates its row, so the new
numbers hold at once; nothing here drops a booking. Closing an office returns the bookings it
affects, and the edge decides with the manager whether to cancel, move or notify them.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from booking import seats
from booking.errors import InvalidSettings
from booking.lookup import get_or_not_found
from booking.models import (
    ArrivalWindow, Booking, BookingStatus, CalendarDay, CalendarDayKind, Channel, ChannelReserve, Closure, Hold,
    Office, OfficeSession, SessionOverride, SessionTemplate,
)
from booking.schedule import plan_days


def _office(session: Session, office_id: int) -> Office:
    """The office, locked against bookings that would open a new session meanwhile (see `lock_plans`)."""
    lock_plans(session, office_id)
    return get_or_not_found(session, Office, office_id)


def lock_plans(session: Session, office_id: int | None) -> None:
    """Lock the office's row (None: every office's, in id order) before changing or re-reading its plan.

    A booking into a session nobody has opened yet plans the day and inserts the session's row
    under a shared lock on the office (`bookings._lock_plans`). Without this exclusive
    lock, a closure committed meanwhile would neither be seen by that booking's plan nor find its
    new row to close, and the closed day would keep taking bookings. On SQLite, writers are
    serialised anyway and FOR UPDATE is not emitted.
    """
    # NO KEY UPDATE: it conflicts with the bookings' shared lock but not with the key-share lock
    # PostgreSQL takes on the office for every row inserted that points at it.
    query = select(Office.id).order_by(Office.id).with_for_update(key_share=True)
    if office_id is not None:
        query = query.where(Office.id == office_id)
    session.execute(query).all()


def _check_hours(start: time, end: time) -> None:
    if start >= end:
        raise InvalidSettings(detail="a session must start before it ends")


def _check_code(code: str) -> None:
    if len(code) != 1 or not code.isalpha() or not code.isupper():
        raise InvalidSettings(detail="a session code is one capital letter (S, C, …)")


def set_template(session: Session, *, office_id: int, weekday: int, code: str, start: time, end: time,
                 capacity: int) -> SessionTemplate:
    """Add or change one session of the office's usual week (dates already open keep their row)."""
    _office(session, office_id)
    _check_code(code)
    _check_hours(start, end)
    if not 0 <= weekday <= 6 or capacity < 0:
        raise InvalidSettings(detail="weekday 0-6 and a capacity of 0 or more")
    template = session.scalar(select(SessionTemplate).where(
        SessionTemplate.office_id == office_id, SessionTemplate.weekday == weekday, SessionTemplate.code == code))
    if template is None:
        template = SessionTemplate(office_id=office_id, weekday=weekday, code=code)
        session.add(template)
    template.start_time, template.end_time, template.capacity = start, end, capacity
    session.flush()
    return template


def remove_template(session: Session, *, office_id: int, weekday: int, code: str) -> None:
    """Drop one session of the usual week; dates already open for it stop taking bookings (theirs stay)."""
    office = _office(session, office_id)
    session.execute(delete(SessionTemplate).where(
        SessionTemplate.office_id == office_id, SessionTemplate.weekday == weekday, SessionTemplate.code == code))
    session.expire(office, ["templates"])  # a bulk delete leaves a loaded collection as it was
    lo, hi = session.execute(select(func.min(OfficeSession.date), func.max(OfficeSession.date)).where(
        OfficeSession.office_id == office_id, OfficeSession.code == code)).one()
    if lo is not None:
        _follow_plan(session, lo, hi, office_id)


def _materialized(session: Session, office_id: int, day: date, code: str) -> OfficeSession | None:
    session_id = session.scalar(select(OfficeSession.id).where(
        OfficeSession.office_id == office_id, OfficeSession.date == day, OfficeSession.code == code))
    return None if session_id is None else seats.lock_session(session, session_id)


def _respread(session: Session, office: Office, row: OfficeSession) -> None:
    windows = list(session.scalars(select(ArrivalWindow).where(ArrivalWindow.session_id == row.id)))
    per_window = seats.window_capacity(row.capacity, len(windows), office.crowd_limit)
    session.execute(update(ArrivalWindow).where(ArrivalWindow.session_id == row.id).values(capacity=per_window))


def set_session_for_date(session: Session, *, office_id: int, day: date, code: str, capacity: int | None = None,
                         start: time | None = None, end: time | None = None, note: str = "") -> SessionOverride:
    """Change one session on one date: its capacity, its hours, or add a session that day.

    Capacity may drop below what is already booked: nobody loses a seat, the session simply
    takes no more. Hours can change only while nobody is booked, since arrival times were given.
    """
    office = _office(session, office_id)
    _check_code(code)
    if capacity is not None and capacity < 0:
        raise InvalidSettings(detail="capacity must be 0 or more")
    override = session.scalar(select(SessionOverride).where(
        SessionOverride.office_id == office_id, SessionOverride.date == day, SessionOverride.code == code))
    if override is None:
        override = SessionOverride(office_id=office_id, date=day, code=code, cancelled=False)
        session.add(override)
    override.cancelled = False
    override.note = note
    if capacity is not None:
        override.capacity = capacity
    if start is not None or end is not None:
        override.start_time, override.end_time = start or override.start_time, end or override.end_time
    if override.start_time and override.end_time:
        _check_hours(override.start_time, override.end_time)
    row = _materialized(session, office_id, day, code)
    if row is not None:
        # Cancelled bookings count too: they keep their row and arrival window for the record.
        if (start is not None or end is not None) and (row.held or session.scalar(
                select(Booking.id).where(Booking.session_id == row.id).limit(1)) is not None):
            raise InvalidSettings(detail="the hours of a session with bookings cannot change; move them first")
        if start is not None or end is not None:
            # Nobody is in it yet: let the next booking open it afresh with the new windows.
            session.execute(delete(OfficeSession).where(OfficeSession.id == row.id))
        else:
            if capacity is not None:
                row.capacity = capacity
                seats.fit_reserves(session, row)
            _respread(session, office, row)
    session.flush()
    # A session the override brings back opens again, unless a closure or the calendar still holds it shut.
    _follow_plan(session, day, day, office_id)
    return override


def cancel_session_for_date(session: Session, *, office_id: int, day: date, code: str,
                            note: str = "") -> list[Booking]:
    """The office holds no such session that day; returns the live bookings it had."""
    _office(session, office_id)
    override = session.scalar(select(SessionOverride).where(
        SessionOverride.office_id == office_id, SessionOverride.date == day, SessionOverride.code == code))
    if override is None:
        override = SessionOverride(office_id=office_id, date=day, code=code)
        session.add(override)
    override.cancelled, override.note = True, note
    row = _materialized(session, office_id, day, code)
    if row is not None:
        row.closed = True
        _drop_holds(session, [row.id])
    session.flush()
    return _live_bookings(session, [office_id], day, day, code=code)


def set_crowd_limit(session: Session, *, office_id: int, crowd_limit: int, window_minutes: int | None = None,
                    today: date) -> Office:
    """Change how many may be present at once; sessions from `today` on are re-spread."""
    office = _office(session, office_id)
    if crowd_limit < 1:
        raise InvalidSettings(detail="the crowd limit must be at least 1")
    if window_minutes is not None and not 5 <= window_minutes <= 240:
        raise InvalidSettings(detail="an arrival window lasts 5 to 240 minutes")
    office.crowd_limit = crowd_limit
    if window_minutes is not None:
        office.window_minutes = window_minutes  # takes effect for sessions not yet opened
    for session_id in session.scalars(select(OfficeSession.id).where(
            OfficeSession.office_id == office_id, OfficeSession.date >= today).order_by(OfficeSession.id)):
        _respread(session, office, seats.lock_session(session, session_id))
    session.flush()
    return office


def set_channel_reserve(session: Session, *, office_id: int, session_code: str, channel: Channel, seats_kept: int,
                        release_minutes_before: int) -> ChannelReserve:
    """Keep seats of a session for one channel; applies to sessions not yet opened for booking."""
    _office(session, office_id)
    if seats_kept < 0 or release_minutes_before < 0:
        raise InvalidSettings(detail="seats and release time must be 0 or more")
    reserve = session.scalar(select(ChannelReserve).where(
        ChannelReserve.office_id == office_id, ChannelReserve.session_code == session_code,
        ChannelReserve.channel == channel))
    if reserve is None:
        reserve = ChannelReserve(office_id=office_id, session_code=session_code, channel=channel)
        session.add(reserve)
    reserve.seats, reserve.release_minutes_before = seats_kept, release_minutes_before
    session.flush()
    return reserve


def close(session: Session, *, office_id: int | None, start: date, end: date, reason: str, actor: str,
          now: datetime) -> tuple[Closure, list[Booking]]:
    """Close one office (or, with no office, every office) from `start` to `end` inclusive.

    Sessions already open in the range stop taking bookings at once and lose their holds. The
    live bookings in the range are returned for the manager to cancel, move or notify.
    """
    if end < start:
        raise InvalidSettings(detail="the closure ends before it starts")
    if not reason.strip():
        raise InvalidSettings(detail="a closure needs a reason")
    if office_id is not None:
        _office(session, office_id)
    else:
        lock_plans(session, None)
    closure = Closure(office_id=office_id, start_date=start, end_date=end, reason=reason.strip(), created_at=now,
                      created_by=actor)
    session.add(closure)
    query = select(OfficeSession.id).where(OfficeSession.date.between(start, end)).order_by(OfficeSession.id)
    if office_id is not None:
        query = query.where(OfficeSession.office_id == office_id)
    ids = list(session.scalars(query))
    for session_id in ids:
        seats.lock_session(session, session_id).closed = True
    _drop_holds(session, ids)
    session.flush()
    office_ids = [office_id] if office_id is not None else list(session.scalars(select(Office.id)))
    return closure, _live_bookings(session, office_ids, start, end)


def reopen(session: Session, *, closure_id: int) -> None:
    """Lift a closure; sessions it had closed take bookings again unless something else closes them."""
    closure = get_or_not_found(session, Closure, closure_id)
    start, end, office_id = closure.start_date, closure.end_date, closure.office_id
    session.delete(closure)
    session.flush()
    _follow_plan(session, start, end, office_id)


def set_calendar_day(session: Session, *, day: date, kind: CalendarDayKind, works_as_weekday: int | None = None,
                     note: str = "") -> CalendarDay:
    """Record a government-announced day off or make-up working day for the whole province."""
    if works_as_weekday is not None and not 0 <= works_as_weekday <= 6:
        raise InvalidSettings(detail="weekday 0-6")
    entry = session.get(CalendarDay, day)
    if entry is None:
        entry = CalendarDay(date=day)
        session.add(entry)
    entry.kind, entry.works_as_weekday, entry.note = kind, works_as_weekday, note
    session.flush()
    _follow_plan(session, day, day, None)
    return entry


def remove_calendar_day(session: Session, *, day: date) -> None:
    session.execute(delete(CalendarDay).where(CalendarDay.date == day))
    session.flush()
    _follow_plan(session, day, day, None)


def _follow_plan(session: Session, start: date, end: date, office_id: int | None) -> None:
    """Open sessions in the range take bookings exactly when the plan still holds them.

    Booking reads an open session's row without planning the day again, so every change to the
    plan (closures, the calendar) is carried over to the rows here.
    """
    lock_plans(session, office_id)
    query = select(OfficeSession).where(OfficeSession.date.between(start, end)).order_by(OfficeSession.id)
    if office_id is not None:
        query = query.where(OfficeSession.office_id == office_id)
    rows = list(session.scalars(query))
    if not rows:
        return
    offices = list(session.scalars(select(Office).where(Office.id.in_({row.office_id for row in rows}))))
    # Only the dates that have rows are planned: a closure "until further notice" may span centuries.
    first, last = min(row.date for row in rows), max(row.date for row in rows)
    planned = {(s.office_id, s.date, s.code) for days in plan_days(session, offices, first, last).values()
               for day in days for s in day.sessions}
    closing = []
    for row in rows:
        row = seats.lock_session(session, row.id)
        row.closed = (row.office_id, row.date, row.code) not in planned
        if row.closed:
            closing.append(row.id)
    _drop_holds(session, closing)
    session.flush()


def _drop_holds(session: Session, session_ids: list[int]) -> None:
    """Callers still deciding on a closed session lose their hold; their seat no longer exists."""
    for hold in session.scalars(select(Hold).where(Hold.session_id.in_(session_ids))):
        seats.give_back(session, session_id=hold.session_id, window_id=hold.window_id,
                        reserve_channel=hold.reserve_channel, column="held")
        session.delete(hold)


def stranded_bookings(session: Session, *, start: date, end: date, office_id: int | None = None,
                      code: str | None = None) -> list[Booking]:
    """People still booked in sessions that no longer take place (a day off, a removed weekly session).

    A plan change closes the sessions but leaves their bookings alone, since cancelling people is the
    manager's decision; this is what the console tells them is left to decide.
    """
    query = (select(Booking).join(OfficeSession, OfficeSession.id == Booking.session_id)
             .where(OfficeSession.closed.is_(True), Booking.status == BookingStatus.BOOKED,
                    Booking.date.between(start, end)))
    if office_id is not None:
        query = query.where(Booking.office_id == office_id)
    if code is not None:
        query = query.where(Booking.session_code == code)
    return list(session.scalars(query.order_by(Booking.office_id, Booking.date, Booking.queue_number)))


def _live_bookings(session: Session, office_ids: list[int], start: date, end: date,
                   code: str | None = None) -> list[Booking]:
    """The people booked, in the order they would have come: by day and arrival time (the morning's before the
    afternoon's, which their session codes, C before S, would not give), then queue number."""
    query = select(Booking).where(Booking.office_id.in_(office_ids), Booking.date.between(start, end),
                                  Booking.status == BookingStatus.BOOKED)
    if code is not None:
        query = query.where(Booking.session_code == code)
    return list(session.scalars(query.order_by(Booking.date, Booking.arrival_start, Booking.session_code,
                                               Booking.queue_number, Booking.office_id)))


def beyond_capacity(session: Session, *, office_id: int, start: date, end: date,
                    code: str | None = None) -> dict[tuple[date, str], list[Booking]]:
    """The people booked beyond what each open session from `start` to `end` now holds, in queue order.

    A session holds its capacity, and each of its arrival windows what the crowd limit lets it hold
    (`window_capacity`): a lower capacity or crowd limit leaves the seats already taken in place
    (nobody loses one by it), and this is who is over. In each window the last booked (the highest
    queue numbers) beyond its capacity, then, if the session is still over its capacity, the last
    booked of the rest. Only people still to come count among them: someone checked in or served
    keeps the seat and is not moved, so a session can be over by more than are named here.
    Sessions closed (a closure, a cancelled session) are the closure's to settle and not listed.
    """
    query = select(OfficeSession).where(OfficeSession.office_id == office_id, OfficeSession.date.between(start, end),
                                        OfficeSession.closed.is_(False))
    if code is not None:
        query = query.where(OfficeSession.code == code)
    rows = {row.id: row for row in session.scalars(query.order_by(OfficeSession.date, OfficeSession.code))}
    windows: dict[int, list[ArrivalWindow]] = {}
    for window in session.scalars(select(ArrivalWindow).where(ArrivalWindow.session_id.in_(rows))):
        windows.setdefault(window.session_id, []).append(window)
    over = [row for row in rows.values()
            if row.booked > row.capacity or any(w.booked > w.capacity for w in windows.get(row.id, []))]
    if not over:
        return {}
    to_come: dict[int, list[Booking]] = {}
    for booking in session.scalars(select(Booking).where(
            Booking.session_id.in_([row.id for row in over]), Booking.status == BookingStatus.BOOKED)
            .order_by(Booking.queue_number.desc())):
        to_come.setdefault(booking.session_id, []).append(booking)
    result: dict[tuple[date, str], list[Booking]] = {}
    for row in over:
        last_first = to_come.get(row.id, [])
        extras: list[Booking] = []
        for window in windows.get(row.id, []):
            extras += [b for b in last_first if b.window_id == window.id][:max(0, window.booked - window.capacity)]
        still_over = row.booked - len(extras) - row.capacity
        if still_over > 0:
            extras += [b for b in last_first if b not in extras][:still_over]
        if extras:
            result[(row.date, row.code)] = sorted(extras, key=lambda b: b.queue_number)
    return result
