"""The booking rules, each on both engines."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from booking import bookings, office_settings
from booking.availability import office_availability
from booking.errors import (
    AlreadyBookedForSession, HoldExpired, InvalidPhone, InvalidTransition, NoSuchSession, OfficeClosed, OfficeInactive,
    OutsideHorizon, PastCutoff, ProcedureNotOffered, SessionFull, TooManyBookings, WindowFull,
)
from booking.models import (
    ArrivalWindow, Booking, BookingStatus, CalendarDay, CalendarDayKind, Channel, ChannelReserve, Closure, Hold,
    OfficeSession, SessionOverride,
)
from booking.policy import BookingPolicy
from tests.factories import IVR, NOW, OPERATOR, POLICY, at, make_office, make_procedure, phone

TUESDAY = date(2027, 3, 2)


def _session_row(db: Session, office_id: int, day: date, code: str) -> OfficeSession:
    row = db.scalars(select(OfficeSession).where(OfficeSession.office_id == office_id, OfficeSession.date == day,
                                                 OfficeSession.code == code)).one()
    db.refresh(row)
    return row


def test_booking_gets_code_queue_number_and_arrival_window(db: Session) -> None:
    office = make_office(db)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY, name="Nguyễn Văn An")
    db.commit()
    assert len(booking.code) == 9 and booking.code.isdigit()
    assert booking.queue_label == "S-001"
    assert (booking.arrival_start, booking.arrival_end) == (time(7, 30), time(8, 0))
    assert booking.status is BookingStatus.BOOKED
    assert [e.action for e in booking.events] == ["created"]
    second = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR,
                           now=NOW, policy=POLICY)
    assert second.queue_label == "S-002"
    assert bookings.find_booking(db, " ".join([booking.code[:3], booking.code[3:6], booking.code[6:]])) is booking


def test_queue_numbers_are_per_session(db: Session) -> None:
    office = make_office(db)
    morning = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY)
    afternoon = bookings.book(db, office_id=office.id, day=TUESDAY, code="C", phone=phone(2), actor=OPERATOR,
                              now=NOW, policy=POLICY)
    assert (morning.queue_label, afternoon.queue_label) == ("S-001", "C-001")


def test_session_never_takes_more_than_its_capacity(db: Session) -> None:
    office = make_office(db, morning=3)
    for n in range(3):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR,
                      now=NOW, policy=POLICY)
    with pytest.raises(SessionFull):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(9), actor=OPERATOR,
                      now=NOW, policy=POLICY)
    assert _session_row(db, office.id, TUESDAY, "S").booked == 3


def test_window_never_takes_more_than_the_crowd_limit(db: Session) -> None:
    # 100 seats over 8 half-hour windows would be 13 a window; the crowd limit of 5 caps it.
    office = make_office(db, morning=100, crowd_limit=5)
    for n in range(5):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR,
                      now=NOW, policy=POLICY, window_position=0)
    with pytest.raises(WindowFull):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(9), actor=OPERATOR,
                      now=NOW, policy=POLICY, window_position=0)
    spill = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(9), actor=OPERATOR,
                          now=NOW, policy=POLICY)
    assert spill.arrival_start == time(8, 0)
    windows = db.scalars(select(ArrivalWindow).join(OfficeSession).where(OfficeSession.office_id == office.id)).all()
    assert max(w.capacity for w in windows) == 5
    assert all(w.booked <= w.capacity for w in windows)


def test_seats_are_spread_over_the_windows(db: Session) -> None:
    office = make_office(db, morning=16, crowd_limit=10)  # 8 windows of 2
    made = [bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR,
                          now=NOW, policy=POLICY) for n in range(16)]
    starts = [b.arrival_start for b in made]
    assert starts[:4] == [time(7, 30), time(7, 30), time(8, 0), time(8, 0)]
    assert starts[-1] == time(11, 0)


def test_session_is_full_when_every_window_is_full(db: Session) -> None:
    office = make_office(db, morning=40, crowd_limit=1)  # 8 windows of 1: only 8 can come
    for n in range(8):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR,
                      now=NOW, policy=POLICY)
    with pytest.raises(SessionFull):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(9), actor=OPERATOR,
                      now=NOW, policy=POLICY)
    # The failed attempt left the session's counter where it was.
    assert _session_row(db, office.id, TUESDAY, "S").booked == 8


def test_no_booking_on_a_public_holiday(db: Session) -> None:
    office = make_office(db)
    with pytest.raises(OfficeClosed):  # Tết 2027: 4-10 February
        bookings.book(db, office_id=office.id, day=date(2027, 2, 8), code="S", phone=phone(1), actor=OPERATOR,
                      now=at(2027, 2, 1), policy=POLICY)
    days = office_availability(db, office, date(2027, 2, 3), date(2027, 2, 11), now=at(2027, 2, 1), policy=POLICY)
    closed = {d.date: d.closed_reason for d in days}
    assert all(closed[date(2027, 2, d)] for d in (4, 5, 8, 9, 10))  # weekdays of Tết
    assert "Tết Nguyên Đán" in (closed[date(2027, 2, 8)] or "")
    assert closed[date(2027, 2, 3)] is None and closed[date(2027, 2, 11)] is None


def test_hung_kings_day_follows_the_lunar_calendar(db: Session) -> None:
    office = make_office(db)
    days = office_availability(db, office, date(2027, 4, 15), date(2027, 4, 16), now=at(2027, 4, 10),
                               policy=POLICY)
    assert days[0].closed_reason is None and "Hùng Vương" in (days[1].closed_reason or "")


def test_extra_day_off_and_make_up_working_day(db: Session) -> None:
    office = make_office(db)
    db.add(CalendarDay(date=date(2027, 3, 5), kind=CalendarDayKind.DAY_OFF, note="Nghỉ bù"))
    db.add(CalendarDay(date=date(2027, 3, 6), kind=CalendarDayKind.WORKING_DAY, works_as_weekday=4, note="Làm bù"))
    db.flush()
    with pytest.raises(OfficeClosed):
        bookings.book(db, office_id=office.id, day=date(2027, 3, 5), code="S", phone=phone(1), actor=OPERATOR,
                      now=NOW, policy=POLICY)
    saturday = bookings.book(db, office_id=office.id, day=date(2027, 3, 6), code="C", phone=phone(1),
                             actor=OPERATOR, now=NOW, policy=POLICY)
    assert saturday.queue_label == "C-001"


def test_no_booking_on_a_weekend_without_sessions(db: Session) -> None:
    office = make_office(db)
    with pytest.raises(NoSuchSession):
        bookings.book(db, office_id=office.id, day=date(2027, 3, 7), code="S", phone=phone(1), actor=OPERATOR,
                      now=NOW, policy=POLICY)


def test_office_closure_for_a_date_range(db: Session) -> None:
    office = make_office(db)
    db.add(Closure(office_id=office.id, start_date=date(2027, 3, 2), end_date=date(2027, 3, 3),
                   reason="Ngập lụt", created_at=NOW))
    db.flush()
    for day in (date(2027, 3, 2), date(2027, 3, 3)):
        with pytest.raises(OfficeClosed):
            bookings.book(db, office_id=office.id, day=day, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                          policy=POLICY)
    assert bookings.book(db, office_id=office.id, day=date(2027, 3, 4), code="S", phone=phone(1), actor=OPERATOR,
                         now=NOW, policy=POLICY)
    days = office_availability(db, office, date(2027, 3, 2), date(2027, 3, 2), now=NOW, policy=POLICY)
    assert days[0].closed_reason == "Ngập lụt" and days[0].sessions == ()


def test_province_wide_closure_applies_to_every_office(db: Session) -> None:
    office = make_office(db)
    db.add(Closure(office_id=None, start_date=TUESDAY, end_date=TUESDAY, reason="Giãn cách xã hội", created_at=NOW))
    db.flush()
    with pytest.raises(OfficeClosed):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                      policy=POLICY)


def test_per_date_override_changes_capacity_and_hours(db: Session) -> None:
    office = make_office(db, morning=40)
    db.add(SessionOverride(office_id=office.id, date=TUESDAY, code="S", capacity=1, start_time=time(8, 0),
                           end_time=time(10, 0)))
    db.add(SessionOverride(office_id=office.id, date=TUESDAY, code="C", cancelled=True))
    db.flush()
    first = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                          now=NOW, policy=POLICY)
    assert first.arrival_start == time(8, 0)
    with pytest.raises(SessionFull):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR, now=NOW,
                      policy=POLICY)
    with pytest.raises(NoSuchSession):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="C", phone=phone(2), actor=OPERATOR, now=NOW,
                      policy=POLICY)


def test_no_booking_beyond_the_horizon(db: Session) -> None:
    office = make_office(db, horizon_days=7)
    with pytest.raises(OutsideHorizon):
        bookings.book(db, office_id=office.id, day=date(2027, 3, 9), code="S", phone=phone(1), actor=OPERATOR,
                      now=NOW, policy=POLICY)
    assert bookings.book(db, office_id=office.id, day=date(2027, 3, 8), code="S", phone=phone(1), actor=OPERATOR,
                         now=NOW, policy=POLICY)


def test_no_booking_past_the_cut_off(db: Session) -> None:
    office = make_office(db, cutoff_minutes=60)
    with pytest.raises(PastCutoff):  # 09:00 is past this morning's session
        bookings.book(db, office_id=office.id, day=date(2027, 3, 1), code="S", phone=phone(1), actor=OPERATOR,
                      now=NOW, policy=POLICY)
    with pytest.raises(PastCutoff):  # 12:31 is less than an hour before 13:30
        bookings.book(db, office_id=office.id, day=date(2027, 3, 1), code="C", phone=phone(1), actor=OPERATOR,
                      now=at(2027, 3, 1, 12, 31), policy=POLICY)
    ok = bookings.book(db, office_id=office.id, day=date(2027, 3, 1), code="C", phone=phone(1), actor=OPERATOR,
                       now=at(2027, 3, 1, 12, 29), policy=POLICY)
    assert ok.arrival_start == time(13, 30)
    with pytest.raises(PastCutoff):
        bookings.book(db, office_id=office.id, day=date(2027, 2, 26), code="S", phone=phone(2), actor=OPERATOR,
                      now=NOW, policy=POLICY)


def test_inactive_office_takes_no_booking(db: Session) -> None:
    office = make_office(db, active=False)
    with pytest.raises(OfficeInactive):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                      policy=POLICY)


def test_one_phone_one_booking_per_session(db: Session) -> None:
    office = make_office(db)
    bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                  policy=POLICY)
    with pytest.raises(AlreadyBookedForSession):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                      policy=POLICY)


def test_one_phone_holds_a_limited_number_of_future_bookings(db: Session) -> None:
    office = make_office(db)
    for day in (date(2027, 3, 2), date(2027, 3, 3)):
        bookings.book(db, office_id=office.id, day=day, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                      policy=POLICY)
    with pytest.raises(TooManyBookings) as raised:
        bookings.book(db, office_id=office.id, day=date(2027, 3, 4), code="S", phone=phone(1), actor=OPERATOR,
                      now=NOW, policy=POLICY)
    assert raised.value.render() == "This phone number already has 2 upcoming appointments."
    generous = BookingPolicy(max_future_bookings=3)
    assert bookings.book(db, office_id=office.id, day=date(2027, 3, 4), code="S", phone=phone(1), actor=OPERATOR,
                         now=NOW, policy=generous)


def test_cancelled_bookings_do_not_count_against_the_phone(db: Session) -> None:
    office = make_office(db)
    first = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                          policy=POLICY)
    bookings.cancel(db, booking_id=first.id, actor=OPERATOR, now=NOW, policy=POLICY)
    again = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                          policy=POLICY)
    assert again.queue_label == "S-002"  # numbers are never given out twice


def test_cancel_frees_the_seat_and_records_history(db: Session) -> None:
    office = make_office(db, morning=1)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY)
    bookings.cancel(db, booking_id=booking.id, actor=IVR, now=NOW, policy=POLICY, reason="bận việc")
    assert booking.status is BookingStatus.CANCELLED and booking.cancelled_at == NOW
    assert [e.action for e in booking.events] == ["created", "cancelled"]
    assert booking.events[-1].detail == {"reason": "bận việc"}
    assert bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR, now=NOW,
                         policy=POLICY)
    with pytest.raises(InvalidTransition):
        bookings.cancel(db, booking_id=booking.id, actor=IVR, now=NOW, policy=POLICY)


def test_cancelled_seat_is_reoffered_only_after_the_delay(db: Session) -> None:
    policy = BookingPolicy(rebook_delay=timedelta(minutes=30))
    office = make_office(db, morning=1)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=policy)
    bookings.cancel(db, booking_id=booking.id, actor=IVR, now=NOW, policy=policy)
    with pytest.raises(SessionFull):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR,
                      now=NOW + timedelta(minutes=29), policy=policy)
    (day,) = office_availability(db, office, TUESDAY, TUESDAY, now=NOW + timedelta(minutes=31), policy=policy)
    assert day.sessions[0].remaining == 1
    later = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR,
                          now=NOW + timedelta(minutes=31), policy=policy)
    assert later.status is BookingStatus.BOOKED
    assert _session_row(db, office.id, TUESDAY, "S").cooling == 0


def test_move_is_atomic_and_keeps_the_code(db: Session) -> None:
    office = make_office(db, morning=5, afternoon=1)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY)
    code = booking.code
    db.commit()
    bookings.book(db, office_id=office.id, day=TUESDAY, code="C", phone=phone(2), actor=OPERATOR, now=NOW,
                  policy=POLICY)
    db.commit()
    with pytest.raises(SessionFull):
        bookings.move(db, booking_id=booking.id, office_id=office.id, day=TUESDAY, code="C", actor=OPERATOR,
                      now=NOW, policy=POLICY)
    db.rollback()
    db.refresh(booking)
    assert (booking.session_code, booking.queue_label) == ("S", "S-001")
    assert _session_row(db, office.id, TUESDAY, "S").booked == 1
    moved = bookings.move(db, booking_id=booking.id, office_id=office.id, day=date(2027, 3, 3), code="C",
                          actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    assert moved.code == code and moved.date == date(2027, 3, 3) and moved.queue_label == "C-001"
    assert _session_row(db, office.id, TUESDAY, "S").booked == 0
    assert _session_row(db, office.id, date(2027, 3, 3), "C").booked == 1
    assert moved.events[-1].action == "moved"
    assert moved.events[-1].detail["before"]["queue"] == "S-001"


def test_move_to_another_window_in_the_same_session(db: Session) -> None:
    office = make_office(db)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY)
    bookings.move(db, booking_id=booking.id, office_id=office.id, day=TUESDAY, code="S", actor=OPERATOR, now=NOW,
                  policy=POLICY, window_position=3)
    assert booking.arrival_start == time(9, 0) and booking.queue_label == "S-001"
    windows = {w.position: w.booked for w in db.scalars(select(ArrivalWindow))}
    assert windows[0] == 0 and windows[3] == 1


def test_hold_then_confirm(db: Session) -> None:
    office = make_office(db, morning=1)
    hold = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                              now=NOW, policy=POLICY)
    assert hold.expires_at == NOW + timedelta(seconds=120)
    with pytest.raises(SessionFull):  # the held seat is nobody else's
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR, now=NOW,
                      policy=POLICY)
    booking = bookings.confirm_hold(db, hold_id=hold.id, owner=hold.owner, actor=IVR, now=NOW + timedelta(seconds=60), policy=POLICY,
                                    name="Trần Thị Bình")
    assert booking.channel is Channel.IVR and booking.queue_label == "S-001"
    row = _session_row(db, office.id, TUESDAY, "S")
    assert (row.booked, row.held) == (1, 0)
    assert db.scalar(select(func.count()).select_from(Hold)) == 0


def test_unconfirmed_hold_expires_by_itself(db: Session) -> None:
    office = make_office(db, morning=1)
    hold = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                              now=NOW, policy=POLICY)
    later = NOW + timedelta(seconds=121)
    (day,) = office_availability(db, office, TUESDAY, TUESDAY, now=later, policy=POLICY)
    assert day.sessions[0].remaining == 1
    other = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR,
                          now=later, policy=POLICY)
    assert other.queue_label == "S-001"
    with pytest.raises(HoldExpired):
        bookings.confirm_hold(db, hold_id=hold.id, owner=hold.owner, actor=IVR, now=later, policy=POLICY)


def test_expiry_job_frees_holds_of_idle_sessions(db: Session) -> None:
    office = make_office(db)
    bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                       now=NOW, policy=POLICY)
    assert bookings.expire_lapsed(db, now=NOW + timedelta(seconds=30), policy=POLICY) == 0
    assert bookings.expire_lapsed(db, now=NOW + timedelta(seconds=121), policy=POLICY) == 1
    assert _session_row(db, office.id, TUESDAY, "S").held == 0


def test_releasing_a_hold_frees_the_seat_at_once(db: Session) -> None:
    office = make_office(db, morning=1)
    hold = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                              now=NOW, policy=POLICY)
    assert bookings.release_hold(db, hold_id=hold.id, owner=hold.owner) is True
    assert bookings.release_hold(db, hold_id=hold.id, owner=hold.owner) is False
    assert _session_row(db, office.id, TUESDAY, "S").held == 0


def test_a_new_hold_lets_go_of_the_callers_previous_one(db: Session) -> None:
    office = make_office(db)
    bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                       now=NOW, policy=POLICY)
    bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="C", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                       now=NOW, policy=POLICY)
    assert _session_row(db, office.id, TUESDAY, "S").held == 0
    assert _session_row(db, office.id, TUESDAY, "C").held == 1


def test_channel_reserve_keeps_seats_for_operators_until_released(db: Session) -> None:
    office = make_office(db, morning=3)
    db.add(ChannelReserve(office_id=office.id, session_code="S", channel=Channel.OPERATOR, seats=2,
                          release_minutes_before=120))
    db.flush()
    bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=IVR, now=NOW, policy=POLICY)
    with pytest.raises(SessionFull):  # the other two are the operators'
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=IVR, now=NOW,
                      policy=POLICY)
    (day,) = office_availability(db, office, TUESDAY, TUESDAY, now=NOW, policy=POLICY, channel=Channel.OPERATOR)
    assert day.sessions[0].remaining == 2 and day.sessions[0].reserved == 2
    by_operator = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(3), actor=OPERATOR,
                                now=NOW, policy=POLICY)
    assert by_operator.reserve_channel is Channel.OPERATOR
    # Two hours before 07:30 on Tuesday the unused reserved seat goes to everyone.
    release = at(2027, 3, 2, 5, 30)
    (day,) = office_availability(db, office, TUESDAY, TUESDAY, now=release, policy=POLICY)
    assert day.sessions[0].remaining == 1
    late = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=IVR, now=release,
                         policy=POLICY)
    assert late.reserve_channel is None
    row = _session_row(db, office.id, TUESDAY, "S")
    assert (row.booked, row.reserve_left) == (3, 0)


def test_cancelled_reserved_seat_returns_to_its_reserve(db: Session) -> None:
    office = make_office(db, morning=2)
    db.add(ChannelReserve(office_id=office.id, session_code="S", channel=Channel.OPERATOR, seats=1,
                          release_minutes_before=60))
    db.flush()
    reserved = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                             now=NOW, policy=POLICY)
    bookings.cancel(db, booking_id=reserved.id, actor=OPERATOR, now=NOW, policy=POLICY)
    assert _session_row(db, office.id, TUESDAY, "S").reserve_left == 1


def test_check_in_on_the_day_and_no_show_after_the_grace(db: Session) -> None:
    office = make_office(db)
    came = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                         policy=POLICY)
    absent = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR, now=NOW,
                           policy=POLICY)
    with pytest.raises(InvalidTransition):  # not on the day
        bookings.check_in(db, code=came.code, actor=OPERATOR, now=NOW)
    bookings.check_in(db, code=came.code, actor=OPERATOR, now=at(2027, 3, 2, 7, 40), office_id=office.id)
    assert came.status is BookingStatus.CHECKED_IN
    bookings.mark_served(db, booking_id=came.id, actor=OPERATOR, now=at(2027, 3, 2, 7, 55))
    assert came.status is BookingStatus.SERVED
    with pytest.raises(InvalidTransition):  # 07:30-08:00 window, 30 minutes' grace: not before 08:30
        bookings.mark_no_show(db, booking_id=absent.id, actor=OPERATOR, now=at(2027, 3, 2, 8, 29), policy=POLICY)
    assert bookings.mark_no_shows(db, now=at(2027, 3, 2, 11, 0), actor=OPERATOR, policy=POLICY) == 0
    assert bookings.mark_no_shows(db, now=at(2027, 3, 2, 11, 31), actor=OPERATOR, policy=POLICY) == 1
    assert absent.status is BookingStatus.NO_SHOW


def test_nobody_is_marked_absent_from_a_session_that_was_not_held(db: Session) -> None:
    office = make_office(db)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY)
    office_settings.set_calendar_day(db, day=TUESDAY, kind=CalendarDayKind.DAY_OFF, note="Nghỉ bù")
    assert bookings.mark_no_shows(db, now=at(2027, 3, 2, 11, 31), actor=OPERATOR, policy=POLICY) == 0
    assert booking.status is BookingStatus.BOOKED


def test_a_hold_at_an_office_deactivated_meanwhile_is_not_confirmed(db: Session) -> None:
    office = make_office(db)
    hold = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                              now=NOW, policy=POLICY)
    office.active = False
    db.flush()
    with pytest.raises(OfficeInactive):
        bookings.confirm_hold(db, hold_id=hold.id, owner=hold.owner, actor=IVR, now=NOW, policy=POLICY)
    assert db.scalar(select(func.count()).select_from(Booking)) == 0


def test_procedure_must_be_offered_at_the_office_level(db: Session) -> None:
    office = make_office(db)
    provincial = make_procedure(db, at_province=True, at_commune=False, name="Cấp giấy phép xây dựng")
    with pytest.raises(ProcedureNotOffered):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                      policy=POLICY, procedure_id=provincial.id)
    local = make_procedure(db)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY, procedure_id=local.id)
    assert booking.procedure is local


def test_failed_booking_leaves_nothing_written(db: Session) -> None:
    office = make_office(db, morning=1)
    bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                  policy=POLICY)
    db.commit()
    with pytest.raises(SessionFull):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), actor=OPERATOR, now=NOW,
                      policy=POLICY)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Booking)) == 1
    row = _session_row(db, office.id, TUESDAY, "S")
    assert (row.booked, row.held, row.next_queue) == (1, 0, 1)


def test_every_spelling_of_a_number_is_the_same_phone(db: Session) -> None:
    office = make_office(db)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone="0912 345 678", actor=OPERATOR,
                            now=NOW, policy=POLICY)
    assert booking.phone == "+84912345678"
    with pytest.raises(AlreadyBookedForSession):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone="(+84) 912.345.678", actor=OPERATOR,
                      now=NOW, policy=POLICY)
    old_style = bookings.book(db, office_id=office.id, day=TUESDAY, code="C", phone="01662345678", actor=OPERATOR,
                              now=NOW, policy=POLICY)
    assert old_style.phone == "+84362345678"
    assert [b.id for b in bookings.bookings_for_phone(db, "84912345678")] == [booking.id]


@pytest.mark.parametrize("text", ["1022", "1900 1234", "113", "0912", "không có", "+1 650 253 0000"])
def test_numbers_nobody_can_be_reached_on_are_refused(db: Session, text: str) -> None:
    office = make_office(db)
    with pytest.raises(InvalidPhone):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=text, actor=OPERATOR, now=NOW,
                      policy=POLICY)


def test_a_landline_may_book(db: Session) -> None:
    office = make_office(db)
    booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone="0290 3831 234", actor=OPERATOR,
                            now=NOW, policy=POLICY)
    assert booking.phone == "+842903831234"
