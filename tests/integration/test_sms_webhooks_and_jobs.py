"""SMS webhooks signed as Twilio signs them, and the scheduled SMS jobs: reminders and broadcasts.

Delivery reports (/sms/status) and replies (/sms/inbound) go through the Flask app with an
`X-Twilio-Signature` computed by twilio's own RequestValidator; sends go through the real twilio
client to the loopback stand-in. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from booking import bookings
from booking.citizens import set_broadcast_opt_out
from booking.errors import InvalidSettings
from booking.models import Booking, BookingStatus, Citizen
from hotline.localization import BabelLocalizer
from hotline.scheduler import Jobs
from notifications import broadcasts, notices
from notifications.dispatcher import DispatchConfig, dispatch_once
from notifications.models import (
    AudienceKind, Broadcast, BroadcastNumber, BroadcastStatus, MessageKind, MessageStatus, OutboxMessage,
)
from notifications.outbox import enqueue
from notifications.policy import SmsPolicy
from notifications.reminders import queue_reminders
from notifications.senders import Outgoing, SendResult, Sender, TwilioSender
from tests.outbox import fetch, fetch_all
from tests.factories import NOW, OPERATOR, POLICY, at, make_office, phone
from tests.ivr_caller import Caller
from tests.ivr_caller import office as office
from tests.twilio_standin import (
    ACCOUNT_SID, AUTH_TOKEN, UNAVAILABLE, TwilioStandIn, load_openapi, openapi_problems,
)

OPENAPI_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "twilio-oai" / "twilio_api_v2010.json"
SMS = SmsPolicy()
CONFIG = DispatchConfig(rate=0, concurrency=4, batch=50)
SENDER_ID = "HCCCAMAU"
BASE = "http://localhost"
TUESDAY, WEDNESDAY = date(2027, 3, 2), date(2027, 3, 3)
LANDLINE = "+842903821022"


# -- fixtures and helpers -------------------------------------------------------------------------

class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as standin:
        yield standin
    if not OPENAPI_PATH.exists():
        if os.environ.get("HOTLINE_TEST_REQUIRE_SHARED") == "1":
            pytest.fail(f"Twilio's OpenAPI description is required but missing: {OPENAPI_PATH}")
        return  # test_sms_sending.py shows the checks that need it as skipped
    doc = load_openapi(OPENAPI_PATH)
    problems = {n: p for n, r in enumerate(standin.requests) if (p := openapi_problems(r, doc))}
    assert not problems, problems


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def app(make_app: Callable[..., Flask], twilio: TwilioStandIn, clock: Clock) -> Flask:
    return make_app(clock, twilio_auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID, twilio_from=SENDER_ID,
                    sms_sender="twilio", twilio_api_base_url=twilio.base_url, public_base_url=BASE, sms_rate=1000)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def signed_post(client: FlaskClient, path: str, params: dict[str, str], *, token: str = AUTH_TOKEN,
                signed_url: str | None = None, signature: str | None = None) -> TestResponse:
    url = BASE + path
    if signature is None:
        signature = RequestValidator(token).compute_signature(signed_url or url, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(url, data=params, headers=headers)


def twilio_sender(standin: TwilioStandIn, **options: Any) -> TwilioSender:
    values: dict[str, Any] = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_": SENDER_ID,
                              "base_url": standin.base_url, "timeout": 5.0}
    values.update(options)
    return TwilioSender(**values)


def status_url(message_id: int) -> str:
    return f"{BASE}/sms/status?m={message_id}"


def dispatch(sessions: sessionmaker[Session], sender: Sender, now: datetime = NOW, *,
             config: DispatchConfig = CONFIG) -> Counter[str]:
    counts = dispatch_once(sessions, sender, now=lambda: now, policy=SMS, config=config, worker="w1",
                           status_callback=status_url)
    return Counter({k: v for k, v in counts.items() if v})


def queue_one(db: Session, recipient: str = phone(1), *, kind: MessageKind = MessageKind.CONFIRMATION) -> int:
    message = enqueue(db, kind=kind, recipient=recipient, body="Lịch hẹn của quý vị đã được xác nhận.", language="vi",
                      now=NOW, policy=SMS)
    assert message is not None
    db.commit()
    return message.id


def sent_message(db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> tuple[int, str, str]:
    """A message handed to Twilio: its id, its SM sid, and the status callback URL Twilio was given."""
    message_id = queue_one(db)
    assert dispatch(sessions, twilio_sender(twilio)) == Counter(sent=1)
    request = twilio.messages[-1]
    assert request.sid is not None and request.get("StatusCallback") is not None
    return message_id, request.sid, request.get("StatusCallback") or ""


def report(client: FlaskClient, url: str, sid: str, status: str, error_code: str | None = None,
           **options: Any) -> TestResponse:
    """A delivery report as Twilio posts it to the StatusCallback URL."""
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": SENDER_ID, "To": phone(1),
              "MessageStatus": status, "SmsStatus": status, "ApiVersion": "2010-04-01"}
    if error_code:
        params["ErrorCode"] = error_code
    return signed_post(client, url.removeprefix(BASE), params, **options)


def book(db: Session, office_id: int, n: int | str, *, day: date = TUESDAY, code: str = "S",
         now: datetime = NOW) -> Booking:
    number = phone(n) if isinstance(n, int) else n
    booking = bookings.book(db, office_id=office_id, day=day, code=code, phone=number, actor=OPERATOR, now=now,
                            policy=POLICY)
    db.commit()
    return booking


def sms_reply(client: FlaskClient, db: Session, sender: str, body: str) -> str | None:
    """Text `body` from `sender`; the reply's text (None when the answer is an empty <Response/>)."""
    db.rollback()  # end the test's own transaction: the webhook writes from another connection
    params = {"MessageSid": "SM" + "7" * 32, "AccountSid": ACCOUNT_SID, "From": sender, "To": SENDER_ID,
              "Body": body, "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01"}
    response = signed_post(client, "/sms/inbound", params)
    assert response.status_code == 200 and response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data(as_text=True))
    assert root.tag == "Response" and all(child.tag == "Message" for child in root)
    assert len(root) <= 1
    return root[0].text if len(root) else None


