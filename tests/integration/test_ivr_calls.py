"""Whole calls through the voice webhooks, signed as Twilio signs them, on both engines."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from booking.models import (
    Booking, BookingStatus, CalendarDay, CalendarDayKind, CallbackRequest, Citizen, Hold, OfficeSession,
)
from notifications.models import MessageKind, OutboxMessage
from tests.factories import at, make_office, make_procedure
from tests.ivr_caller import Caller
from tests.ivr_caller import office as office

Dial = Callable[..., Caller]  # makes a caller: caller() or caller(number="+84...")


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(twilio_auth_token="secret-token", operator_numbers="+842903821022,+842903821023")


@pytest.fixture
def caller(app: Flask, db: Session) -> Callable[..., Caller]:
    def make(_app: Flask | None = None, number: str = "+84912345678") -> Caller:
        return Caller(app.test_client(), "secret-token", caller=number, before_request=db.rollback)
    return make


def book_first_session(call: Caller) -> None:
    """Ring, choose booking, the first session, and confirm (the only office is not asked for)."""
    call.ring()
    call.press("1")  # book
    call.press("1")  # the first session with room
    call.press("1")  # confirm


def test_booking_from_first_ring_to_sms_queued(app: Flask, caller: Dial, db: Session, office: int) -> None:
    call = caller()
    call.ring()
    assert "xin kính chào quý vị" in call.spoken() and "For English, press 9." in call.spoken()
    assert call.gather.attrib["numDigits"] == "1"
    say = call.gather.find("Say")
    assert say is not None and say.attrib == {"voice": "Google.vi-VN-Standard-A", "language": "vi-VN"}
    call.press("1")  # the only office is not asked for
    # Monday 09:00: the afternoon is the next session with room; ten places are not few, so not counted.
    assert "Các buổi còn chỗ: chiều thứ Hai, ngày 1 tháng 3, bấm 1." in call.spoken()  # the only office: not named
    assert "chỗ, bấm" not in call.spoken()
    call.press("1")
    assert call.spoken().startswith("chiều thứ Hai, ngày 1 tháng 3. Xác nhận, bấm 1.")  # just chosen: not repeated
    call.press("1")
    booking = db.scalars(select(Booking)).one()
    spoken = call.spoken()
    # The queue number comes first, said as a number; the code last, digit by digit.
    assert spoken.startswith(f"Đã đặt lịch. Số thứ tự của quý vị là số {booking.queue_number}, chiều thứ Hai")
    assert " ".join(booking.code[:3]) in spoken
    assert "13 giờ 30" in spoken
    assert booking.channel.value == "ivr" and booking.phone == "+84912345678"
    sms = db.scalars(select(OutboxMessage)).one()
    assert sms.kind is MessageKind.CONFIRMATION and sms.recipient == "+84912345678"
    assert booking.code in sms.body and "C-001" in sms.body and sms.encoding == "ucs2"
    call.press("1")  # hear it again
    assert f"Số thứ tự của quý vị là số {booking.queue_number}" in call.spoken()
    assert call.hang_up() == 204


def test_check_and_cancel(app: Flask, caller: Dial, db: Session, office: int) -> None:
    book_first_session(caller())
    call = caller()
    call.ring()
    call.press("2")
    assert "chiều thứ Hai, ngày 1 tháng 3 tại xã Năm Căn, bấm 1." in call.spoken()
    call.press("1")
    assert "Số thứ tự 1, chiều thứ Hai" in call.spoken()
    call.press("1")  # cancel
    call.press("1")  # yes
    booking = db.scalars(select(Booking)).one()
    assert booking.status is BookingStatus.CANCELLED
    kinds = [m.kind for m in db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert kinds == [MessageKind.CONFIRMATION, MessageKind.CANCELLATION]


def test_find_a_booking_by_code_from_another_phone(app: Flask, caller: Dial, db: Session, office: int) -> None:
    book_first_session(caller())
    code = db.scalars(select(Booking.code)).one()
    call = caller(number="+84987654321")
    call.ring()
    call.press("2")  # no booking for this number: asked for the code
    mistyped = str(int(code[0]) % 9 + 1) + code[1:]  # another first digit, never 0
    call.press(mistyped)  # a mistyped code is caught by its check digit
    assert "không hợp lệ" in call.spoken()
    call.press(code)
    assert "Số thứ tự 1, chiều thứ Hai" in call.spoken()


def test_wrong_key_is_said_and_the_menu_asked_again(app: Flask, caller: Dial, office: int) -> None:
    call = caller()
    call.ring()
    call.press("7")
    assert call.spoken().startswith("Xin lỗi, phím quý vị bấm không có trong các lựa chọn.")
    assert "Đặt lịch, bấm 1" in call.spoken()


def test_silence_is_asked_twice_then_the_operator_is_offered(app: Flask, caller: Dial, office: int) -> None:
    call = caller()
    call.ring()
    call.silence()
    call.silence()
    assert "Đặt lịch, bấm 1" in call.spoken()
    call.silence()
    assert call.last is not None and call.last.find("Dial") is not None
    numbers = [n.text for n in call.last.iter("Number")]
    assert numbers == ["+842903821022", "+842903821023"]


def test_unanswered_transfer_offers_a_call_back(app: Flask, caller: Dial, db: Session, office: int) -> None:
    call = caller()
    call.ring()
    call.press("0")
    dial = call.last.find("Dial") if call.last is not None else None
    assert dial is not None and dial.attrib["timeout"] == "20"
    call.post(dial.attrib["action"], call._params(DialCallStatus="no-answer"))
    call.press("1")
    request = db.scalars(select(CallbackRequest)).one()
    assert request.phone == "+84912345678" and request.done_at is None
    assert call.hung_up
    (ack,) = db.scalars(select(OutboxMessage)).all()
    # Monday 09:00, operators work until 17:00: the text says so, as the IVR and the console do.
    assert (ack.kind, ack.body) == (MessageKind.CALLBACK_ACK, "Tổng đài hành chính công đã nhận yêu cầu của quý vị: "
                                    "tổng đài viên sẽ gọi lại cho quý vị trước 17:00 hôm nay.")


@pytest.mark.parametrize(("moment", "answered"), [
    (at(2027, 2, 8, 9, 0), False),  # Monday of Tết
    (at(2027, 3, 6, 9, 0), True),  # a Saturday the province made a working day
    (at(2027, 3, 13, 9, 0), False),  # an ordinary Saturday
])
def test_operators_answer_on_the_provinces_working_days(app: Flask, caller: Dial, db: Session, office: int,
                                                        moment: datetime, answered: bool) -> None:
    db.add(CalendarDay(date=date(2027, 3, 6), kind=CalendarDayKind.WORKING_DAY, works_as_weekday=0,
                       note="Làm bù"))
    db.commit()
    app.extensions["hotline"].clock = lambda: moment
    call = caller()
    call.ring()
    call.press("0")
    dialled = call.last is not None and call.last.find("Dial") is not None
    assert dialled is answered
    assert ("Tổng đài viên làm việc từ" in call.spoken()) is not answered


def test_a_landline_callers_call_back_is_queued_without_an_sms(app: Flask, caller: Dial, db: Session,
                                                                office: int) -> None:
    call = caller(number="+842903831234")
    call.ring()
    call.press("0")
    dial = call.last.find("Dial") if call.last is not None else None
    assert dial is not None
    call.post(dial.attrib["action"], call._params(DialCallStatus="busy"))
    call.press("1")
    assert db.scalars(select(CallbackRequest.phone)).all() == ["+842903831234"]
    assert db.scalars(select(OutboxMessage)).all() == []


def test_hang_up_mid_flow_releases_the_held_seat(app: Flask, caller: Dial, db: Session, office: int) -> None:
    call = caller()
    call.ring()
    call.press("1")
    call.press("1")  # the seat is now held while the caller decides
    assert db.scalar(select(func.count()).select_from(Hold)) == 1
    assert call.hang_up() == 204
    assert db.scalar(select(func.count()).select_from(Hold)) == 0
    session = db.scalars(select(OfficeSession)).one()
    db.refresh(session)
    assert session.held == 0
    assert call.hang_up() == 204  # Twilio may send it twice


def test_forged_signature_is_refused(app: Flask, caller: Dial, office: int) -> None:
    call = caller()
    response = app.test_client().post("/ivr/voice", data=call._params(), headers={"X-Twilio-Signature": "bad"})
    assert response.status_code == 403
    assert app.test_client().post("/ivr/voice", data=call._params()).status_code == 403
    assert app.test_client().post("/ivr/status", data=call._params(CallStatus="completed")).status_code == 403


def test_the_first_webhook_of_a_call_checks_its_signature_once(
        app: Flask, caller: Dial, office: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """/ivr/voice looks for a waitlist offer, then serves the call: both read the one form proven at the start."""
    checked: list[str] = []
    validate = RequestValidator.validate

    def counted(self: RequestValidator, uri: str, params: object, signature: str) -> bool:
        checked.append(uri)
        return bool(validate(self, uri, params, signature))

    monkeypatch.setattr(RequestValidator, "validate", counted)
    call = caller()
    call.ring()
    assert checked == ["http://localhost/ivr/voice"]
    call.press("1")
    assert len(checked) == 2


def test_a_webhook_relayed_by_an_unconfigured_proxy_is_refused_and_says_why(
        app: Flask, caller: Dial, office: int, caplog: pytest.LogCaptureFixture) -> None:
    """Twilio signed https://hotline.example/ivr/voice; the app, behind TLS offload, sees http://localhost/."""
    call = caller()
    signature = RequestValidator("secret-token").compute_signature("https://hotline.example/ivr/voice", call._params())
    with caplog.at_level(logging.ERROR, logger="hotline.twilio_auth"):
        response = app.test_client().post("/ivr/voice", data=call._params(), headers={
            "X-Twilio-Signature": signature, "X-Forwarded-Proto": "https"})
    assert response.status_code == 403
    assert any("PUBLIC_BASE_URL" in r.getMessage() for r in caplog.records)


