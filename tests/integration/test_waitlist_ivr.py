"""The hotline's caller meets a session that has just filled up and joins its waitlist with one key (both engines)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions import bookings as booking_actions
from actions.models import AuditEntry
from booking.models import Channel, WaitlistEntry, WaitlistStatus
from tests.factories import phone
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