def citizen(db: Session, number: str) -> Citizen | None:
    db.expire_all()
    return db.get(Citizen, number)


# -- delivery reports -----------------------------------------------------------------------------

def test_a_delivery_report_moves_a_sent_message_to_delivered(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, client: FlaskClient,
        clock: Clock) -> None:
    message_id, sid, url = sent_message(db, sessions, twilio)
    assert url == status_url(message_id)
    clock.now = NOW + timedelta(seconds=5)
    assert report(client, url, sid, "sent").status_code == 204
    assert fetch(sessions, message_id).status is MessageStatus.SENT
    clock.now = NOW + timedelta(seconds=9)
    assert report(client, url, sid, "delivered").status_code == 204
    message = fetch(sessions, message_id)
    assert (message.status, message.provider_sid, message.updated_at) == (MessageStatus.DELIVERED, sid, clock.now)


# (reports in the order they arrive, final state, error code kept)
REPORT_ORDERS: list[tuple[list[tuple[str, str | None]], MessageStatus, str | None]] = [
    ([("delivered", None), ("delivered", None)], MessageStatus.DELIVERED, None),  # a duplicate
    ([("delivered", None), ("sent", None)], MessageStatus.DELIVERED, None),
    ([("delivered", None), ("failed", "30008")], MessageStatus.DELIVERED, None),
    ([("sent", None), ("sent", None), ("delivered", None), ("sending", None), ("queued", None)],
     MessageStatus.DELIVERED, None),
    ([("sending", None), ("sent", None)], MessageStatus.SENT, None),
    ([("undelivered", "30003"), ("undelivered", "30003"), ("delivered", None)], MessageStatus.UNDELIVERED, "30003"),
    ([("failed", "30008"), ("sent", None)], MessageStatus.FAILED, "30008"),
    ([("read", None), ("canceled", None)], MessageStatus.SENT, None),  # states we do not track
]


def test_duplicate_and_out_of_order_reports_leave_the_right_final_state(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, client: FlaskClient) -> None:
    for reports, final, error_code in REPORT_ORDERS:
        message_id, sid, url = sent_message(db, sessions, twilio)
        for status, code in reports:
            assert report(client, url, sid, status, code).status_code == 204
        message = fetch(sessions, message_id)
        assert (message.status, message.error_code, message.provider_sid) == (final, error_code, sid), reports


def test_a_report_for_another_sid_or_another_message_changes_nothing(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, client: FlaskClient) -> None:
    message_id, sid, url = sent_message(db, sessions, twilio)
    other = "SM" + "e" * 32
    assert report(client, url, other, "delivered").status_code == 204
    assert report(client, url, other, "failed", "30008").status_code == 204
    assert report(client, status_url(message_id + 1000), sid, "failed", "30008").status_code == 204  # unknown id
    message = fetch(sessions, message_id)
    assert (message.status, message.provider_sid, message.error_code) == (MessageStatus.SENT, sid, None)


def test_a_report_arriving_before_the_dispatcher_records_the_send_is_kept(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, client: FlaskClient) -> None:
    message_id = queue_one(db)
    real = twilio_sender(twilio)

    class ReportsAtOnce:
        """Twilio's callback can beat the dispatcher's own bookkeeping."""

        name = "twilio"

        def send(self, message: Outgoing) -> SendResult:
            result = real.send(message)
            assert result.provider_sid is not None and message.status_callback is not None
            assert report(client, message.status_callback, result.provider_sid, "delivered").status_code == 204
            return result

    assert dispatch(sessions, ReportsAtOnce()) == Counter(sent=1)
    message = fetch(sessions, message_id)
    assert (message.status, message.provider_sid) == (MessageStatus.DELIVERED, twilio.messages[0].sid)


def test_a_timed_out_send_that_reached_twilio_is_settled_by_its_report_and_not_sent_again(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, client: FlaskClient) -> None:
    message_id = queue_one(db)
    twilio.delay_next(1, 1.5)
    assert dispatch(sessions, twilio_sender(twilio, timeout=0.3)) == Counter(retry=1)
    (request,) = twilio.messages
    assert request.sid in twilio.created  # Twilio took it; only the answer was lost
    assert report(client, request.get("StatusCallback") or "", request.sid or "", "delivered").status_code == 204
    assert fetch(sessions, message_id).status is MessageStatus.DELIVERED
    assert dispatch(sessions, twilio_sender(twilio), NOW + timedelta(minutes=5)) == Counter()
    assert len(twilio.messages) == 1


def test_unsigned_or_forged_reports_are_refused(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, client: FlaskClient) -> None:
    message_id, sid, url = sent_message(db, sessions, twilio)
    forgeries: dict[str, dict[str, Any]] = {
        "unsigned": {"signature": ""}, "garbage": {"signature": "Zm9yZ2Vk"}, "other token": {"token": "0" * 32},
        "signed for another message": {"signed_url": status_url(message_id + 1)},
    }
    for forgery, options in forgeries.items():
        assert report(client, url, sid, "failed", "30008", **options).status_code == 403, forgery
    params = {"MessageSid": sid, "MessageStatus": "delivered"}  # signed for "delivered", posted as "failed"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    response = client.post(url, data={**params, "MessageStatus": "failed"}, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    message = fetch(sessions, message_id)
    assert (message.status, message.error_code) == (MessageStatus.SENT, None)


