"""What the hotline says about a procedure the caller names (issue 13): that it can be filed online, before
anything is booked; the short list of documents; the date the result is expected. Whole calls, both engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Booking
from tests.factories import make_procedure
from tests.ivr_caller import Caller
from tests.ivr_caller import office as office

ONLINE = "Thủ tục này có thể nộp trực tuyến tại Cổng dịch vụ công; quý vị vẫn có thể đặt lịch."
REQUEST = "cho tôi đăng ký khai sinh ở xã Năm Căn chiều hôm nay"  # Monday 1 March 2027
Dial = Callable[..., Caller]


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(twilio_auth_token="secret-token", operator_numbers="+842903821022")


@pytest.fixture
def caller(app: Flask, db: Session) -> Dial:
    def make(number: str = "+84912345678") -> Caller:
        return Caller(app.test_client(), "secret-token", caller=number, before_request=db.rollback)
    return make


def _booking(db: Session) -> Booking:
    db.rollback()
    return db.scalars(select(Booking)).one()


def test_an_online_procedure_is_said_to_be_so_before_booking_and_its_result_date_after(
        caller: Dial, db: Session, office: int) -> None:
    procedure_id = make_procedure(db, name="Đăng ký khai sinh", field="Hộ tịch", online_url="https://dichvucong.gov.vn",
                                  processing_days=3, documents_short="CCCD, tờ khai, giấy chứng sinh").id
    make_procedure(db, name="Chứng thực bản sao", field="Chứng thực")
    db.commit()
    call = caller()
    call.ring()
    call.say(REQUEST)
    # Said first, then the read-back of the session: the caller may still book, or file it online instead.
    assert call.spoken().startswith(f"{ONLINE} xã Năm Căn, chiều thứ Hai, ngày 1 tháng 3. Xác nhận, bấm 1."), (
        call.spoken())
    assert db.scalars(select(Booking)).all() == []
    call.press("1")
    spoken = call.spoken()
    assert "Xin quý vị mang theo CCCD, tờ khai, giấy chứng sinh." in spoken
    assert "Kết quả dự kiến trả ngày thứ Năm, ngày 4 tháng 3." in spoken
    assert spoken.index("Kết quả dự kiến") < spoken.index("Tin nhắn xác nhận")  # before the SMS is announced
    assert ONLINE not in spoken  # once is enough
    booking = _booking(db)
    assert (booking.procedure_id, booking.field, booking.result_date) == (procedure_id, "Hộ tịch", date(2027, 3, 4))


def test_a_procedure_filed_only_at_the_desk_is_booked_without_a_word_about_online(
        caller: Dial, db: Session, office: int) -> None:
    make_procedure(db, name="Đăng ký khai sinh", field="Hộ tịch")  # no online address, no processing time
    db.commit()
    call = caller()
    call.ring()
    call.say(REQUEST)
    assert call.spoken().startswith("xã Năm Căn, chiều thứ Hai, ngày 1 tháng 3. Xác nhận, bấm 1.")
    call.press("1")
    spoken = call.spoken()
    assert "trực tuyến" not in spoken and "Kết quả dự kiến" not in spoken
    assert "Xin quý vị mang theo căn cước và bản chính giấy tờ của hồ sơ." in spoken  # the general advice
    assert _booking(db).result_date is None


def test_a_procedure_not_handled_at_the_office_is_kept_as_its_field_only(caller: Dial, db: Session,
                                                                          office: int) -> None:
    make_procedure(db, name="Đăng ký khai sinh", field="Hộ tịch", at_commune=False, at_province=True,
                   processing_days=3)
    db.commit()
    call = caller()
    call.ring()
    call.say(REQUEST)
    call.press("1")
    booking = _booking(db)
    assert (booking.procedure_id, booking.field, booking.result_date) == (None, "Hộ tịch", None)


def test_checking_and_moving_say_the_result_date_in_the_callers_language(caller: Dial, db: Session,
                                                                          office: int) -> None:
    make_procedure(db, name="Đăng ký khai sinh", field="Hộ tịch", processing_days=2,
                   documents_short="CCCD, tờ khai", documents_short_en="ID card, the form")
    db.commit()
    first = caller()
    first.ring()
    first.say(REQUEST)
    first.press("1")
    assert "Kết quả dự kiến trả ngày thứ Tư, ngày 3 tháng 3." in first.spoken()
    again = caller()
    again.ring()
    again.press("9")  # English
    again.press("2")  # check, move or cancel
    again.press("1")  # the one booking
    assert "The result is expected on Wednesday 3 March." in again.spoken(), again.spoken()
    again.press("2")  # move it
    again.press("1")  # the first other session: Tuesday morning
    again.press("1")  # confirm
    assert "The result is expected on Thursday 4 March." in again.spoken(), again.spoken()
    assert _booking(db).result_date == date(2027, 3, 4)