def test_withheld_caller_id_is_asked_for_a_mobile_number(app: Flask, caller: Dial, db: Session, office: int) -> None:
    call = caller(number="anonymous")
    call.ring()
    call.press("1")
    call.press("1")
    assert "số di động để nhận tin nhắn xác nhận" in call.spoken()
    call.press("0290383123#")  # a landline will not receive an SMS
    assert "không phải là số di động" in call.spoken()
    call.press("0912345678#")
    assert "0 9 1 2, 3 4 5, 6 7 8" in call.spoken()
    call.press("1")
    call.press("1")
    booking = db.scalars(select(Booking)).one()
    assert booking.phone == "+84912345678"
    assert db.scalars(select(OutboxMessage.recipient)).one() == "+84912345678"


def test_a_full_office_offers_other_offices(app: Flask, caller: Dial, db: Session) -> None:
    full = make_office(db, keypad_number=1, morning=0, afternoon=0)
    make_office(db, keypad_number=2, name="Trung tâm Phục vụ hành chính công phường An Xuyên")
    db.commit()
    call = caller()
    call.ring()
    call.press("1")
    call.press("2")
    call.press("0")  # the list of every office: both, in name order
    spoken = call.spoken()
    assert full.spoken_name in spoken and "phường An Xuyên" in spoken
    call.press("1" if spoken.index(full.spoken_name) < spoken.index("phường An Xuyên") else "2")  # the full one
    assert "đã hết chỗ trong những ngày tới" in call.spoken() and "phường An Xuyên" in call.spoken()
    call.press("1")
    call.press("1")
    assert db.scalars(select(Booking.office_id)).one() != full.id