MALFORMED_REPORTS = [
    ("", "SM" + "a" * 32),  # no message id
    ("?m=", "SM" + "a" * 32),
    ("?m=abc", "SM" + "a" * 32),
    ("?m=-1", "SM" + "a" * 32),
    ("?m=1", ""),  # no MessageSid
    ("?m=1", "SM123"),
    ("?m=1", "CA" + "a" * 32),  # a call's sid
    ("?m=1", "SM" + "g" * 32),  # not hexadecimal
]


def test_malformed_reports_get_400(client: FlaskClient, db: Session) -> None:
    db.rollback()
    for query, sid in MALFORMED_REPORTS:
        params = {"MessageSid": sid, "MessageStatus": "delivered"} if sid else {"MessageStatus": "delivered"}
        assert signed_post(client, "/sms/status" + query, params).status_code == 400, (query, sid)


# -- replies --------------------------------------------------------------------------------------

def test_lich_lists_the_senders_upcoming_bookings_and_nobody_elses(
        client: FlaskClient, db: Session, office: int) -> None:
    mine = book(db, office, 1)
    later = book(db, office, 1, day=WEDNESDAY, code="C")
    theirs = book(db, office, 2)
    for keyword in ("LICH", "lịch", "Lịch", "  lich  ", unicodedata.normalize("NFD", "LỊCH")):
        text = sms_reply(client, db, phone(1), keyword) or ""
        assert mine.code in text and "S-001" in text and later.code in text and "C-001" in text, keyword
        assert "02/03/2027" in text and "03/03/2027" in text and "số thứ tự" in text
        assert theirs.code not in text and "S-002" not in text
    assert sms_reply(client, db, phone(3), "LICH") == "Số điện thoại này không có lịch hẹn sắp tới."


def test_huy_cancels_the_senders_own_booking(client: FlaskClient, db: Session, office: int) -> None:
    for n, template in enumerate(["HUY {code}", "Hủy {code}", "huỷ {spaced}", "HỦY {spaced}"], start=1):
        booking = book(db, office, n)
        spaced = f"{booking.code[:3]} {booking.code[3:6]} {booking.code[6:]}"
        text = sms_reply(client, db, phone(n), template.format(code=booking.code, spaced=spaced))
        assert text == f"Lịch hẹn {booking.code} ngày 02/03/2027 đã được hủy.", template
        db.expire_all()
        assert db.get_one(Booking, booking.id).status is BookingStatus.CANCELLED
    again = sms_reply(client, db, phone(n), f"HUY {booking.code}") or ""  # already cancelled: says why
    assert again.startswith("Chỉ có thể hủy lịch hẹn")


def test_huy_refuses_a_code_that_is_not_the_senders(client: FlaskClient, db: Session, office: int) -> None:
    theirs = book(db, office, 2)
    for typed in (theirs.code, "000000000", "12AB"):  # someone else's, nobody's, not a code at all
        text = sms_reply(client, db, phone(1), f"HUY {typed}") or ""
        assert text.startswith("Số điện thoại này không có lịch hẹn nào mang mã"), typed
    db.expire_all()
    assert db.get_one(Booking, theirs.id).status is BookingStatus.BOOKED


STOP_START = [
    ("STOP", "START"), ("stop", "start"), ("dừng", "bắt đầu"), ("DỪNG", "BẮT ĐẦU"), ("TỪ CHỐI", "Bắt Đầu"),
    ("từ chối", "đăng ký"), ("ngừng nhận", "nhận lại"), ("Hủy đăng ký", "START"),
    (unicodedata.normalize("NFD", "ngừng nhận"), unicodedata.normalize("NFD", "bắt đầu")),  # decomposed input
]


def test_stop_words_opt_out_of_notices_and_start_words_opt_back_in(
        client: FlaskClient, db: Session, clock: Clock) -> None:
    for stop, start in STOP_START:
        text = sms_reply(client, db, phone(1), stop) or ""
        assert text.startswith("Quý vị sẽ không nhận thông báo nữa."), stop
        person = citizen(db, phone(1))
        assert person is not None and person.broadcast_opt_out is True and person.opted_out_at == clock.now, stop
        assert sms_reply(client, db, phone(1), start) == "Quý vị sẽ nhận lại thông báo.", start
        person = citizen(db, phone(1))
        assert person is not None and (person.broadcast_opt_out, person.opted_out_at) == (False, None), start


@pytest.fixture
def replying_client(app: Flask, make_app: Callable[..., Flask], twilio: TwilioStandIn, clock: Clock) -> FlaskClient:
    """The app where the provider carries replies (SMS_REPLIES on), so its answers may offer keywords."""
    return make_app(clock, twilio_auth_token=AUTH_TOKEN, twilio_account_sid=ACCOUNT_SID, twilio_from=SENDER_ID,
                    sms_sender="twilio", twilio_api_base_url=twilio.base_url, public_base_url=BASE,
                    sms_replies=True).test_client()


def test_anything_else_gets_the_help_text_with_keywords_only_where_replies_reach_us(
        client: FlaskClient, replying_client: FlaskClient, db: Session) -> None:
    for body in ("Xin chào", "", "HUY", "LICH HEN", "STOP NOW", "12345"):
        assert sms_reply(replying_client, db, phone(1), body) == (
            "Tổng đài hành chính công: nhắn LICH để xem lịch hẹn, HUY kèm mã để hủy lịch hẹn, TU CHOI để ngừng "
            "nhận thông báo."), body
        # Twilio carries no replies from Vietnam (SMS_REPLIES off): no keyword is offered, the number is.
        assert sms_reply(client, db, phone(1), body) == (
            "Tổng đài hành chính công: để đặt, xem hoặc hủy lịch hẹn, hoặc ngừng nhận thông báo, xin gọi 1022."), body
        person = citizen(db, phone(1))
        assert person is not None and person.broadcast_opt_out is False


