"""Whole calls about the real province (Cà Mau's 65 offices from `actions.demo`), through signed webhooks, on
both engines: the ways through the call that issue 11 lists, spoken and keyed.

Where a call is in the flow is read from its row (the prompts' wording is still being shortened); what the
issue names word for word (the greeting, the read-back, the hidden number, the hours) is checked as heard.
Every Vietnamese sentence any call here hears is collected and checked for the public-service register
("quý vị", never "bạn") when the test ends.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from accounts.models import Role
from accounts.users import create_user
from actions.demo import load_demo
from actions.models import AuditEntry
from booking import bookings
from booking.models import Booking, BookingStatus, CallbackRequest, Office
from hotline.ivr.models import Call
from ivr_flows.engine import fold
from notifications.models import MessageKind, OutboxMessage
from tests.console import PASSWORD, login
from tests.factories import IVR, NOW, POLICY, at
from tests.ivr_caller import Caller

TOKEN = "secret-token"
MOBILE = "+84912345678"
MONDAY, FRIDAY = date(2027, 3, 1), date(2027, 3, 5)  # today, and "thứ sáu tuần này"
GREETING = "Tổng đài hành chính công tỉnh Cà Mau xin kính chào quý vị."
PROVINCE_CENTRE = "Trung tâm Phục vụ hành chính công tỉnh"  # how a call names the province's own centre
TOO_MANY = "Số điện thoại này đã có đủ số lịch hẹn được phép."
READ_BACK = re.compile(r"Ý quý vị là (.+?) phải không\?")
FAMILIAR = re.compile(r"\bbạn\b", re.IGNORECASE)
SPEECH_INVITED = re.compile(r"\bnói\b", re.IGNORECASE)


@dataclass
class ListeningCaller(Caller):
    """A caller that also keeps every Vietnamese sentence it is told, for the check of the register."""

    heard: list[str] = field(default_factory=list)

    def post(self, path: str, params: dict[str, str], headers: dict[str, str] | None = None,
             sign: bool = True) -> ET.Element:
        answer = super().post(path, params, headers, sign)
        self.heard.extend(el.text or "" for el in answer.iter("Say") if el.attrib.get("language") == "vi-VN")
        return answer


Dial = Callable[..., ListeningCaller]


@pytest.fixture
def province(db: Session) -> dict[str, int]:
    """Cà Mau as the demo loads it: office ids by spoken name ("xã Năm Căn", "tỉnh Cà Mau")."""
    load_demo(db, now=NOW)
    db.commit()
    offices = {name or "": office_id for office_id, name in db.execute(select(Office.id, Office.spoken_name))}
    db.rollback()  # leave no transaction open: SQLite has one writer, and the app is about to write
    assert len(offices) == 65 and "" not in offices
    return offices


@pytest.fixture
def app(make_app: Callable[..., Flask], province: dict[str, int]) -> Flask:
    return make_app(twilio_auth_token=TOKEN, operator_numbers="+842903821022")


@pytest.fixture
def caller(app: Flask, db: Session) -> Iterator[Dial]:
    """Makes callers (`caller()`, `caller("anonymous")`, `caller(on=other_app)`); when the test ends, no
    Vietnamese prompt any of them heard may address the caller as "bạn"."""
    heard: list[str] = []

    def make(number: str = MOBILE, on: Flask | None = None) -> ListeningCaller:
        return ListeningCaller((on or app).test_client(), TOKEN, caller=number, before_request=db.rollback,
                               heard=heard)

    yield make
    assert heard, "the test heard nothing"
    assert [text for text in heard if FAMILIAR.search(text)] == []


def book_before(db: Session, office: int, day: date, code: str, *, phone: str = MOBILE,
                now: datetime = NOW) -> str:
    """A booking the caller made earlier (on another call), committed for the app to see; its code."""
    made = bookings.book(db, office_id=office, day=day, code=code, phone=phone, actor=IVR, now=now, policy=POLICY)
    db.commit()
    return made.code


def the_booking(db: Session) -> Booking:
    db.rollback()
    return db.scalars(select(Booking)).one()


def where(db: Session, call: Caller) -> tuple[str, dict[str, Any]]:
    """The state the call waits in, and what it has gathered, as its row holds them."""
    db.rollback()
    row = db.get_one(Call, call.sid)
    found = (row.state, dict(row.context))
    db.rollback()
    return found


def office_chosen(db: Session, call: Caller) -> int | None:
    state, context = where(db, call)
    assert state == "choose_session", (state, call.spoken())
    return context.get("office", {}).get("id")


def gather_of(answer: ET.Element | None) -> dict[str, str]:
    assert answer is not None
    found = answer.find("Gather")
    assert found is not None, ET.tostring(answer, encoding="unicode")
    return dict(found.attrib)


def take_first_session(call: Caller) -> None:
    call.press("1")  # the soonest session with room
    call.press("1")  # confirm


# -- one sentence at the first menu --------------------------------------------------------------------------

@pytest.mark.parametrize("sentence", [
    "cho tôi đặt lịch ở xã Năm Căn sáng thứ sáu tuần này nhé",
    "dat lich o xa nam can sang thu sau tuan nay",
], ids=["with diacritics", "without"])
def test_one_sentence_goes_straight_to_the_read_back_and_books(caller: Dial, db: Session,
                                                               province: dict[str, int], sentence: str) -> None:
    """Office, date and part of day said at once: the next thing heard is their read-back, then it is booked."""
    call = caller()
    call.ring()
    call.say(sentence)
    assert where(db, call)[0] == "confirm_hold"
    assert call.spoken().startswith("xã Năm Căn, sáng thứ Sáu, ngày 5 tháng 3."), call.spoken()
    call.press("1")
    assert where(db, call)[0] == "booked_menu"
    booking = the_booking(db)
    assert (booking.office_id, booking.date, booking.session_code, booking.phone) == (
        province["xã Năm Căn"], FRIDAY, "S", MOBILE)
    assert db.scalars(select(OutboxMessage.kind)).all() == [MessageKind.CONFIRMATION]


def test_a_sentence_with_only_an_office_asks_only_for_the_session(caller: Dial, db: Session,
                                                                  province: dict[str, int]) -> None:
    call = caller()
    call.ring()
    call.say("làm căn cước ở Tân Thuận")
    assert office_chosen(db, call) == province["xã Tân Thuận"]
    assert "bấm 1" in call.spoken() and "tháng 3" in call.spoken()  # the sessions, read out at once
    take_first_session(call)
    booking = the_booking(db)
    assert (booking.office_id, booking.date, booking.session_code) == (province["xã Tân Thuận"], MONDAY, "C")


def test_asking_to_cancel_goes_to_the_check_menu(caller: Dial, db: Session, province: dict[str, int]) -> None:
    code = book_before(db, province["xã Năm Căn"], FRIDAY, "S")
    call = caller()
    call.ring()
    call.say("hủy lịch")
    assert where(db, call)[0] == "choose_booking"
    assert "sáng thứ Sáu, ngày 5 tháng 3 tại xã Năm Căn" in call.spoken()
    call.press("1")
    assert where(db, call)[0] == "booking_menu"
    booking = the_booking(db)
    assert booking.code == code and booking.status is BookingStatus.BOOKED  # saying it cancels nothing yet


# -- choosing among 65 offices --------------------------------------------------------------------------------

def _place(spoken_name: str) -> str:
    """The place alone, as most callers say it: "xã Năm Căn" → "Năm Căn"."""
    return spoken_name.split(" ", 1)[1]


def _bare(spoken_name: str) -> str:
    """The place as a recogniser may write it, without its level or any diacritics: "xã Năm Căn" → "nam can"."""
    return fold(_place(spoken_name))


@pytest.mark.parametrize("said_as", [str, _place, _bare], ids=["in full", "the place alone", "bare"])
def test_every_office_is_chosen_by_saying_its_name(caller: Dial, db: Session, province: dict[str, int],
                                                   said_as: Callable[[str], str]) -> None:
    """All 65: each name said at the office question leads straight to that office's sessions."""
    wrong: dict[str, object] = {}
    for name, office in province.items():
        call = caller()
        call.ring()
        call.press("1")
        call.say(said_as(name))
        state, context = where(db, call)
        if (state, context.get("office", {}).get("id")) != ("choose_session", office):
            wrong[said_as(name)] = (state, call.spoken()[:80])
    assert wrong == {}


