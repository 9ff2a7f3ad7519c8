"""Random calls through the signed voice webhooks, on both engines: whatever a caller (or Twilio) does,
the answer is valid TwiML, and once the call is over no seat stays held and the counters add up.

Each example is one call from a new number: keys, junk, silence, words, a transfer's result, a
retried or stale request, a forged one, and a hang-up at some point. The app and its offices are
built once per engine; before each example the rows that calls create (sessions, holds,
bookings, calls, messages) are deleted, so that an example depends on its draws alone and
Hypothesis can replay and shrink a failure. Small capacities and an office that is already full
take callers down the 'no room' and 'other offices' paths; a caller may start with a booking.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from booking import bookings
from booking.bookings import Actor
from booking.errors import InvalidPhone
from booking.models import ArrivalWindow, Booking, BookingStatus, Channel, Hold, Office, OfficeSession
from booking.phones import parse_phone
from config import Settings
from database.base import Base
from database.engine import make_engine, make_session_factory
from hotline import create_app
from hotline.ivr.models import Call
from hotline.localization import BabelLocalizer
from ivr_flows.hotline import HOTLINE
from ivr_flows.prompts import PROMPTS
from tests.factories import NOW, make_office, phone
from tests.ivr_caller import new_sid

TOKEN = "secret-token"
BASE = "http://localhost"
VERBS = {"Say", "Play", "Gather", "Redirect", "Dial", "Hangup", "Pause"}
IN_GATHER = {"Say", "Play", "Pause"}
LAST_VERBS = {"Redirect", "Dial", "Hangup"}  # a response that ends otherwise leaves the caller in silence
MAX_STEPS = 25

# -- the hotline under test --------------------------------------------------------------------------


@dataclass
class Hotline:
    app: Flask
    db: Session
    apologies: set[str]
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def build_app(database_url: str, instance: Path) -> Flask:
    settings = Settings(env="testing", database_url=database_url, instance_path=instance, secret_key="t" * 32,
                        twilio_auth_token=TOKEN, operator_numbers="+842903821022,+842903821023")
    app = create_app(settings)
    app.extensions["hotline"].clock = lambda: NOW
    return app


def apology_texts(app: Flask) -> set[str]:
    with app.app_context():
        return {BabelLocalizer(language).gettext(PROMPTS["error"]) for language in ("vi", "en")}


@pytest.fixture
def hotline(engine: Engine, db: Session, tmp_path: Path) -> Iterator[Hotline]:
    # Monday 09:00. In the menu: a small office, one with no seats at all, and one open on Mondays only.
    make_office(db, keypad_number=5, name="Trung tâm Phục vụ hành chính công xã Năm Căn",
                name_en="Nam Can Commune Service Centre", morning=2, afternoon=1)
    make_office(db, keypad_number=6, name="Trung tâm Phục vụ hành chính công xã Cái Nước", morning=0, afternoon=0)
    make_office(db, keypad_number=7, name="Trung tâm Phục vụ hành chính công phường An Xuyên",
                morning=1, afternoon=1, weekdays=range(1), horizon_days=7)
    db.commit()
    app = build_app(engine.url.render_as_string(hide_password=False), tmp_path / "instance")
    yield Hotline(app, db, apology_texts(app))
    app.extensions["hotline"].engine.dispose()


# The tables that calls write to; offices and their plans stay from one example to the next.
CALL_TABLES = {"calls", "citizens", "callback_requests", "office_sessions", "arrival_windows", "session_reserves",
               "bookings", "holds", "booking_events", "outbox", "audit_log"}


def start_afresh(hotline: Hotline) -> None:
    db = hotline.db
    db.rollback()
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in CALL_TABLES:
            db.execute(table.delete())
    db.commit()


def book_before_the_call(hotline: Hotline, number: str) -> None:
    """The caller (or, for a hidden number, the mobile they may type) already has an appointment."""
    rt = hotline.app.extensions["hotline"]
    office = hotline.db.scalars(select(Office).where(Office.keypad_number == 5)).one()
    bookings.book(hotline.db, office_id=office.id, day=date(2027, 3, 2), code="S", phone=number,
                  actor=Actor("user:lan", Channel.OPERATOR), now=NOW, policy=rt.policy)
    hotline.db.commit()


# -- playing Twilio's part -----------------------------------------------------------------------------


@dataclass
class Request:
    url: str
    params: dict[str, str]
    token: str


@dataclass
class TwilioCall:
    hotline: Hotline
    client: FlaskClient
    caller: str
    sid: str = field(default_factory=new_sid)
    last: ET.Element | None = None
    last_body: str = ""
    last_request: Request | None = None
    step_urls: list[str] = field(default_factory=list)
    tokens: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    state: str = ""  # where the flow says the call is, after the last answer

    def params(self, **extra: str) -> dict[str, str]:
        return {"CallSid": self.sid, "AccountSid": "AC" + "0" * 32, "From": self.caller, "To": "+842903821022",
                "CallStatus": "in-progress", "Direction": "inbound", "ApiVersion": "2010-04-01", **extra}

    def send(self, path: str, params: dict[str, str], *, token: str | None = None,
             signature: str | None = None) -> TestResponse:
        self.hotline.db.rollback()  # as a separate client would: no open transaction of ours holds a lock
        url = path if path.startswith("http") else BASE + path
        if signature is None:
            signature = RequestValidator(TOKEN).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature}
        if token is not None:
            headers["I-Twilio-Idempotency-Token"] = token
        return self.client.post(url, data=params, headers=headers)

    def request(self, path: str, params: dict[str, str], token: str | None = None) -> ET.Element:
        token = token or f"{self.sid}-{next(self.tokens)}"
        response = self.send(path, params, token=token)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, f"{path} {params}: {response.status_code} {body}"
        assert response.mimetype == "text/xml"
        self.last = check_twiml(body, self.hotline.apologies)
        self.last_body, self.last_request = body, Request(path, params, token)
        self.hotline.db.rollback()
        self.state = self.hotline.db.scalar(select(Call.state).where(Call.sid == self.sid)) or ""
        self.hotline.db.rollback()
        note(f"visited {self.state}")
        for verb in ("Gather", "Dial"):
            found = self.last.find(verb)
            if found is not None:
                self.step_urls.append(found.attrib["action"])
        return self.last

    def find(self, verb: str) -> ET.Element | None:
        return None if self.last is None else self.last.find(verb)

    def spoken(self) -> str:
        """Everything the last answer says, in order, as one text."""
        return "" if self.last is None else " ".join((el.text or "") for el in self.last.iter("Say"))

    def hang_up(self) -> None:
        self.hotline.db.rollback()
        context = self.hotline.db.scalar(select(Call.context).where(Call.sid == self.sid)) or {}
        if "hold_id" in context:
            note("hung up while a seat was held")
        response = self.send("/ivr/status", self.params(CallStatus="completed", CallDuration="42"))
        assert response.status_code == 204


def note(what: str) -> None:
    """Counts what examples did, for --hypothesis-show-statistics (a no-op in the plain tests)."""
    if currently_in_test_context():
        event(what)


def check_twiml(body: str, apologies: set[str]) -> ET.Element:
    """The invariants of every answer: parseable TwiML made of voice verbs that keeps the call going."""
    root = ET.fromstring(body)
    assert root.tag == "Response", body
    verbs = list(root)
    assert verbs, f"an empty response leaves the caller in silence: {body}"
    tags = [v.tag for v in verbs]
    assert set(tags) <= VERBS, body
    assert tags[-1] in LAST_VERBS, f"the call has nowhere to go after {tags}: {body}"
    for position, verb in enumerate(verbs):
        if verb.tag == "Gather":
            assert tags[position + 1:position + 2] == ["Redirect"], f"a Gather must be followed by a Redirect: {body}"
            assert {c.tag for c in verb} <= IN_GATHER and len(verb), body
            assert_ivr_path(verb.attrib["action"])
            assert verb.attrib.get("method") == "POST"
        elif verb.tag == "Redirect":
            assert_ivr_path(verb.text or "")
        elif verb.tag == "Dial":
            assert_ivr_path(verb.attrib["action"])
            assert len(verb) and {c.tag for c in verb} == {"Number"}, body
        if verb.tag in ("Hangup", "Dial"):
            assert position == len(verbs) - 1, f"nothing may follow a {verb.tag}: {body}"
    for said in root.iter("Say"):
        assert (said.text or "").strip(), f"an empty <Say>: {body}"
        assert "%(" not in (said.text or ""), f"a placeholder was left unfilled: {body}"
        assert said.text not in apologies, f"the system apologised (a webhook failed; see the log): {body}"
    return root


def assert_ivr_path(url: str) -> None:
    parts = urlsplit(url)
    assert parts.path.startswith("/ivr/") and parts.netloc in ("", "localhost"), url


# -- what a caller and Twilio may do ---------------------------------------------------------------------

KEYS = "0123456789*#"
MENU_KEYS = "11112223456789*0#"  # single presses, with the keys that go deeper more likely
PLAUSIBLE = ["0912345678#", "0987654321", "84912345678#", "0290383123#", "5#", "7#", "0005#", "12#", "#",
             "123456789", "000000000#", "9999"]
WORDS = ["có", "không", "đồng ý", "không đồng ý", "đúng", "sai", "xác nhận", "đặt lịch", "đặt hẹn", "kiểm tra",
         "hủy", "thông tin", "giờ làm việc", "thông báo", "tổng đài viên", "gặp người", "yes", "no", "confirm",
         "book", "cancel", "check", "information", "notice", "operator", "Năm Căn", "xã Năm Căn", "An Xuyên",
         "phường An Xuyên", "xin chào", "alô", "một", "số năm", "0912345678", "không chín một hai", "5", "ừ", "dạ",
         # Whole requests, as said at the first menu (and, out of place, anywhere else).
         "đặt lịch ở xã Năm Căn sáng thứ ba", "đặt lịch ở xã Cái Nước", "đặt lịch ở An Xuyên chiều nay",
         "tôi muốn đổi lịch hẹn", "hủy lịch hẹn", "xã Năm Căn mấy giờ mở cửa", "tỉnh", "xã Đất Mũi"]
DIAL_STATUSES = ["completed", "answered", "busy", "no-answer", "failed", "canceled", "", "ringing", "xyz"]


junk = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=30)


def expected_keys(state_name: str, codes: list[str]) -> list[str]:
    """What the flow hopes for in a state: its keys and menu numbers, or a sensible entry."""
    state = HOTLINE.states.get(state_name)
    if state is None:
        return ["1"]
    if state.input is not None:
        return {"ask_phone": ["0912345678#", "0290383123#"], "ask_code": [*codes, "123456789"],
                "ask_callback_phone": ["0290383123#", "0912345678#", "12#"]}.get(state.name, ["1#"])
    offered = (["1", "2", "3"] if state.choices is not None else []) + sorted(state.keys)
    return sorted(set(offered), key=lambda key: (key in "0*#", key))  # '0' (operator) and '*' (back) last


@st.composite
def keys(draw: st.DrawFn, state: str, codes: list[str]) -> str:
    kind = draw(st.integers(0, 12))
    if kind <= 7:
        # A key the current state offers: a call mostly goes on rather than round in circles.
        return draw(st.sampled_from(expected_keys(state, codes)))
    if kind == 8:
        return draw(st.sampled_from(MENU_KEYS))
    if kind <= 10:
        return draw(st.text(st.sampled_from(KEYS), min_size=1, max_size=12))
    if kind == 11:
        return draw(st.sampled_from(PLAUSIBLE))
    return draw(junk)


@st.composite
def words(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(junk)
    return " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))


def caller_numbers(hotline: Hotline) -> st.SearchStrategy[str]:
    fresh = st.builds(lambda: phone(next(hotline.numbers)))  # a new mobile for every example
    return st.one_of(fresh, fresh, fresh, st.sampled_from(["anonymous", "+842903838123", "+12025550123", ""]))


GATHER_ACTIONS = ["keys"] * 14 + ["silence"] * 2 + ["speech"] * 3 + ["retry", "stale", "forged", "hang_up"]
DIAL_ACTIONS = ["dial_result"] * 4 + ["retry", "stale", "hang_up"]


def play(call: TwilioCall, data: st.DataObject, hotline: Hotline) -> None:
    call.request("/ivr/voice", call.params())
    for _ in range(MAX_STEPS):
        if call.find("Hangup") is not None:
            return  # the hotline ended the call; Twilio reports it as completed
        gather, dial = call.find("Gather"), call.find("Dial")
        if call.state == "confirm_hold" and gather is not None:
            # The moment that matters most for held seats: confirm, hang up, or anything else.
            decision = data.draw(st.sampled_from(["confirm", "hang up", "anything"]), label="with a seat held")
            if decision == "hang up":
                return
            if decision == "confirm":
                call.request(gather.attrib["action"], call.params(Digits="1"))
                continue
        action = data.draw(st.sampled_from(GATHER_ACTIONS if gather is not None else DIAL_ACTIONS), label="action")
        if action == "hang_up":
            return
        if action == "keys":
            assert gather is not None
            codes = list(hotline.db.scalars(select(Booking.code).order_by(Booking.id)))
            hotline.db.rollback()
            pressed = data.draw(keys(call.state, codes), label="keys")
            call.request(gather.attrib["action"], call.params(Digits=pressed))
        elif action == "speech":
            assert gather is not None
            said = data.draw(words(), label="speech")
            call.request(gather.attrib["action"], call.params(SpeechResult=said, Confidence="0.72"))
        elif action == "silence":
            redirect = call.find("Redirect")
            assert redirect is not None
            call.request(redirect.text or "", call.params())
        elif action == "dial_result":
            assert dial is not None
            status = data.draw(st.sampled_from(DIAL_STATUSES), label="DialCallStatus")
            call.request(dial.attrib["action"], call.params(DialCallStatus=status, DialCallDuration="7"))
        elif action == "retry":
            # Twilio retries a request it got no answer to with the same idempotency token.
            before, last = call.last_body, call.last_request
            assert last is not None
            call.request(last.url, last.params, token=last.token)
            assert call.last_body == before, "a retried request must get the same answer"
        elif action == "stale":
            # A request for a step already taken (a late retry without a token) gets the current answer.
            waiting = gather if gather is not None else dial
            assert waiting is not None
            current = step_of(waiting.attrib["action"])
            older = sorted({url for url in call.step_urls if step_of(url) < current})
            if older:
                before = call.last_body
                url = data.draw(st.sampled_from(older), label="stale url")
                call.request(url, call.params(Digits="1"))
                assert call.last_body == before, "a stale request must get the current answer again"
        elif action == "forged":
            # Not from Twilio, or not a call: refused, and the call goes on as if nothing happened.
            target = gather.attrib["action"] if gather is not None else "/ivr/voice"
            if data.draw(st.booleans(), label="forged signature (else a malformed CallSid)"):
                response = call.send(target, call.params(Digits="1"), signature="forged")
                assert response.status_code == 403
            else:
                response = call.send(target, {**call.params(Digits="1"), "CallSid": "CA-not-a-sid"})
                assert response.status_code == 400


def step_of(url: str) -> int:
    """The step number in an action URL: /ivr/step/3 or /ivr/dial/3 gives 3."""
    return int(urlsplit(url).path.rstrip("/").rsplit("/", 1)[1])


def phones_of(hotline: Hotline, call: TwilioCall) -> set[str]:
    """The numbers a call may have held seats for: the caller's own, and any mobile typed in."""
    found = set()
    with contextlib.suppress(InvalidPhone):
        found.add(parse_phone(call.caller).number)
    row = hotline.db.scalar(select(Call).where(Call.sid == call.sid))
    if row is not None:
        found |= {str(row.context[key]) for key in ("phone", "typed_mobile") if row.context.get(key)}
    return found