def test_stopping_by_sms_says_how_to_start_again_as_the_provider_allows(
        client: FlaskClient, replying_client: FlaskClient, db: Session) -> None:
    assert (sms_reply(replying_client, db, phone(1), "STOP") or "").endswith(
        "Nhắn BAT DAU để nhận lại thông báo.")
    assert sms_reply(client, db, phone(2), "STOP") == (
        "Quý vị sẽ không nhận thông báo nữa. Tin nhắn về lịch hẹn của quý vị vẫn được gửi. Để nhận lại thông báo, "
        "xin gọi 1022.")


def test_replies_come_in_the_citizens_language(client: FlaskClient, replying_client: FlaskClient,
                                               db: Session) -> None:
    db.add(Citizen(phone=phone(1), language="en", broadcast_opt_out=False, created_at=NOW))
    db.commit()
    assert (sms_reply(replying_client, db, phone(1), "hello") or "").startswith(
        "Public administration hotline: reply LICH")
    assert sms_reply(client, db, phone(1), "hello") == (
        "Public administration hotline: to book, check or cancel an appointment, or to stop notices, call 1022.")


def test_texts_from_numbers_we_cannot_answer_get_an_empty_response(client: FlaskClient, db: Session) -> None:
    for sender in (LANDLINE, "1022", "not-a-number", "+14155550100", ""):
        assert sms_reply(client, db, sender, "STOP") is None, sender
    assert db.scalars(select(Citizen)).all() == []


def test_forged_replies_are_refused(client: FlaskClient, db: Session) -> None:
    db.rollback()
    params = {"From": phone(1), "Body": "STOP"}
    assert signed_post(client, "/sms/inbound", params, signature="").status_code == 403
    assert signed_post(client, "/sms/inbound", params, token="0" * 32).status_code == 403
    assert citizen(db, phone(1)) is None


def test_opting_out_never_stops_the_confirmation_of_a_later_booking(
        app: Flask, client: FlaskClient, db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn,
        office: int) -> None:
    sms_reply(client, db, phone(1), "TỪ CHỐI")
    notice = broadcasts.create(db, body="Thông báo nghỉ lễ.", audience=AudienceKind.UPLOAD, spec={},
                               created_by="user:lan", now=NOW)
    broadcasts.upload(db, notice, [phone(1)])
    db.commit()
    booking = bookings.book(db, office_id=office, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                            policy=POLICY)
    with app.app_context():
        notices.confirmed(db, booking, now=NOW, policy=SMS, loc=BabelLocalizer("vi"))
    db.commit()
    broadcasts.schedule(db, notice, send_at=NOW, now=NOW)
    assert broadcasts.enqueue(db, notice, now=NOW, policy=SMS) == 0  # the notice skips the opted-out number
    db.commit()
    assert dispatch(sessions, twilio_sender(twilio)) == Counter(sent=1)
    (request,) = twilio.accepted
    assert request.get("To") == phone(1) and booking.code in (request.get("Body") or "")


# -- the confirmation of an IVR booking -----------------------------------------------------------

def test_an_ivr_booking_queues_one_confirmation_that_the_scheduler_sends_and_twilio_reports(
        app: Flask, client: FlaskClient, db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn,
        office: int) -> None:
    call = Caller(app.test_client(), AUTH_TOKEN, caller=phone(7), before_request=db.rollback)
    call.ring()
    for key in "1111":  # book, the first office, the first session with room, confirm
        call.press(key)
    assert call.hang_up() == 204
    db.rollback()
    booking = db.scalars(select(Booking)).one()
    booking_id, code, label = booking.id, booking.code, booking.queue_label
    db.rollback()  # the scheduler writes next
    (sms,) = fetch_all(sessions)
    assert (sms.kind, sms.recipient, sms.booking_id, sms.urgent) == (MessageKind.CONFIRMATION, phone(7), booking_id,
                                                                     True)
    assert label == "C-001" and code in sms.body and label in sms.body
    assert sms.body.startswith(f"Lịch hẹn {code} tại TTPVHCC xã Năm Căn: T2 01/03, đến 13:30-14:00, số C-001.")
    assert sms.segments == 2 and sms.body.endswith("Hỗ trợ: 1022.")
    jobs = Jobs(app)
    assert jobs.dispatch() == {"refused": 0, "sent": 1}
    assert not any(jobs.dispatch().values())  # nothing twice
    (request,) = twilio.messages
    assert (request.get("To"), request.get("Body"), request.get("From")) == (phone(7), sms.body, SENDER_ID)
    assert request.get("StatusCallback") == status_url(sms.id)
    assert report(client, request.get("StatusCallback") or "", request.sid or "", "delivered").status_code == 204
    assert fetch(sessions, sms.id).status is MessageStatus.DELIVERED


# -- reminders ------------------------------------------------------------------------------------

def run_reminders(app: Flask, sessions: sessionmaker[Session], now: datetime) -> int:
    with app.app_context(), sessions.begin() as session:
        return queue_reminders(session, now=now, policy=SMS, evening=time(19, 0), before=timedelta(minutes=120),
                               localizer=BabelLocalizer)