@pytest.mark.parametrize("yes", [lambda call: call.press("1"), lambda call: call.say("đúng")],
                         ids=["key 1", "said"])
def test_a_recognition_slip_is_read_back_and_confirmed(caller: Dial, db: Session, province: dict[str, int],
                                                       yes: Callable[[ListeningCaller], object]) -> None:
    call = caller()
    call.ring()
    call.press("1")
    call.say("an xuân")
    match = READ_BACK.search(call.spoken())
    assert match is not None and match.group(1) == "phường An Xuyên", call.spoken()
    yes(call)
    assert office_chosen(db, call) == province["phường An Xuyên"]
    take_first_session(call)
    assert the_booking(db).office_id == province["phường An Xuyên"]


def test_a_recognition_slip_read_back_is_corrected_with_2(caller: Dial, db: Session,
                                                          province: dict[str, int]) -> None:
    call = caller()
    call.ring()
    call.press("1")
    call.say("an xuân")
    assert READ_BACK.search(call.spoken()) is not None
    call.press("2")
    assert where(db, call)[0] == "ask_office"
    call.say("xã Năm Căn")
    assert office_chosen(db, call) == province["xã Năm Căn"]
    take_first_session(call)
    assert the_booking(db).office_id == province["xã Năm Căn"]


def test_a_slip_in_the_first_sentence_is_read_back_and_the_day_said_still_counts(
        caller: Dial, db: Session, province: dict[str, int]) -> None:
    call = caller()
    call.ring()
    call.say("đặt lịch ở an xuân sáng thứ sáu")
    match = READ_BACK.search(call.spoken())
    assert match is not None and match.group(1) == "phường An Xuyên", call.spoken()
    call.press("1")
    assert office_chosen(db, call) == province["phường An Xuyên"]
    assert "sáng thứ Sáu, ngày 5 tháng 3, bấm 1" in call.spoken()
    take_first_session(call)
    booking = the_booking(db)
    assert (booking.office_id, booking.date, booking.session_code) == (province["phường An Xuyên"], FRIDAY, "S")