def counts(db: Session, query: Select[int, int]) -> dict[int, int]:
    return {key: count for key, count in db.execute(query)}


def check_seats(hotline: Hotline, call: TwilioCall) -> None:
    db = hotline.db
    db.rollback()
    row = db.scalar(select(Call).where(Call.sid == call.sid))
    assert row is not None and row.status == "ended" and "hold_id" not in row.context
    phones = phones_of(hotline, call)
    assert db.scalar(select(func.count()).select_from(Hold).where(Hold.phone.in_(phones))) == 0, phones
    left = [(h.id, h.phone, h.session_id) for h in db.scalars(select(Hold))]
    calls = [(c.sid, c.caller, c.state, c.status, c.context) for c in db.scalars(select(Call))
             if any(p in str(c.context) or p == c.caller for _, p, _ in left)]
    assert not left, f"seats still held after every call ended: {left}; calls: {calls}"
    holds = counts(db, select(Hold.session_id, func.count()).group_by(Hold.session_id))
    booked = counts(db, select(Booking.session_id, func.count()).where(Booking.status == BookingStatus.BOOKED)
                    .group_by(Booking.session_id))
    for session in db.scalars(select(OfficeSession)):
        assert session.held == holds.get(session.id, 0), (session.id, session.held, holds)
        assert session.booked == booked.get(session.id, 0), (session.id, session.booked, booked)
        assert session.taken <= session.capacity, (session.id, session.taken, session.capacity)
    window_holds = counts(db, select(Hold.window_id, func.count()).group_by(Hold.window_id))
    window_booked = counts(db, select(Booking.window_id, func.count()).where(Booking.status == BookingStatus.BOOKED)
                           .group_by(Booking.window_id))
    for window in db.scalars(select(ArrivalWindow)):
        assert window.held == window_holds.get(window.id, 0)
        assert window.booked == window_booked.get(window.id, 0)
    db.rollback()


