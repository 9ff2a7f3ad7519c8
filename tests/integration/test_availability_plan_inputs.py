"""The soonest sessions with room, planned from plain columns read in few statements.

`next_sessions_with_room` reads the offices' rules and templates as plain columns and the calendar
days, overrides, closures and channel reserves in one statement; it must offer exactly what the
plan of the ORM offices offers, with every rule applied: days off and make-up days, overrides that
change, cancel or add a session, an office's and everybody's closures, reserves, cut-off, horizon.
"""

from __future__ import annotations

from datetime import date, time, timedelta

from sqlalchemy import event
from sqlalchemy.orm import Session

from booking.availability import availability, next_sessions_with_room, office_availability
from booking.models import CalendarDay, CalendarDayKind, Channel, ChannelReserve, Closure, Office, SessionOverride
from booking.schedule import plan_days
from tests.factories import NOW, POLICY, VN, make_office

MONDAY = date(2027, 3, 1)  # NOW is 09:00 that day


def _day(n: int) -> date:
    return MONDAY + timedelta(days=n)


def _arrange(db: Session) -> tuple[int, int]:
    """Office A (Mon-Fri S and C) with every kind of plan input, office B with no template but an added session."""
    a = make_office(db)
    b = make_office(db, weekdays=range(0))
    make_office(db, active=False)  # never offered
    db.add_all([
        CalendarDay(date=_day(1), kind=CalendarDayKind.DAY_OFF, note="Nghỉ bù"),
        CalendarDay(date=_day(5), kind=CalendarDayKind.WORKING_DAY, works_as_weekday=4, note="Làm bù"),
        SessionOverride(office_id=a.id, date=_day(2), code="S", capacity=5),
        SessionOverride(office_id=a.id, date=_day(2), code="C", cancelled=True),
        SessionOverride(office_id=a.id, date=_day(3), code="C", start_time=time(14, 0), end_time=time(16, 0)),
        SessionOverride(office_id=b.id, date=_day(2), code="S", start_time=time(8, 0), end_time=time(10, 0),
                        capacity=7),
        Closure(office_id=a.id, start_date=_day(4), end_date=_day(4), reason="Sửa trụ sở", created_at=NOW),
        Closure(office_id=None, start_date=_day(7), end_date=_day(8), reason="Bão", created_at=NOW),
        ChannelReserve(office_id=a.id, session_code="S", channel=Channel.OPERATOR, seats=3,
                       release_minutes_before=120),
    ])
    db.flush()
    return a.id, b.id


def test_the_soonest_sessions_follow_every_rule_of_the_plan(db: Session) -> None:
    a, b = _arrange(db)
    rooms = next_sessions_with_room(db, now=NOW, policy=POLICY, limit=100)
    assert [(r.office_id, (r.date - MONDAY).days, r.code, r.start, r.remaining) for r in rooms] == [
        (a, 0, "C", time(13, 30), 35),  # this morning's session is past its cut-off
        # Tuesday is a day off for everybody
        (a, 2, "S", time(7, 30), 2), (b, 2, "S", time(8, 0), 7),  # 5 seats, 3 of them the operators'; C cancelled
        (a, 3, "S", time(7, 30), 37), (a, 3, "C", time(14, 0), 35),  # C moved
        # Friday office A is closed; Saturday works as a Friday
        (a, 5, "S", time(7, 30), 37), (a, 5, "C", time(13, 30), 35),
        # next Monday and Tuesday everybody is closed
        (a, 9, "S", time(7, 30), 37), (a, 9, "C", time(13, 30), 35),
        (a, 10, "S", time(7, 30), 37), (a, 10, "C", time(13, 30), 35),
        (a, 11, "S", time(7, 30), 37), (a, 11, "C", time(13, 30), 35),
        (a, 14, "S", time(7, 30), 37), (a, 14, "C", time(13, 30), 35),  # the horizon's last day
    ]
    assert next_sessions_with_room(db, now=NOW, policy=POLICY, limit=2, office_ids=[b]) == [rooms[2]]


def test_plain_columns_offer_what_the_orm_offices_offer(db: Session) -> None:
    a, b = _arrange(db)
    offices = [db.get_one(Office, a), db.get_one(Office, b)]
    days = availability(db, offices, MONDAY, _day(15), now=NOW, policy=POLICY)
    expected = sorted((room for office_days in days.values() for day in office_days for room in day.sessions
                       if room.bookable and room.remaining > 0),
                      key=lambda r: (r.starts_at(VN), r.office_id))
    assert next_sessions_with_room(db, now=NOW, policy=POLICY, limit=100) == expected
    closed = {day.date: day.closed_reason for day in office_availability(db, offices[0], MONDAY, _day(8), now=NOW,
                                                                        policy=POLICY) if day.closed_reason}
    assert closed == {_day(1): "Nghỉ bù", _day(4): "Sửa trụ sở", _day(7): "Bão", _day(8): "Bão"}


def test_the_plan_and_the_room_are_read_in_few_statements(db: Session) -> None:
    """The offices, then the calendar days, overrides, closures and reserves together, then the counters."""
    _arrange(db)
    other = make_office(db)
    sent: list[str] = []
    engine = db.get_bind()
    listener = lambda *args: sent.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        next_sessions_with_room(db, now=NOW, policy=POLICY, limit=3)
        assert len(sent) == 3
        sent.clear()
        (planned,) = plan_days(db, [other], _day(2), _day(2)).values()
        assert [s.code for s in planned[0].sessions] == ["S", "C"] and len(sent) == 1
    finally:
        event.remove(engine, "before_cursor_execute", listener)