def _listed(spoken: str) -> dict[str, str]:
    """The names a list reads out, by key: "…: phường Hiệp Thành, bấm 1. phường Hòa Thành, bấm 2. …"."""
    return {key: name for name, key in re.findall(r"(?:^|(?<=[:.] ))([^.:,]+), bấm (\d)\.", spoken)}


def test_the_keypad_list_pages_through_the_offices_without_any_office_number(caller: Dial, db: Session,
                                                                             province: dict[str, int]) -> None:
    call = caller()
    call.ring()
    call.press("1")
    call.press("2")  # choose from a list
    call.press("0")  # of every office, not only those of one letter
    first = _listed(call.spoken())
    assert first["1"] == PROVINCE_CENTRE and set(first) == {"1", "2", "3", "4", "9"}, call.spoken()
    call.press("9")  # more
    second = _listed(call.spoken())
    assert set(second) == {"1", "2", "3", "4", "9"}, call.spoken()  # positions on the page, never office numbers
    offices = [second[key] for key in "1234"]
    assert all(name in province for name in offices) and not set(offices) & set(first.values())
    call.press("2")
    assert office_chosen(db, call) == province[offices[1]]
    take_first_session(call)
    assert the_booking(db).office_id == province[offices[1]]


def test_key_1_at_the_office_question_is_the_province_centre(caller: Dial, db: Session,
                                                             province: dict[str, int]) -> None:
    call = caller()
    call.ring()
    call.press("1")
    call.press("1")
    assert office_chosen(db, call) == province["tỉnh Cà Mau"]
    take_first_session(call)
    assert the_booking(db).office_id == province["tỉnh Cà Mau"]


def test_a_returning_caller_is_offered_their_last_office_first(caller: Dial, db: Session,
                                                               province: dict[str, int]) -> None:
    """A booking from the same caller ID, made weeks ago for a day long past, makes Đầm Dơi the first offer."""
    book_before(db, province["xã Đầm Dơi"], date(2027, 2, 23), "S", now=at(2027, 2, 22))
    call = caller()
    call.ring()
    call.press("1")
    assert where(db, call)[0] == "last_office"
    assert call.spoken().startswith("Lần trước quý vị đặt lịch tại xã Đầm Dơi."), call.spoken()
    call.press("1")
    assert office_chosen(db, call) == province["xã Đầm Dơi"]
    take_first_session(call)
    db.rollback()
    assert db.scalars(select(Booking.office_id).where(Booking.date >= MONDAY)).one() == province["xã Đầm Dơi"]


def test_another_callers_office_is_not_offered(caller: Dial, db: Session, province: dict[str, int]) -> None:
    book_before(db, province["xã Đầm Dơi"], FRIDAY, "S", phone="+84987654321")
    call = caller()
    call.ring()
    call.press("1")
    assert where(db, call)[0] == "ask_office"
    assert "Đầm Dơi" not in call.spoken()


# -- the booking limit ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("asks", [lambda call: call.press("1"),
                                  lambda call: call.say("đặt lịch ở xã Năm Căn sáng thứ sáu tuần này")],
                         ids=["key 1", "a sentence"])