def test_english_for_the_rest_of_the_call(app: Flask, caller: Dial, db: Session, office: int) -> None:
    call = caller()
    call.ring()
    call.press("9")
    assert "To book, press 1." in call.spoken()
    say = call.gather.find("Say")
    assert say is not None and say.attrib == {"voice": "Google.en-US-Standard-C", "language": "en-US"}
    call.press("1")
    assert "Sessions with places: Monday 1 March, afternoon, press 1." in call.spoken()
    call.press("1")
    call.press("1")
    assert "Your queue number is 1, Monday 1 March, afternoon" in call.spoken() and "1:30 PM" in call.spoken()
    sms = db.scalars(select(OutboxMessage)).one()
    assert sms.language == "en" and "Appointment" in sms.body
    assert db.get_one(Citizen, "+84912345678").language == "en"


def test_a_returning_caller_is_greeted_and_offered_their_office_without_extra_reads(
        app: Flask, caller: Dial, db: Session, office: int) -> None:
    """The language chosen on an earlier call comes with the call's row; the booking menu reads the caller's
    bookings once, for both the limit and the office they last booked at."""
    make_office(db, keypad_number=2, name="Trung tâm Phục vụ hành chính công phường An Xuyên")
    db.commit()
    first = caller()
    first.ring()
    first.press("9")  # English, remembered for the number
    for key in "11111":  # book, an office from the list, the first of them, its first session, confirm
        first.press(key)
    assert "Your queue number is 1" in first.spoken()
    first.hang_up()

    sent: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(" ".join(statement.split()))

    engine = app.extensions["hotline"].engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        again = caller()
        again.ring()
        assert "To book, press 1." in again.spoken()
        assert not [s for s in sent if s.startswith("SELECT") and "FROM citizens" in s]
        sent.clear()
        again.press("1")
        assert "Last time you booked at" in again.spoken()
        assert len([s for s in sent if "FROM bookings" in s]) == 1
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_repeated_request_is_answered_again_but_not_acted_on(app: Flask, caller: Dial, db: Session, office: int) -> None:
    call = caller()
    call.ring()
    call.press("1")
    call.press("1")  # held: the next key confirms
    action = call.gather.attrib["action"]
    params = call._params(Digits="1")
    first = call.post(action, params, {"I-Twilio-Idempotency-Token": "tok-1"})
    again = call.post(action, params, {"I-Twilio-Idempotency-Token": "tok-1"})
    later = call.post(action, params)  # the same step without a token
    assert [first, again, later] and call.spoken()
    assert db.scalar(select(func.count()).select_from(Booking)) == 1
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_the_kind_of_dossier_is_not_asked_but_kept_when_the_request_names_it(
        app: Flask, caller: Dial, db: Session, office: int) -> None:
    """The field menu cost every caller ten seconds; a request that names the procedure still records its field."""
    make_procedure(db, field="Hộ tịch", name="Đăng ký khai sinh")
    make_procedure(db, field="Chứng thực", name="Chứng thực bản sao")
    db.commit()
    keys_only = caller()
    keys_only.ring()
    keys_only.press("1")
    assert "lĩnh vực" not in keys_only.spoken() and "Các buổi còn chỗ:" in keys_only.spoken()
    spoken = caller(number="+84987654321")
    spoken.ring()
    spoken.say("cho tôi đăng ký khai sinh ở xã Năm Căn chiều hôm nay")
    assert "xã Năm Căn, chiều thứ Hai, ngày 1 tháng 3. Xác nhận, bấm 1." in spoken.spoken()
    spoken.press("1")
    assert db.scalars(select(Booking.field)).one() == "Hộ tịch"