def reminders(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    return [m for m in fetch_all(sessions) if m.kind is MessageKind.REMINDER]


def test_reminders_the_evening_before_and_two_hours_before(
        app: Flask, db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, office: int) -> None:
    booking = book(db, office, 1, code="C")  # Tuesday afternoon, 13:30; booked on Monday morning
    assert run_reminders(app, sessions, at(2027, 3, 1, 18, 59)) == 0
    assert run_reminders(app, sessions, at(2027, 3, 1, 19, 0)) == 1
    assert run_reminders(app, sessions, at(2027, 3, 1, 19, 0)) == 0  # run twice, queued once
    assert run_reminders(app, sessions, at(2027, 3, 1, 20, 30)) == 0
    (evening,) = reminders(sessions)
    # Keyed by the appointment (office, day, session, arrival window, queue number), not only the booking.
    appointment = f"{booking.id}:{office}:2027-03-02:C:1330:1"
    assert (evening.recipient, evening.booking_id, evening.dedupe_key) == (phone(1), booking.id,
                                                                          f"reminder:evening:{appointment}")
    assert evening.due_at == at(2027, 3, 1, 19, 0) and not evening.urgent
    assert booking.code in evening.body and "C-001" in evening.body and evening.body.startswith("Nhắc hẹn ")
    assert dispatch(sessions, twilio_sender(twilio), at(2027, 3, 1, 19, 0)) == Counter(sent=1)
    assert run_reminders(app, sessions, at(2027, 3, 2, 11, 29)) == 0
    assert run_reminders(app, sessions, at(2027, 3, 2, 11, 30)) == 1
    assert run_reminders(app, sessions, at(2027, 3, 2, 12, 0)) == 0
    assert run_reminders(app, sessions, at(2027, 3, 2, 13, 30)) == 0  # the session has begun
    assert [m.dedupe_key for m in reminders(sessions)] == [f"reminder:evening:{appointment}",
                                                           f"reminder:before:{appointment}"]
    assert reminders(sessions)[1].due_at == at(2027, 3, 2, 11, 30)


def test_a_morning_reminder_falling_in_quiet_hours_waits_until_seven(
        app: Flask, db: Session, sessions: sessionmaker[Session], office: int) -> None:
    booking = book(db, office, 1, code="S")  # 07:30: two hours before is 05:30
    assert run_reminders(app, sessions, at(2027, 3, 2, 5, 30)) == 1  # not the evening one as well: only the latest
    assert [(m.dedupe_key, m.due_at) for m in reminders(sessions)] == [
        (f"reminder:before:{booking.id}:{office}:2027-03-02:S:0730:1", at(2027, 3, 2, 7, 0))]


def test_no_reminder_for_a_booking_made_after_its_reminder_time(
        app: Flask, db: Session, sessions: sessionmaker[Session], office: int) -> None:
    late = book(db, office, 1, code="C", now=at(2027, 3, 1, 20, 0))  # after Monday 19:00
    last_minute = book(db, office, 2, code="C", now=at(2027, 3, 2, 12, 0))  # after Tuesday 11:30
    for moment in (at(2027, 3, 1, 20, 0), at(2027, 3, 1, 23, 0), at(2027, 3, 2, 11, 30), at(2027, 3, 2, 12, 15)):
        run_reminders(app, sessions, moment)
    assert [m.dedupe_key for m in reminders(sessions)] == [f"reminder:before:{late.id}:{office}:2027-03-02:C:1330:1"]
    assert last_minute.id not in {m.booking_id for m in reminders(sessions)}


def test_no_reminder_for_a_cancelled_booking(app: Flask, db: Session, sessions: sessionmaker[Session],
                                             office: int) -> None:
    booking = book(db, office, 1, code="C")
    bookings.cancel(db, booking_id=booking.id, actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    for moment in (at(2027, 3, 1, 19, 0), at(2027, 3, 2, 11, 30)):
        assert run_reminders(app, sessions, moment) == 0
    assert reminders(sessions) == []


def test_a_booking_moved_to_another_day_is_reminded_of_the_new_day(
        app: Flask, db: Session, sessions: sessionmaker[Session], office: int) -> None:
    booking = book(db, office, 1, code="C")
    assert run_reminders(app, sessions, at(2027, 3, 1, 19, 0)) == 1  # for Tuesday
    bookings.move(db, booking_id=booking.id, office_id=office, day=WEDNESDAY, code="C", actor=OPERATOR,
                  now=at(2027, 3, 1, 20, 0), policy=POLICY)
    db.commit()
    assert run_reminders(app, sessions, at(2027, 3, 2, 19, 0)) == 1  # for Wednesday
    assert ": T4 03/03, đến 13:30" in reminders(sessions)[-1].body


def test_a_reminder_waiting_for_the_morning_is_not_sent_once_the_booking_is_cancelled(
        app: Flask, db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, office: int) -> None:
    booking = book(db, office, 1, code="S")  # Tuesday 07:30
    assert run_reminders(app, sessions, at(2027, 3, 1, 19, 0)) == 1
    assert dispatch(sessions, twilio_sender(twilio), at(2027, 3, 1, 19, 0)) == Counter(sent=1)
    assert run_reminders(app, sessions, at(2027, 3, 2, 5, 30)) == 1  # held until 07:00
    bookings.cancel(db, booking_id=booking.id, actor=OPERATOR, now=at(2027, 3, 2, 6, 0), policy=POLICY)
    db.commit()
    dispatch(sessions, twilio_sender(twilio), at(2027, 3, 2, 7, 0))
    assert len(twilio.accepted) == 1  # only the evening reminder, sent before the cancellation


def test_two_schedulers_at_once_queue_each_reminder_once(
        app: Flask, db: Session, sessions: sessionmaker[Session], office: int) -> None:
    for n in range(5):
        book(db, office, n, code="C")
    db.rollback()
    barrier = threading.Barrier(2)
    results: list[int | BaseException] = []

    def scheduler() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(run_reminders(app, sessions, at(2027, 3, 1, 19, 0)))
        except BaseException as exc:  # shown by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r if isinstance(r, int) else -1 for r in results)[0] >= 0, results
    assert len(reminders(sessions)) == 5 and sum(r for r in results if isinstance(r, int)) == 5


# -- broadcasts: uploaded lists ------------------------------------------------------------------

CSV = """Họ và tên,Số điện thoại,Ghi chú
Nguyễn Văn An,0912 345 678,
Trần Thị Bình,+84 91-234-5678,trùng số
Lê Văn Cường,không có,
Phạm Thị Dung,0290 3821 022,máy bàn
Võ Văn Em,0162 345 6789,số cũ
,,
Đỗ Thị Phương,84987654321,
Bùi Văn Giang,1022,
"""
KEPT = {"+84912345678", "+84323456789", "+84987654321"}
ERRORS = [(4, "không có", "invalid"), (5, "0290 3821 022", "not_mobile"), (9, "1022", "not_mobile")]


def to_cp1258(text: str) -> bytes:
    """Text as Windows-1258 writes it: base letters precomposed where the code page has them, tones combining."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        try:
            ch.encode("cp1258")
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = list(unicodedata.normalize("NFD", ch))
        for mark in marks:
            joined = unicodedata.normalize("NFC", base + mark)
            if len(joined) == 1 and joined.encode("cp1258", errors="ignore"):
                base = joined
                marks.remove(mark)
                break
        out.append(base + "".join(marks))
    return "".join(out).encode("cp1258")


def upload_draft(db: Session, data: bytes, **options: Any) -> tuple[Broadcast, broadcasts.UploadReport]:
    broadcast = broadcasts.create(db, body="Thông báo lịch làm việc.", audience=AudienceKind.UPLOAD, spec={},
                                  created_by="user:lan", now=NOW)
    result = broadcasts.upload(db, broadcast, broadcasts.text_lines(data), **options)
    db.commit()
    return broadcast, result


def uploaded(db: Session, broadcast: Broadcast) -> set[str]:
    return set(db.scalars(select(BroadcastNumber.phone).where(BroadcastNumber.broadcast_id == broadcast.id)))


def test_an_uploaded_csv_keeps_mobiles_once_and_reports_bad_lines(db: Session) -> None:
    encodings: dict[str, Callable[[str], bytes]] = {
        "utf-8 with BOM": lambda text: text.encode("utf-8-sig"),
        "utf-8": lambda text: text.encode("utf-8"),
        "utf-8 with BOM and CRLF": lambda text: text.replace("\n", "\r\n").encode("utf-8-sig"),
    }
    for name, encode in encodings.items():
        broadcast, result = upload_draft(db, encode(CSV))
        assert (result.kept, result.duplicates, result.refused) == (3, 1, 3), name
        assert result.errors == ERRORS, name
        assert uploaded(db, broadcast) == KEPT, name


def test_an_uploaded_windows_1258_csv_is_read_like_utf_8(db: Session) -> None:
    broadcast, result = upload_draft(db, to_cp1258(CSV))
    assert (result.kept, result.duplicates, result.refused) == (3, 1, 3)
    assert result.errors == ERRORS
    assert uploaded(db, broadcast) == KEPT


def test_windows_1258_text_is_read_when_the_numbers_come_first(db: Session) -> None:
    data = to_cp1258("Số điện thoại,Họ và tên\n0912345678,Nguyễn Văn An\n0290 3821 022,Phạm Thị Dung\n")
    broadcast, result = upload_draft(db, data)
    assert (result.kept, result.refused, result.errors) == (1, 1, [(3, "0290 3821 022", "not_mobile")])
    assert uploaded(db, broadcast) == {"+84912345678"}


HEADERS: list[tuple[str | None, int]] = [
    ("phone", 0), ("name,phone", 1), ("Số điện thoại", 0), ("STT,Họ tên,SĐT", 2), ("Họ tên,MOBILE", 1),
    ("Danh sách", 0),  # a header we do not know: the numbers are in the first column
    (None, 0),  # no header at all
]


def test_the_phone_column_is_found_by_its_header(db: Session) -> None:
    for header, column in HEADERS:
        width = 1 if header is None else header.count(",") + 1
        rows = [["x"] * width for _ in range(3)]
        for row, number in zip(rows, ["0912345678", "0987654321", "0912345678"], strict=True):
            row[column] = number
        text = "\n".join(([header] if header else []) + [",".join(row) for row in rows]) + "\n"
        broadcast, result = upload_draft(db, text.encode("utf-8"))
        assert (result.kept, result.duplicates, result.refused) == (2, 1, 0), header
        assert uploaded(db, broadcast) == {"+84912345678", "+84987654321"}, header


def test_errors_beyond_the_limit_are_counted_and_a_second_file_adds_only_new_numbers(db: Session) -> None:
    broadcast, result = upload_draft(db, b"phone\nabc\n0290 3821 022\nxyz\n0912345678\n", keep_errors=2)
    assert (result.kept, result.refused) == (1, 3)
    assert result.errors == [(2, "abc", "invalid"), (3, "0290 3821 022", "not_mobile")]
    again = broadcasts.upload(db, broadcast, broadcasts.text_lines(b"+84912345678\n0987654321\n"))
    db.commit()
    assert (again.kept, again.duplicates) == (1, 1)
    assert uploaded(db, broadcast) == {"+84912345678", "+84987654321"}


# -- broadcasts: preview, enqueue, pause, resume, cancel, progress --------------------------------

BODY_100 = ("Thông báo: từ ngày 01/04/2027 Bộ phận Một cửa xã Năm Căn làm việc cả sáng thứ Bảy. Trân trọng "
            "cảm ơn")


def upload_broadcast(db: Session, numbers: list[str], *, urgent: bool = False, body: str = BODY_100) -> Broadcast:
    broadcast = broadcasts.create(db, body=body, audience=AudienceKind.UPLOAD, spec={}, created_by="user:lan",
                                  now=NOW, urgent=urgent)
    broadcasts.upload(db, broadcast, numbers)
    db.flush()
    return broadcast


def opt_out(db: Session, number: str) -> None:
    set_broadcast_opt_out(db, number, opted_out=True, now=NOW)
    db.flush()


def test_preview_counts_recipients_segments_and_cost(db: Session) -> None:
    assert len(BODY_100) == 100
    opt_out(db, phone(3))
    for urgent, recipients in ((False, 3), (True, 4)):
        broadcast = upload_broadcast(db, [phone(n) for n in range(1, 5)], urgent=urgent)
        preview = broadcasts.preview(db, broadcast, now=NOW, policy=SMS, price_per_segment=0.0835)
        assert (preview.recipients, preview.skipped_opted_out, preview.skipped_not_mobile) == (
            recipients, 4 - recipients, 0), urgent
        assert (preview.encoding, preview.segments, preview.total_segments) == ("ucs2", 2, recipients * 2)
        assert preview.cost == round(recipients * 2 * 0.0835, 2)
    plain = broadcasts.preview(db, broadcast, now=NOW, policy=SmsPolicy(diacritics="strip"), price_per_segment=0.0835)
    assert (plain.encoding, plain.segments) == ("gsm7", 1)


def test_enqueue_skips_opted_out_numbers_unless_urgent_and_never_reaches_landlines(
        db: Session, sessions: sessionmaker[Session], office: int) -> None:
    for n in (1, 2, 3):
        book(db, office, n)
    book(db, office, "0290 3821 022")
    opt_out(db, phone(2))
    night = at(2027, 3, 1, 22, 0)
    for urgent in (False, True):
        broadcast = broadcasts.create(db, body=BODY_100, audience=AudienceKind.OFFICE_DATES, urgent=urgent,
                                      spec={"office_id": office, "start": "2027-03-02", "end": "2027-03-02"},
                                      created_by="user:lan", now=NOW)
        broadcasts.schedule(db, broadcast, send_at=night, now=NOW)
        assert broadcasts.enqueue_due(db, now=night - timedelta(minutes=1), policy=SMS) == 0  # not yet its time
        queued = broadcasts.enqueue_due(db, now=night, policy=SMS)
        db.commit()
        wanted = {phone(1), phone(2), phone(3)} if urgent else {phone(1), phone(3)}
        assert queued == broadcast.recipients == len(wanted)
        assert (broadcast.status, broadcast.skipped_opted_out, broadcast.skipped_not_mobile) == (
            BroadcastStatus.SENDING, 0 if urgent else 1, 1)
        messages = [m for m in fetch_all(sessions) if m.broadcast_id == broadcast.id]
        assert {m.recipient for m in messages} == wanted
        assert {(m.kind, m.urgent, m.body, m.encoding, m.segments) for m in messages} == {
            (MessageKind.BROADCAST, urgent, BODY_100, "ucs2", 2)}
        if urgent:  # a notice waits for the morning: see the next test
            assert {m.due_at for m in messages} == {night}
        else:
            assert all(m.due_at > night for m in messages)
        assert {m.dedupe_key for m in messages} == {f"broadcast:{broadcast.id}:{p}" for p in wanted}


def test_a_notice_enqueued_in_quiet_hours_is_due_at_seven_local_time(
        db: Session, sessions: sessionmaker[Session], engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        db.execute(text("SET LOCAL TIME ZONE 'Asia/Ho_Chi_Minh'"))  # a Vietnamese server's setting
    broadcast = upload_broadcast(db, [phone(1)])
    broadcasts.schedule(db, broadcast, send_at=NOW, now=NOW)
    broadcasts.enqueue(db, broadcast, now=at(2027, 3, 1, 22, 0), policy=SMS)
    db.commit()
    (message,) = fetch_all(sessions)
    assert (message.created_at, message.due_at) == (at(2027, 3, 1, 22, 0), at(2027, 3, 2, 7, 0))


def progress(sessions: sessionmaker[Session], broadcast_id: int) -> dict[str, int]:
    with sessions() as session:
        return broadcasts.progress(session, broadcast_id)


def act(sessions: sessionmaker[Session], action: Callable[..., int], broadcast_id: int) -> int:
    """Pause, resume or cancel in a transaction of its own, as the console would."""
    with sessions.begin() as session:
        return action(session, broadcasts.get(session, broadcast_id), now=NOW)


def broadcast_status(sessions: sessionmaker[Session], broadcast_id: int) -> BroadcastStatus:
    with sessions() as session:
        return broadcasts.get(session, broadcast_id).status


def queued_broadcast(db: Session, numbers: list[str]) -> int:
    broadcast = upload_broadcast(db, numbers)
    broadcasts.schedule(db, broadcast, send_at=NOW, now=NOW)
    broadcasts.enqueue(db, broadcast, now=NOW, policy=SMS)
    db.commit()
    return broadcast.id


def test_pause_holds_resume_releases_cancel_stops_and_progress_counts(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    broadcast_id = queued_broadcast(db, [phone(n) for n in range(6)])
    sender, two = twilio_sender(twilio), DispatchConfig(rate=0, batch=2)
    assert dispatch(sessions, sender, config=two) == Counter(sent=2)
    assert progress(sessions, broadcast_id) == {"sent": 2, "queued": 4}
    assert act(sessions, broadcasts.pause, broadcast_id) == 4
    assert progress(sessions, broadcast_id) == {"sent": 2, "held": 4}
    assert broadcast_status(sessions, broadcast_id) is BroadcastStatus.PAUSED
    assert dispatch(sessions, sender, NOW + timedelta(hours=1)) == Counter()  # held: not claimed
    assert len(twilio.messages) == 2
    with pytest.raises(InvalidSettings):
        act(sessions, broadcasts.pause, broadcast_id)
    assert act(sessions, broadcasts.resume, broadcast_id) == 4
    assert broadcast_status(sessions, broadcast_id) is BroadcastStatus.SENDING
    assert dispatch(sessions, sender, config=two) == Counter(sent=2)
    assert act(sessions, broadcasts.cancel, broadcast_id) == 2
    assert progress(sessions, broadcast_id) == {"sent": 4, "cancelled": 2}
    assert dispatch(sessions, sender, NOW + timedelta(hours=1)) == Counter()
    assert len(twilio.messages) == 4
    assert broadcast_status(sessions, broadcast_id) is BroadcastStatus.CANCELLED
    with pytest.raises(InvalidSettings):
        act(sessions, broadcasts.cancel, broadcast_id)


def test_a_broadcast_is_done_when_nothing_waits(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, client: FlaskClient) -> None:
    broadcast_id = queued_broadcast(db, [phone(n) for n in range(3)])
    assert dispatch(sessions, twilio_sender(twilio), config=DispatchConfig(rate=0, batch=2)) == Counter(sent=2)
    assert broadcast_status(sessions, broadcast_id) is BroadcastStatus.SENDING
    assert dispatch(sessions, twilio_sender(twilio)) == Counter(sent=1)
    assert broadcast_status(sessions, broadcast_id) is BroadcastStatus.DONE
    request = twilio.messages[0]
    assert report(client, request.get("StatusCallback") or "", request.sid or "", "delivered").status_code == 204
    assert progress(sessions, broadcast_id) == {"sent": 2, "delivered": 1}
    for action in (broadcasts.pause, broadcasts.cancel):
        with pytest.raises(InvalidSettings):
            act(sessions, action, broadcast_id)


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_a_message_in_flight_when_its_broadcast_stops_is_not_sent_on_retry(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, action: str) -> None:
    broadcast_id = queued_broadcast(db, [phone(1)])
    real = twilio_sender(twilio)
    twilio.fail_next(1, UNAVAILABLE)

    class ManagerStopsItMidSend:
        name = "twilio"

        def send(self, message: Outgoing) -> SendResult:
            act(sessions, getattr(broadcasts, action), broadcast_id)
            return real.send(message)

    assert dispatch(sessions, ManagerStopsItMidSend()) == Counter(retry=1)
    dispatch(sessions, real, NOW + timedelta(minutes=5))
    assert twilio.accepted == []
    expected = MessageStatus.HELD if action == "pause" else MessageStatus.CANCELLED
    assert fetch_all(sessions)[0].status is expected


def test_a_broadcast_whose_last_message_is_refused_at_send_time_is_done(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    broadcast_id = queued_broadcast(db, [phone(1)])
    opt_out(db, phone(1))  # after it was queued
    db.commit()
    assert dispatch(sessions, twilio_sender(twilio)) == Counter(refused=1)
    assert twilio.messages == [] and progress(sessions, broadcast_id) == {"cancelled": 1}
    assert broadcast_status(sessions, broadcast_id) is BroadcastStatus.DONE


# -- broadcasts: audiences ------------------------------------------------------------------------

def audience_of(db: Session, broadcast: Broadcast, now: datetime = NOW) -> set[str]:
    return set(db.scalars(broadcasts.audience(broadcast, now)))


def test_office_dates_and_recent_bookers_pick_the_right_people(db: Session, office: int) -> None:
    other = make_office(db).id
    book(db, office, 1, code="S")
    book(db, office, 2, code="C")
    book(db, office, 3, day=WEDNESDAY)
    book(db, other, 4)
    gone = book(db, office, 5)
    bookings.cancel(db, booking_id=gone.id, actor=OPERATOR, now=NOW, policy=POLICY)
    old = book(db, office, 6, day=WEDNESDAY, code="C")
    db.execute(update(Booking).where(Booking.id == old.id).values(created_at=NOW - timedelta(days=10)))
    book(db, office, "0290 3821 022")
    db.commit()

    def dates(**spec: Any) -> set[str]:
        broadcast = broadcasts.create(db, body="x", audience=AudienceKind.OFFICE_DATES, created_by="user:lan",
                                      now=NOW, spec={"office_id": office, **spec})
        return audience_of(db, broadcast)

    def recent(office_ids: list[int], days: int) -> set[str]:
        broadcast = broadcasts.create(db, body="x", audience=AudienceKind.RECENT_BOOKERS, created_by="user:lan",
                                      now=NOW, spec={"office_ids": office_ids, "days": days})
        return audience_of(db, broadcast)

    assert dates(start="2027-03-02", end="2027-03-02") == {phone(1), phone(2), LANDLINE}
    assert dates(start="2027-03-02", end="2027-03-02", session_code="S") == {phone(1), LANDLINE}
    assert dates(start="2027-03-02", end="2027-03-03") == {phone(1), phone(2), phone(3), phone(6), LANDLINE}
    assert dates(start="2027-03-04", end="2027-03-05") == set()
    # Whether someone who booked and cancelled counts as a recent booker is left open here.
    assert recent([office], 7) - {phone(5)} == {phone(1), phone(2), phone(3), LANDLINE}
    assert recent([office, other], 7) - {phone(5)} == {phone(1), phone(2), phone(3), phone(4), LANDLINE}
    assert recent([office], 30) - {phone(5)} == {phone(1), phone(2), phone(3), phone(6), LANDLINE}
    with pytest.raises(InvalidSettings):
        broadcasts.create(db, body="x", audience=AudienceKind.OFFICE_DATES, created_by="user:lan", now=NOW,
                          spec={"office_id": office, "start": "2027-03-03", "end": "2027-03-02"})
    with pytest.raises(InvalidSettings):
        broadcasts.create(db, body="x", audience=AudienceKind.RECENT_BOOKERS, created_by="user:lan", now=NOW,
                          spec={"office_ids": [], "days": 7})