def test_the_booking_limit_is_said_before_any_office_is_asked(caller: Dial, db: Session,
                                                              province: dict[str, int],
                                                              asks: Callable[[ListeningCaller], object]) -> None:
    assert POLICY.max_future_bookings == 2  # BOOKING_MAX_FUTURE, as the test app has it
    book_before(db, province["xã Năm Căn"], date(2027, 3, 2), "S")
    book_before(db, province["phường An Xuyên"], date(2027, 3, 3), "C")
    call = caller()
    call.ring()
    asks(call)
    assert call.spoken().startswith(TOO_MANY), call.spoken()
    state, context = where(db, call)
    assert state == "main_menu" and "office" not in context and "last_office" not in context
    db.rollback()
    assert len(db.scalars(select(Booking)).all()) == 2


# -- rescheduling ------------------------------------------------------------------------------------------------

def test_rescheduling_from_the_check_menu(caller: Dial, db: Session, province: dict[str, int]) -> None:
    """2 → the booking → 2 → a session → 1: moved, the "move" SMS queued, the audit entry written."""
    code = book_before(db, province["xã Năm Căn"], FRIDAY, "S")
    call = caller()
    call.ring()
    call.press("2")
    assert "sáng thứ Sáu, ngày 5 tháng 3 tại xã Năm Căn, bấm 1" in call.spoken()
    call.press("1")  # the booking
    call.press("2")  # move it
    assert where(db, call)[0] == "choose_move"
    assert "chiều thứ Hai, ngày 1 tháng 3, bấm 1" in call.spoken()
    assert "sáng thứ Sáu, ngày 5 tháng 3" not in call.spoken()  # not the session it is in
    call.press("1")
    assert call.spoken().startswith("Đổi sang chiều thứ Hai, ngày 1 tháng 3?"), call.spoken()
    call.press("1")
    assert call.spoken().startswith("Đã đổi lịch."), call.spoken()
    moved = the_booking(db)
    assert (moved.code, moved.office_id, moved.date, moved.session_code, moved.status) == (
        code, province["xã Năm Căn"], MONDAY, "C", BookingStatus.BOOKED)
    sms = db.scalars(select(OutboxMessage)).one()
    assert (sms.kind, sms.recipient) == (MessageKind.MOVE, MOBILE) and code in sms.body
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "booking.move")).one()
    assert (entry.target_id, entry.actor) == (code, f"ivr:{call.sid}")
    assert entry.before is not None and entry.after is not None
    assert (entry.before["date"], entry.before["session"]) == ("2027-03-05", "S")
    assert (entry.after["date"], entry.after["session"]) == ("2027-03-01", "C")


# -- a withheld number ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("number", ["anonymous", "+266696687"])  # Twilio's From when the caller ID is withheld
@pytest.mark.parametrize("asks", [lambda call: call.press("2"), lambda call: call.say("hủy lịch")],
                         ids=["key 2", "a sentence"])
def test_a_withheld_number_is_told_it_is_hidden_and_asked_for_the_code(
        caller: Dial, db: Session, province: dict[str, int], number: str,
        asks: Callable[[ListeningCaller], object]) -> None:
    book_before(db, province["xã Năm Căn"], FRIDAY, "S")
    call = caller(number)
    call.ring()
    asks(call)
    spoken = call.spoken()
    assert spoken.startswith("Số của quý vị đang ẩn") and "mã lịch hẹn" in spoken, spoken
    assert "Năm Căn" not in spoken  # nobody's bookings are read to a hidden number
    assert where(db, call)[0] == "ask_code" and gather_of(call.last)["numDigits"] == "9"
    call.press(the_booking(db).code)
    assert where(db, call)[0] == "booking_menu"
    assert "sáng thứ Sáu, ngày 5 tháng 3" in call.spoken() and "xã Năm Căn" in call.spoken()


