"""The sessions the IVR offers leave out those the caller's number already has an appointment in.

Whether the number has a booking in a session comes with the sessions' counters (no statement of
its own); a cancelled booking does not count, and another number is offered the session as before.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from booking.models import Booking, BookingStatus
from tests.ivr_caller import Caller
from tests.ivr_caller import office as office

MONDAY_AFTERNOON = "Các buổi còn chỗ: chiều thứ Hai, ngày 1 tháng 3, bấm 1."


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(twilio_auth_token="secret-token")


def _caller(app: Flask, db: Session, number: str = "+84912345678") -> Caller:
    return Caller(app.test_client(), "secret-token", caller=number, before_request=db.rollback)


def _book_monday_afternoon(app: Flask, db: Session) -> None:
    first = _caller(app, db)
    first.ring()
    first.press("1")  # book (the only office is not asked for)
    assert MONDAY_AFTERNOON in first.spoken()
    first.press("1")  # the first session
    first.press("1")  # confirm
    first.hang_up()


def test_a_session_the_number_has_booked_is_not_offered_again(app: Flask, db: Session, office: int) -> None:
    _book_monday_afternoon(app, db)
    sent: list[str] = []
    engine = app.extensions["hotline"].engine
    listener: Callable[..., None] = lambda conn, cursor, statement, *args: sent.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        again = _caller(app, db)
        again.ring()
        sent.clear()
        again.press("1")
        spoken = again.spoken()
        assert "chiều thứ Hai" not in spoken
        assert "Các buổi còn chỗ: sáng thứ Ba, ngày 2 tháng 3, bấm 1." in spoken
        # the caller's bookings are read once (the limit and the last office), not again for the sessions
        assert len([s for s in sent if " ".join(s.split()).startswith("SELECT bookings.")]) == 0
    finally:
        event.remove(engine, "before_cursor_execute", listener)
        again.hang_up()
    other = _caller(app, db, "+84912345679")
    other.ring()
    other.press("1")
    assert MONDAY_AFTERNOON in other.spoken()
    other.hang_up()


def test_a_cancelled_booking_does_not_keep_its_session_from_being_offered(app: Flask, db: Session,
                                                                         office: int) -> None:
    _book_monday_afternoon(app, db)
    booking = db.scalars(select(Booking)).one()
    booking.status = BookingStatus.CANCELLED  # what counts here is only that it is no longer booked
    db.commit()
    again = _caller(app, db)
    again.ring()
    again.press("1")
    assert MONDAY_AFTERNOON in again.spoken()
    again.hang_up()