def test_opting_out_of_notices_and_back_in(app: Flask, caller: Dial, db: Session, office: int) -> None:
    call = caller()
    call.ring()
    call.press("4")
    call.press("1")
    assert db.get_one(Citizen, "+84912345678").broadcast_opt_out is True
    call.press("4")  # still answered, though the first menu now offers notices under information
    call.press("1")
    db.expire_all()
    assert db.get_one(Citizen, "+84912345678").broadcast_opt_out is False


def test_office_information(app: Flask, caller: Dial, office: int) -> None:
    call = caller()
    call.ring()
    call.press("3")
    call.press("2")
    call.press("0")  # the list of offices: the only one
    call.press("1")
    spoken = call.spoken()
    assert "Cà Mau" in spoken and "10 người" in spoken
    # The week as people say it, not date by date.
    assert "Giờ làm việc: Thứ Hai đến Thứ Sáu, sáng từ 7 giờ 30 đến 11 giờ 30, chiều từ 13 giờ 30 đến 17 giờ." in spoken
    call.press("2")  # notices, from the information menu
    assert "Để ngừng" in call.spoken() or "ngừng" in call.spoken()


@pytest.mark.parametrize("params", [
    {"Digits": "1"},  # no CallSid
    {"CallSid": "not-a-sid", "Digits": "1"},
])
def test_malformed_requests_get_400(app: Flask, caller: Dial, params: dict[str, str]) -> None:
    call = caller()
    assert call.client.post("/ivr/step/1", data=params, headers={
        "X-Twilio-Signature": __import__("twilio.request_validator").request_validator.RequestValidator(
            "secret-token").compute_signature("http://localhost/ivr/step/1", params)}).status_code == 400


def test_garbage_input_is_a_wrong_key(app: Flask, caller: Dial, office: int) -> None:
    call = caller()
    call.ring()
    call.press("1; DROP TABLE")
    assert "phím quý vị bấm không có" in call.spoken()
