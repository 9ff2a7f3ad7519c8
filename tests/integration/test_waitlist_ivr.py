"""The hotline's caller meets a session that has just filled up and joins its waitlist with one key (both engines)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions import bookings as booking_actions
from actions.models import AuditEntry
from booking.availability import next_sessions_with_room
from booking.models import Booking, Channel, Office, WaitlistEntry, WaitlistStatus
from tests.factories import NOW, POLICY, make_office, phone
from tests.integration.test_waitlist import ctx
from tests.ivr_caller import Caller
from tests.ivr_caller import office as office

MONDAY = date(2027, 3, 1)  # the tests' day: its afternoon is the first session with room


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(twilio_auth_token="secret-token")


def test_a_caller_joins_the_waitlist_of_a_session_that_just_filled_up(app: Flask, db: Session, office: int) -> None:
    call = Caller(app.test_client(), "secret-token", caller="+84912345678", before_request=db.rollback)
    call.ring()
    call.press("1")  # book: the sessions with room are listed, Monday afternoon first
    for n in range(10):  # meanwhile others take its ten places
        booking_actions.book(ctx(db), office_id=office, day=MONDAY, code="C", phone=phone(n + 1), language="vi")
    db.commit()
    call.press("1")
    assert "vừa hết chỗ" in call.spoken() and "bấm 1" in call.spoken()
    call.press("1")
    assert "danh sách chờ" in call.spoken()
    db.rollback()
    entry = db.scalars(select(WaitlistEntry)).one()
    assert (entry.phone, entry.channel, entry.phone_verified, entry.status, entry.session_code) == (
        "+84912345678", Channel.IVR, True, WaitlistStatus.WAITING, "C")
    assert entry.created_by == f"ivr:{call.sid}"
    assert db.scalars(select(AuditEntry.action).where(AuditEntry.action.like("waitlist.%"))).all() == [
        "waitlist.join"]


def test_a_caller_may_choose_another_session_instead(app: Flask, db: Session, office: int) -> None:
    call = Caller(app.test_client(), "secret-token", caller="+84912345678", before_request=db.rollback)
    call.ring()
    call.press("1")
    for n in range(10):
        booking_actions.book(ctx(db), office_id=office, day=MONDAY, code="C", phone=phone(n + 1), language="vi")
    db.commit()
    call.press("1")
    call.press("2")  # another session: the list again, without the full one
    assert "Các buổi còn chỗ" in call.spoken() and "chiều thứ Hai" not in call.spoken()
    db.rollback()
    assert db.scalars(select(WaitlistEntry)).all() == []


# An office with no room at all: the soonest full session's waitlist is offered before other offices (issue 14).

def _full_office(db: Session, **fields: Any) -> Office:
    """An office with one seat in each session, every one within its two days' horizon booked."""
    full = make_office(db, morning=1, afternoon=1, horizon_days=2, keypad_number=1, **fields)
    db.flush()
    rooms = next_sessions_with_room(db, now=NOW, policy=POLICY, office_ids=[full.id], limit=100)
    assert (rooms[0].date, rooms[0].code) == (MONDAY, "C")
    for n, room in enumerate(rooms):
        booking_actions.book(ctx(db), office_id=full.id, day=room.date, code=room.code, phone=phone(n + 1),
                             language="vi")
    return full


def _other_office(db: Session) -> None:
    make_office(db, keypad_number=2, name="Trung tâm Phục vụ hành chính công phường An Xuyên")
    db.commit()


def _call_about(app: Flask, db: Session, full: Office, caller: str = "+84912345678") -> Caller:
    """A call that chooses the full office from the list of every office."""
    call = Caller(app.test_client(), "secret-token", caller=caller, before_request=db.rollback)
    call.ring()
    call.press("1")
    call.press("2")
    call.press("0")
    spoken = call.spoken()
    call.press("1" if spoken.index(full.spoken_name) < spoken.index("phường An Xuyên") else "2")
    return call


OFFER = "Buổi sớm nhất, chiều thứ Hai"


def test_a_full_office_offers_its_soonest_full_sessions_waitlist(app: Flask, db: Session) -> None:
    full = _full_office(db)
    _other_office(db)
    call = _call_about(app, db, full)
    assert "đã hết chỗ trong những ngày tới" in call.spoken() and OFFER in call.spoken()
    call.press("1")
    assert "danh sách chờ" in call.spoken() and "0 9 1 2, 3 4 5, 6 7 8" in call.spoken()
    db.rollback()
    entry = db.scalars(select(WaitlistEntry)).one()
    assert (entry.office_id, entry.date, entry.session_code, entry.phone, entry.phone_verified, entry.channel) == (
        full.id, MONDAY, "C", "+84912345678", True, Channel.IVR)
    assert db.scalars(select(Booking).where(Booking.phone == "+84912345678")).all() == []


def test_a_landline_caller_types_the_mobile_to_wait_at(app: Flask, db: Session) -> None:
    full = _full_office(db)
    _other_office(db)
    call = _call_about(app, db, full, caller="+842903821000")
    call.press("1")
    assert "gọi khi có chỗ trống" in call.spoken()
    call.press("02903821000#")  # a landline: not where a waitlist's text can go
    assert "không phải là số di động" in call.spoken() and "gọi khi có chỗ trống" in call.spoken()
    call.press("0987123456#")
    assert "0 9 8 7, 1 2 3, 4 5 6" in call.spoken()
    call.press("1")
    assert "danh sách chờ" in call.spoken()
    db.rollback()
    entry = db.scalars(select(WaitlistEntry)).one()
    assert (entry.session_code, entry.date, entry.phone, entry.phone_verified) == ("C", MONDAY, "+84987123456", False)


def test_key_2_hears_other_offices_as_before(app: Flask, db: Session) -> None:
    full = _full_office(db)
    _other_office(db)
    call = _call_about(app, db, full)
    call.press("2")
    assert "Các nơi sau còn chỗ" in call.spoken() and "phường An Xuyên" in call.spoken()
    call.press("1")
    call.press("1")
    db.rollback()
    assert db.scalars(select(Booking.office_id).where(Booking.phone == "+84912345678")).one() != full.id
    assert db.scalars(select(WaitlistEntry)).all() == []


def test_silence_hears_other_offices(app: Flask, db: Session) -> None:
    full = _full_office(db)
    _other_office(db)
    call = _call_about(app, db, full)
    for _ in range(3):  # asked again, then on to other offices
        if "Các nơi sau còn chỗ" in call.spoken():
            break
        assert OFFER in call.spoken()
        call.silence()
    assert "Các nơi sau còn chỗ" in call.spoken() and "phường An Xuyên" in call.spoken()
    db.rollback()
    assert db.scalars(select(WaitlistEntry)).all() == []


def test_an_office_without_sessions_goes_to_other_offices_at_once(app: Flask, db: Session) -> None:
    empty = make_office(db, keypad_number=1, weekdays=range(0))
    _other_office(db)
    call = _call_about(app, db, empty)
    assert "đã hết chỗ trong những ngày tới" in call.spoken() and "Buổi sớm nhất" not in call.spoken()
    assert "Các nơi sau còn chỗ" in call.spoken()
    db.rollback()
    assert db.scalars(select(WaitlistEntry)).all() == []
