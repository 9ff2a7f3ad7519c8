"""Managers' changes take effect at once and never drop a booking."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking import bookings, office_settings, rehousing, schedule
from booking.availability import next_sessions_with_room, office_availability
from booking.errors import HoldExpired, InvalidSettings, NoSuchSession, OfficeClosed, PastCutoff, SessionFull
from booking.models import ArrivalWindow, Booking, BookingStatus, CalendarDayKind, Channel, OfficeSession
from tests.factories import IVR, NOW, OPERATOR, POLICY, at, make_office, phone

TUESDAY = date(2027, 3, 2)


def _book(db: Session, office_id: int, n: int, day: date = TUESDAY, code: str = "S") -> Booking:
    return bookings.book(db, office_id=office_id, day=day, code=code, phone=phone(n), actor=OPERATOR, now=NOW,
                         policy=POLICY)


def test_lowering_capacity_below_bookings_keeps_them_and_takes_no_more(db: Session) -> None:
    office = make_office(db, morning=5)
    for n in range(3):
        _book(db, office.id, n)
    office_settings.set_session_for_date(db, office_id=office.id, day=TUESDAY, code="S", capacity=2)
    with pytest.raises(SessionFull):
        _book(db, office.id, 9)
    (day,) = office_availability(db, office, TUESDAY, TUESDAY, now=NOW, policy=POLICY)
    assert (day.sessions[0].capacity, day.sessions[0].booked, day.sessions[0].remaining) == (2, 3, 0)


def test_lowering_capacity_cuts_the_seats_kept_for_a_channel(db: Session) -> None:
    """Seats kept for operators are taken from capacity: lowering it cannot let them book past it."""
    office = make_office(db, morning=10, crowd_limit=10)
    office_settings.set_channel_reserve(db, office_id=office.id, session_code="S", channel=Channel.OPERATOR,
                                        seats_kept=4, release_minutes_before=60)
    for n in range(6):  # the six seats open to every channel
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=IVR, now=NOW,
                      policy=POLICY)
    office_settings.set_session_for_date(db, office_id=office.id, day=TUESDAY, code="S", capacity=8)
    _book(db, office.id, 10)  # an operator: two seats are left below the new capacity
    _book(db, office.id, 11)
    with pytest.raises(SessionFull):
        _book(db, office.id, 12)
    row = db.scalars(select(OfficeSession).where(OfficeSession.date == TUESDAY, OfficeSession.code == "S")).one()
    db.refresh(row)
    assert (row.capacity, row.booked, row.reserve_left) == (8, 8, 0)
    bookings.cancel(db, booking_id=bookings.bookings_for_phone(db, phone(0))[0].id, actor=OPERATOR, now=NOW,
                    policy=POLICY)
    _book(db, office.id, 13)  # a freed seat is bookable again: no phantom reserve keeps the session full


def test_hours_of_a_session_whose_only_booking_was_cancelled_cannot_change(db: Session) -> None:
    """The cancelled booking keeps its session and window for the record: refused, not a database error."""
    office = make_office(db)
    booking = _book(db, office.id, 1)
    bookings.cancel(db, booking_id=booking.id, actor=OPERATOR, now=NOW, policy=POLICY)
    with pytest.raises(InvalidSettings):
        office_settings.set_session_for_date(db, office_id=office.id, day=TUESDAY, code="S", start=time(8, 0))
    row = db.scalars(select(OfficeSession).where(OfficeSession.date == TUESDAY, OfficeSession.code == "S")).one()
    assert row.start_time == time(7, 30)


def test_raising_capacity_of_an_open_session_respreads_its_windows(db: Session) -> None:
    office = make_office(db, morning=8, crowd_limit=10)  # 8 windows of 1
    _book(db, office.id, 1)
    office_settings.set_session_for_date(db, office_id=office.id, day=TUESDAY, code="S", capacity=40)
    capacities = set(db.scalars(select(ArrivalWindow.capacity)))
    assert capacities == {5}


def test_hours_change_only_while_nobody_is_booked(db: Session) -> None:
    office = make_office(db)
    hold = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                              now=NOW, policy=POLICY)
    with pytest.raises(InvalidSettings):
        office_settings.set_session_for_date(db, office_id=office.id, day=TUESDAY, code="S", start=time(8, 0))
    bookings.release_hold(db, hold_id=hold.id, owner=hold.owner)
    office_settings.set_session_for_date(db, office_id=office.id, day=TUESDAY, code="S", start=time(8, 0))
    assert _book(db, office.id, 2).arrival_start == time(8, 0)


def test_added_session_on_a_saturday(db: Session) -> None:
    office = make_office(db)
    saturday = date(2027, 3, 6)
    office_settings.set_session_for_date(db, office_id=office.id, day=saturday, code="S", capacity=10,
                                         start=time(7, 30), end=time(11, 0), note="Làm thêm giờ")
    assert _book(db, office.id, 1, day=saturday).queue_label == "S-001"


def test_closing_an_office_reports_affected_bookings_and_stops_holds(db: Session) -> None:
    office = make_office(db)
    booked = _book(db, office.id, 1)
    hold = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="C", phone=phone(2), owner=phone(2), channel=Channel.IVR,
                              now=NOW, policy=POLICY)
    closure, affected = office_settings.close(db, office_id=office.id, start=TUESDAY, end=date(2027, 3, 3),
                                              reason="Phong tỏa", actor="user:hoa", now=NOW)
    assert affected == [booked] and closure.reason == "Phong tỏa"
    with pytest.raises(OfficeClosed):
        _book(db, office.id, 3)
    with pytest.raises(HoldExpired):
        bookings.confirm_hold(db, hold_id=hold.id, owner=hold.owner, actor=IVR, now=NOW, policy=POLICY)
    afternoon = db.scalar(select(OfficeSession).where(OfficeSession.code == "C"))
    assert afternoon is not None and afternoon.held == 0 and afternoon.closed
    # The booking is untouched until the manager decides: cancel, move or notify.
    assert booked.status is BookingStatus.BOOKED
    office_settings.reopen(db, closure_id=closure.id)
    assert _book(db, office.id, 3).status is BookingStatus.BOOKED


def test_cancelling_one_session_on_one_date(db: Session) -> None:
    office = make_office(db)
    booked = _book(db, office.id, 1)
    affected = office_settings.cancel_session_for_date(db, office_id=office.id, day=TUESDAY, code="S",
                                                       note="Họp đột xuất")
    assert affected == [booked]
    with pytest.raises(NoSuchSession):
        _book(db, office.id, 2)


def test_crowd_limit_change_applies_to_open_sessions(db: Session) -> None:
    office = make_office(db, morning=80, crowd_limit=10)
    _book(db, office.id, 1)
    office_settings.set_crowd_limit(db, office_id=office.id, crowd_limit=4, today=date(2027, 3, 1))
    assert set(db.scalars(select(ArrivalWindow.capacity))) == {4}
    with pytest.raises(InvalidSettings):
        office_settings.set_crowd_limit(db, office_id=office.id, crowd_limit=0, today=date(2027, 3, 1))


def test_weekly_template_and_reserve_settings(db: Session) -> None:
    office = make_office(db, weekdays=range(0))
    office_settings.set_template(db, office_id=office.id, weekday=1, code="S", start=time(7, 30), end=time(11, 30),
                                 capacity=2)
    office_settings.set_channel_reserve(db, office_id=office.id, session_code="S", channel=Channel.OPERATOR,
                                        seats_kept=1, release_minutes_before=60)
    db.refresh(office)
    bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=IVR, now=NOW, policy=POLICY)
    with pytest.raises(SessionFull):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=IVR, now=NOW,
                      policy=POLICY)
    with pytest.raises(InvalidSettings):
        office_settings.set_template(db, office_id=office.id, weekday=1, code="S", start=time(12, 0),
                                     end=time(11, 0), capacity=2)


def test_next_sessions_with_room_across_offices(db: Session) -> None:
    full = make_office(db, morning=1, afternoon=1)
    roomy = make_office(db)
    _book(db, full.id, 1, day=TUESDAY, code="S")
    rooms = next_sessions_with_room(db, now=NOW, policy=POLICY, limit=3, office_ids=[full.id, roomy.id])
    # This morning's sessions are past their cut-off; Monday afternoon comes first, full's Tuesday
    # morning is full, so roomy's Tuesday morning follows both Monday afternoons.
    assert [(r.office_id, r.date, r.code) for r in rooms] == [
        (full.id, date(2027, 3, 1), "C"), (roomy.id, date(2027, 3, 1), "C"), (roomy.id, TUESDAY, "S")]
    assert rooms[2].remaining == 40


def test_a_session_that_has_started_takes_no_booking_even_without_cut_off(db: Session) -> None:
    office = make_office(db, cutoff_minutes=0)
    booking = bookings.book(db, office_id=office.id, day=date(2027, 3, 1), code="C", phone=phone(1),
                            actor=OPERATOR, now=at(2027, 3, 1, 13, 29), policy=POLICY)
    assert booking.arrival_start == time(13, 30)
    started = at(2027, 3, 1, 13, 30)
    (day,) = office_availability(db, office, date(2027, 3, 1), date(2027, 3, 1), now=started, policy=POLICY)
    assert day.sessions[1].bookable is False and day.sessions[1].remaining == 0
    with pytest.raises(PastCutoff):
        bookings.book(db, office_id=office.id, day=date(2027, 3, 1), code="C", phone=phone(2), actor=OPERATOR,
                      now=started, policy=POLICY)


def test_an_announced_day_off_closes_sessions_already_open_and_lifting_it_reopens(db: Session) -> None:
    office = make_office(db)
    booked = _book(db, office.id, 1)
    office_settings.set_calendar_day(db, day=TUESDAY, kind=CalendarDayKind.DAY_OFF, note="Nghỉ lễ bổ sung")
    with pytest.raises(OfficeClosed):
        _book(db, office.id, 2)
    (day,) = office_availability(db, office, TUESDAY, TUESDAY, now=NOW, policy=POLICY)
    assert day.closed_reason == "Nghỉ lễ bổ sung"
    assert booked.status is BookingStatus.BOOKED
    office_settings.remove_calendar_day(db, day=TUESDAY)
    assert _book(db, office.id, 2).status is BookingStatus.BOOKED


def test_make_up_working_saturday_opens_with_the_weekday_sessions(db: Session) -> None:
    office = make_office(db)
    saturday = date(2027, 3, 6)
    office_settings.set_calendar_day(db, day=saturday, kind=CalendarDayKind.WORKING_DAY, works_as_weekday=0,
                                     note="Làm bù")
    assert _book(db, office.id, 1, day=saturday, code="C").queue_label == "C-001"


def test_closed_days_bookings_move_in_queue_order_until_the_later_room_runs_out(db: Session) -> None:
    """Guards the move that went backwards: Monday afternoon has a seat, but it comes before Tuesday's
    appointments, so nobody is put there; Wednesday has one seat left, which goes to the first in the queue."""
    wednesday = date(2027, 3, 3)
    office = make_office(db, morning=2, afternoon=1, horizon_days=2)  # bookable Monday to Wednesday
    first, second = _book(db, office.id, 1), _book(db, office.id, 2)
    _book(db, office.id, 9, day=wednesday, code="S")
    _book(db, office.id, 10, day=wednesday, code="C")  # Wednesday: one morning seat left, the afternoon full
    _, affected = office_settings.close(db, office_id=office.id, start=TUESDAY, end=TUESDAY, reason="Mưa bão",
                                        actor="user:hoa", now=NOW)
    moved, stuck = rehousing.move_to_soonest(db, affected, actor=OPERATOR, now=NOW, policy=POLICY)
    assert [b.code for b in moved] == [first.code] and [b.code for b in stuck] == [second.code]
    assert (moved[0].date, moved[0].session_code, moved[0].status) == (wednesday, "S", BookingStatus.BOOKED)
    assert stuck[0].status is BookingStatus.BOOKED and stuck[0].date == TUESDAY  # left for the caller to cancel
    counters = {(r.date, r.code): r.booked for r in db.scalars(select(OfficeSession))}
    assert counters[(wednesday, "S")] == 2 and counters[(TUESDAY, "S")] == 1
    assert (date(2027, 3, 1), "C") not in counters  # Monday afternoon was never even opened


def test_changing_capacity_inside_a_closure_does_not_reopen_the_session(db: Session) -> None:
    office = make_office(db, morning=5)
    _book(db, office.id, 1)
    office_settings.close(db, office_id=office.id, start=TUESDAY, end=TUESDAY, reason="Mưa bão", actor="user:hoa",
                          now=NOW)
    office_settings.set_session_for_date(db, office_id=office.id, day=TUESDAY, code="S", capacity=8)
    with pytest.raises(OfficeClosed):
        _book(db, office.id, 2)


def test_removing_a_weekday_session_stops_bookings_on_dates_already_open(db: Session) -> None:
    office = make_office(db, morning=5)
    kept = _book(db, office.id, 1)  # opens Tuesday morning
    office_settings.remove_template(db, office_id=office.id, weekday=TUESDAY.weekday(), code="S")
    with pytest.raises((NoSuchSession, OfficeClosed)):
        _book(db, office.id, 2)
    assert kept.status is BookingStatus.BOOKED
    _book(db, office.id, 3, day=date(2027, 3, 3))  # Wednesday's morning is still in the plan


def test_reopening_a_closure_until_further_notice_plans_only_the_open_sessions(
        db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reopening planned every day of the closure: a closure to 9999 took the better part of a minute."""
    office = make_office(db)
    _book(db, office.id, 1)
    closure, _ = office_settings.close(db, office_id=office.id, start=TUESDAY, end=date(9999, 12, 31),
                                       reason="Đến khi có thông báo mới", actor="user:hoa", now=NOW)
    planned: list[int] = []
    real_plan_days = schedule.plan_days

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = real_plan_days(*args, **kwargs)
        planned.append(sum(len(days) for days in result.values()))
        return result

    monkeypatch.setattr(office_settings, "plan_days", counting)
    office_settings.reopen(db, closure_id=closure.id)
    assert planned == [1]  # Tuesday, the one date with an open session in the range
    row = db.scalars(select(OfficeSession).where(OfficeSession.date == TUESDAY, OfficeSession.code == "S")).one()
    assert not row.closed