@pytest.mark.slow
# No shrinking: replaying calls to shrink a failure takes five minutes or more; a failure is
# reported with every draw of its call (at most 25 steps). For a minimal example while debugging,
# use phases=list(Phase) and a longer @pytest.mark.timeout.
@settings(max_examples=40, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_call_gets_valid_twiml_and_leaves_no_seat_held(hotline: Hotline, data: st.DataObject,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    start_afresh(hotline)
    caplog.clear()
    rt = hotline.app.extensions["hotline"]
    rt.settings = dataclasses.replace(rt.settings, ivr_speech=data.draw(st.booleans(), label="speech on"))
    call = TwilioCall(hotline, hotline.app.test_client(), data.draw(caller_numbers(hotline), label="caller"))
    if data.draw(st.booleans(), label="booked before"):
        mobile = call.caller if call.caller.startswith("+8498") else "+84912345678"
        book_before_the_call(hotline, mobile)
    try:
        play(call, data, hotline)
    finally:
        # Always hang up, even when Hypothesis abandons an example midway (it stops drawing when an
        # example grows too big), as Twilio would when the caller goes.
        call.hang_up()
    gather = call.find("Gather")
    if gather is not None and data.draw(st.booleans(), label="a late request after the hang-up"):
        # Webhooks may arrive out of order: a step request after the status callback takes nothing.
        late = call.request(gather.attrib["action"], call.params(Digits=data.draw(keys(call.state, []))))
        assert [verb.tag for verb in late] == ["Hangup"]
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, "\n".join(caplog.text.splitlines()[-40:])
    check_seats(hotline, call)


# -- known faults and a lost database ----------------------------------------------------------------------


@pytest.mark.parametrize("said", ["²", "⁵", "٥", "５"])
def test_a_unicode_digit_for_an_office_is_asked_again(hotline: Hotline, said: str) -> None:
    """Once str.isdigit() let '²' through to int() where the office was chosen: the caller heard the apology.

    Offices are now chosen by name or from a list; neither takes a Unicode digit for a choice.
    """
    call = TwilioCall(hotline, hotline.app.test_client(), phone(9_000_001))
    call.request("/ivr/voice", call.params())

    def answer(**params: str) -> None:
        gather = call.find("Gather")
        assert gather is not None
        call.request(gather.attrib["action"], call.params(**params))  # check_twiml: no apology

    answer(Digits="1")  # book
    assert call.state == "ask_office"
    answer(SpeechResult=said, Confidence="0.5")  # said as the commune's name
    assert call.state == "ask_office" and "chưa nghe rõ tên" in call.spoken()
    answer(Digits="2")  # by the first letter of the name
    assert call.state == "ask_letter"
    answer(Digits=said)  # not a key of the keypad: asked again
    assert call.state == "ask_letter"
    answer(Digits="0")  # every office
    assert call.state == "choose_office"
    answer(SpeechResult=said, Confidence="0.5")  # said as the choice's number
    assert call.state == "choose_office" and "không có trong các lựa chọn" in call.spoken()
    answer(Digits=said)
    assert call.state == "choose_office" and "không có trong các lựa chọn" in call.spoken()


@pytest.mark.parametrize("lost", ["postgresql_port_closed", "sqlite_file_deleted"])
def test_webhooks_answer_valid_twiml_when_the_database_is_unreachable(
        lost: str, tmp_path: Path, sqlite_template: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "hotline.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    app = build_app(f"sqlite:///{path}", tmp_path / "instance")
    rt = app.extensions["hotline"]
    unreachable = None
    try:
        if lost == "postgresql_port_closed":
            unreachable = make_engine("postgresql://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
            rt.sessions = make_session_factory(unreachable)
        else:
            rt.engine.dispose()
            path.unlink()
            (tmp_path / "hotline.sqlite3-wal").unlink(missing_ok=True)
            (tmp_path / "hotline.sqlite3-shm").unlink(missing_ok=True)
        client = app.test_client()
        apologies = apology_texts(app)
        sid = new_sid()
        for url in ("/ivr/voice", "/ivr/step/1", "/ivr/step/2?silence=1", "/ivr/dial/3"):
            params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": "+84912345678", "To": "+842903821022",
                      "CallStatus": "in-progress", "Digits": "1", "DialCallStatus": "no-answer"}
            signature = RequestValidator(TOKEN).compute_signature(BASE + url, params)
            response = client.post(url, data=params, headers={"X-Twilio-Signature": signature})
            assert response.status_code == 200 and response.mimetype == "text/xml"
            root = ET.fromstring(response.get_data(as_text=True))
            assert root.tag == "Response" and [verb.tag for verb in root] == ["Say", "Hangup"]
            said = root.find("Say")
            assert said is not None and said.text in apologies
            assert said.attrib == {"voice": "Google.vi-VN-Standard-A", "language": "vi-VN"}
        assert any(r.levelno >= logging.ERROR and r.name == "hotline.ivr.webhooks" for r in caplog.records)
    finally:
        rt.engine.dispose()
        if unreachable is not None:
            unreachable.dispose()



def test_a_request_arriving_after_the_hang_up_holds_no_seat(hotline: Hotline) -> None:
    call = TwilioCall(hotline, hotline.app.test_client(), phone(9_000_002))
    call.request("/ivr/voice", call.params())
    for answer in ({"Digits": "1"}, {"SpeechResult": "xã Năm Căn", "Confidence": "0.9"}):  # book, the office
        gather = call.find("Gather")
        assert gather is not None
        call.request(gather.attrib["action"], call.params(**answer))
    gather = call.find("Gather")
    assert gather is not None and call.state == "choose_session"
    call.hang_up()
    # A delayed step request after the status callback (Twilio does not promise their order) once
    # held a seat for a caller who was gone.
    late = call.request(gather.attrib["action"], call.params(Digits="1", CallStatus="completed"))
    assert [verb.tag for verb in late] == ["Hangup"]
    hotline.db.rollback()
    assert hotline.db.scalar(select(Call.status).where(Call.sid == call.sid)) == "ended"
    assert hotline.db.scalar(select(func.count()).select_from(Hold)) == 0