@pytest.mark.parametrize(("moment", "by", "queue_says"), [
    (NOW, "trước 17 giờ hôm nay", "Trước 17:00 cùng ngày"),  # Monday 09:00: operators are in, none answered
    (at(2027, 3, 1, 18, 0), "vào ngày làm việc tiếp theo", "Ngày làm việc tiếp theo, thứ Ba 02/03"),  # after hours
], ids=["no operator answered", "after hours"])
def test_a_withheld_number_asking_for_a_call_back_is_asked_for_a_number(
        app: Flask, caller: Dial, db: Session, moment: datetime, by: str, queue_says: str) -> None:
    """The console's call-back queue shows the promise the caller heard: one rule (booking.calendar) for both."""
    app.extensions["hotline"].clock = lambda: moment
    call = caller("anonymous")
    call.ring()
    call.press("0")
    dial = call.last.find("Dial") if call.last is not None else None
    if dial is not None:
        call.post(dial.attrib["action"], call._params(DialCallStatus="no-answer"))
    assert where(db, call)[0] == "offer_callback"
    call.press("1")
    assert where(db, call)[0] == "ask_callback_phone"
    assert call.spoken().startswith("Số của quý vị đang ẩn."), call.spoken()
    call.press("02903831234#")  # a landline will do for a call
    spoken = call.spoken()
    assert re.search(rf"Tổng đài viên sẽ gọi lại số [0-9, ]+ {by}\.", spoken), spoken
    db.rollback()
    request = db.scalars(select(CallbackRequest)).one()
    assert (request.phone, request.call_sid) == ("+842903831234", call.sid)
    create_user(db, username="lan", password_hash=generate_password_hash(PASSWORD), role=Role.OPERATOR, now=NOW)
    db.commit()
    console = app.test_client()
    assert login(console, "lan") == 302
    queue = console.get("/console/callbacks").get_data(as_text=True)
    assert queue_says.lower() in queue.lower(), re.findall(r"<td>[^<]*(?:Trước|Ngày làm việc)[^<]*", queue)


# -- office information -------------------------------------------------------------------------------------------

def test_office_information_says_the_weekly_hours_as_a_summary(caller: Dial, db: Session) -> None:
    call = caller()
    call.ring()
    call.press("3")
    call.say("Năm Căn")
    spoken = call.spoken()
    assert ("Giờ làm việc: Thứ Hai đến Thứ Sáu, sáng từ 7 giờ đến 11 giờ 30, chiều từ 13 giờ 30 đến 17 giờ."
            in spoken), spoken
    assert "tháng" not in spoken  # no dates, day by day
    call.press("*")
    call.press("3")
    call.press("1")  # the province centre, which also opens on Saturday mornings
    spoken = call.spoken()
    assert "Giờ làm việc: Thứ Hai đến Thứ Sáu, " in spoken and "; Thứ Bảy, sáng từ " in spoken, spoken
    assert "tháng" not in spoken


# -- the greeting and what the recogniser is told ----------------------------------------------------------------

def test_the_greeting_names_the_province_and_both_questions_listen_for_office_names(
        caller: Dial, db: Session, province: dict[str, int]) -> None:
    call = caller()
    call.ring()
    assert call.spoken().startswith(GREETING), call.spoken()
    first_menu = gather_of(call.last)
    call.press("1")
    assert where(db, call)[0] == "ask_office"
    office_question = gather_of(call.last)
    for gather in (first_menu, office_question):
        assert (gather["input"], gather["language"]) == ("dtmf speech", "vi-VN"), gather
        assert set(province) <= set(gather["hints"].split(", ")), gather["hints"]


def test_with_speech_off_the_first_menu_and_the_office_question_take_keys_only(
        make_app: Callable[..., Flask], caller: Dial, db: Session) -> None:
    """IVR_SPEECH=0: keys only, and neither question invites the caller to say anything."""
    call = caller(on=make_app(twilio_auth_token=TOKEN, ivr_speech=False))
    call.ring()
    assert call.spoken().startswith(GREETING), call.spoken()
    first_menu, first_said = gather_of(call.last), call.spoken()
    call.press("1")
    assert where(db, call)[0] == "ask_office"
    office_question, office_said = gather_of(call.last), call.spoken()
    for gather, said in ((first_menu, first_said), (office_question, office_said)):
        assert (gather["input"], gather["language"]) == ("dtmf", "vi-VN"), gather
        assert "hints" not in gather and "speechTimeout" not in gather, gather
        assert not SPEECH_INVITED.search(said), said


def test_a_keypad_caller_finds_a_commune_by_the_key_of_its_first_letter(caller: Dial, db: Session,
                                                                       province: dict[str, int]) -> None:
    """Without speech, paging through 65 offices four at a time took a caller 145 s to reach xã Năm Căn."""
    call = caller()
    call.ring()
    call.press("1")
    call.press("2")
    assert "Ví dụ Năm Căn, bấm 6." in call.spoken()
    call.press("6")  # M, N, O: Năm Căn, Nguyễn Phích, …
    listed = _listed(call.spoken())
    assert listed["1"] == "xã Năm Căn" and all(name.split(" ", 1)[1][0] in "MNOÔƠ" for key, name in listed.items()
                                               if key != "9"), call.spoken()
    call.press("1")
    assert office_chosen(db, call) == province["xã Năm Căn"]
    take_first_session(call)
    assert the_booking(db).office_id == province["xã Năm Căn"]
