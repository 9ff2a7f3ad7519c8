"""Sending SMS: the real twilio client against a loopback stand-in of Twilio, on both engines.

Every request that reaches the stand-in is checked against Twilio's own OpenAPI description
(`../shared/twilio-oai/twilio_api_v2010.json`). The dispatcher promises *at least once*: nothing
queued is ever lost, and a message may be sent twice only when a dispatcher died after handing it
to Twilio and before recording that it had.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from booking import bookings
from booking.citizens import set_broadcast_opt_out
from notifications import broadcasts, notices
from notifications.dispatcher import DispatchConfig, claim, dispatch_once, recover_stale_claims
from notifications.models import AudienceKind, Broadcast, BroadcastStatus, MessageKind, MessageStatus
from notifications.outbox import enqueue
from notifications.policy import SmsPolicy
from notifications.senders import Outgoing, Sender, TwilioSender
from notifications.sms import size_of, without_diacritics
from tests.clock import Clock
from tests.outbox import PlainLocalizer, fetch, fetch_all
from tests.factories import NOW, OPERATOR, POLICY, at, make_office, phone
from tests.twilio_standin import (
    ACCOUNT_SID, AUTH_TOKEN, BAD_GATEWAY_PAGE, BODY_TOO_LONG, DROP, INVALID_TO, QUEUE_OVERFLOW, SERVER_ERROR,
    TOO_MANY_REQUESTS, UNAVAILABLE, UNSUBSCRIBED, Answer, RecordedRequest, TwilioStandIn, closed_port_url,
    load_openapi, openapi_problems, response_problems, slow,
)

OPENAPI_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "twilio-oai" / "twilio_api_v2010.json"
REQUIRE_SHARED = os.environ.get("HOTLINE_TEST_REQUIRE_SHARED") == "1"

SMS = SmsPolicy()
CONFIG = DispatchConfig(rate=0, concurrency=4, batch=50, max_attempts=6, backoff=timedelta(seconds=30),
                        backoff_cap=timedelta(hours=1), lease=timedelta(minutes=5))
SENDER_ID = "HCCCAMAU"  # a registered brandname, as Vietnamese carriers require
SERVICE_SID = "MG" + "a1b2c3d4" * 4
SM_SID = re.compile(r"^SM[0-9a-f]{32}$")
TUESDAY = date(2027, 3, 2)


# -- fixtures and helpers -------------------------------------------------------------------------

def openapi_document() -> dict[str, Any] | None:
    if OPENAPI_PATH.exists():
        return load_openapi(OPENAPI_PATH)
    if REQUIRE_SHARED:
        pytest.fail(f"Twilio's OpenAPI description is required but missing: {OPENAPI_PATH}")
    return None


@pytest.fixture
def openapi() -> dict[str, Any]:
    doc = openapi_document()
    if doc is None:
        pytest.skip(f"Twilio's OpenAPI description is missing: {OPENAPI_PATH}")
    return doc


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    """The stand-in; afterwards every request it received must be one Twilio's API description allows."""
    with TwilioStandIn() as standin:
        yield standin
    doc = openapi_document()
    if doc is not None:
        problems = {n: p for n, r in enumerate(standin.requests) if (p := openapi_problems(r, doc))}
        assert not problems, problems


def twilio_sender(standin: TwilioStandIn, **options: Any) -> TwilioSender:
    values: dict[str, Any] = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_": SENDER_ID,
                              "base_url": standin.base_url, "timeout": 5.0}
    values.update(options)
    return TwilioSender(**values)


def queue(db: Session, recipients: list[str], *, kind: MessageKind = MessageKind.CONFIRMATION,
          body: str = "Lịch hẹn của quý vị đã được xác nhận.", now: datetime = NOW, policy: SmsPolicy = SMS,
          urgent: bool | None = None) -> list[int]:
    """Queue one message per recipient and commit; the bodies differ so each can be told apart."""
    ids = []
    for n, recipient in enumerate(recipients):
        message = enqueue(db, kind=kind, recipient=recipient, body=f"{body} #{n}", language="vi", now=now,
                          policy=policy, urgent=urgent)
        assert message is not None
        ids.append(message.id)
    db.commit()
    return ids


def dispatch(sessions: sessionmaker[Session], sender: Sender, clock: Callable[[], datetime] = lambda: NOW, *,
             config: DispatchConfig = CONFIG, worker: str = "w1", policy: SmsPolicy = SMS,
             status_callback: Callable[[int], str] | None = None) -> Counter[str]:
    counts = dispatch_once(sessions, sender, now=clock, policy=policy, config=config, worker=worker,
                           status_callback=status_callback)
    return Counter({k: v for k, v in counts.items() if v})


def asked(requests: list[RecordedRequest]) -> Counter[tuple[str | None, str | None]]:
    """How many times each SMS (recipient, text) was asked of Twilio."""
    return Counter((r.get("To"), r.get("Body")) for r in requests)


# -- accepted sends and the shape of the requests -------------------------------------------------

def test_an_accepted_message_records_the_providers_sid_and_is_sent(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, openapi: dict[str, Any]) -> None:
    (message_id,) = queue(db, [phone(1)])
    counts = dispatch(sessions, twilio_sender(twilio), status_callback=lambda m: f"http://localhost/sms/status?m={m}")
    assert counts == Counter(sent=1)
    (request,) = twilio.messages
    message = fetch(sessions, message_id)
    assert request.get("To") == phone(1) and request.get("Body") == message.body
    assert request.get("From") == SENDER_ID and request.get("MessagingServiceSid") is None
    assert request.get("StatusCallback") == f"http://localhost/sms/status?m={message_id}"
    assert openapi_problems(request, openapi) == []
    assert message.status is MessageStatus.SENT and message.provider_sid == request.sid
    assert message.provider_sid is not None and SM_SID.match(message.provider_sid)
    assert (message.sent_at, message.attempts, message.error_code, message.claimed_at) == (NOW, 1, None, None)
    resource = twilio.created[message.provider_sid]
    assert response_problems(resource, openapi) == []
    assert (resource["status"], resource["num_segments"]) == ("queued", str(message.segments))
    assert dispatch(sessions, twilio_sender(twilio)) == Counter()  # nothing twice
    assert len(twilio.messages) == 1


def test_a_messaging_service_is_named_instead_of_a_sender(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn, openapi: dict[str, Any]) -> None:
    (message_id,) = queue(db, [phone(1)])
    sender = twilio_sender(twilio, from_="", messaging_service_sid=SERVICE_SID)
    assert dispatch(sessions, sender) == Counter(sent=1)
    (request,) = twilio.messages
    assert request.get("MessagingServiceSid") == SERVICE_SID and request.get("From") is None
    assert openapi_problems(request, openapi) == []
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert fetch(sessions, message_id).provider_sid == request.sid


def test_the_openapi_check_catches_what_twilio_would_refuse(openapi: dict[str, Any]) -> None:
    """The check itself can fail: otherwise its silence in the other tests would prove nothing."""
    good = RecordedRequest("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", "",
                           {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic eDp5"},
                           {"To": [phone(1)], "From": [SENDER_ID], "Body": ["Xin chào"]}, b"", 201, None)
    assert openapi_problems(good, openapi) == []
    assert openapi_problems(replace(good, path="/2010-04-01/Accounts/AC1/Texts.json"), openapi)
    assert openapi_problems(replace(good, path="/2010-04-01/Accounts/not-a-sid/Messages.json"), openapi)
    assert openapi_problems(replace(good, method="PATCH"), openapi)
    assert openapi_problems(replace(good, headers={**good.headers, "Content-Type": "application/json"}), openapi)
    assert openapi_problems(replace(good, headers={"Content-Type": "application/x-www-form-urlencoded"}), openapi)
    assert any("Text" in p for p in openapi_problems(replace(good, form={**good.form, "Text": ["x"]}), openapi))
    assert any("To" in p for p in openapi_problems(replace(good, form={"From": [SENDER_ID], "Body": ["x"]}), openapi))
    assert openapi_problems(replace(good, form={"To": [phone(1)], "From": [SENDER_ID]}), openapi)
    assert openapi_problems(replace(good, form={"To": [phone(1)], "Body": ["x"]}), openapi)
    assert openapi_problems(replace(good, form={**good.form, "MessagingServiceSid": ["MG123"]}), openapi)
    assert openapi_problems(replace(good, form={**good.form, "StatusCallback": ["not a url"]}), openapi)
    assert openapi_problems(replace(good, form={**good.form, "ValidityPeriod": ["soon"]}), openapi)
    assert openapi_problems(replace(good, form={**good.form, "Body": ["a", "b"]}), openapi)
    assert response_problems({"sid": "SM" + "0" * 32, "status": "queued", "text": "x"}, openapi)
    assert response_problems({"sid": "XX1", "status": "queued"}, openapi)
    assert response_problems({"sid": "SM" + "0" * 32, "status": "posted"}, openapi)


def test_a_console_booking_and_its_confirmation_commit_together_and_the_confirmation_is_sent(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    office = make_office(db, name="Trung tâm Phục vụ hành chính công xã Năm Căn")
    db.commit()

    def book(n: int) -> tuple[str, str]:
        booking = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR,
                                now=NOW, policy=POLICY)
        # What every channel calls in the transaction that made the booking.
        assert notices.confirmed(db, booking, now=NOW, policy=SMS, loc=PlainLocalizer()) is not None
        assert notices.confirmed(db, booking, now=NOW, policy=SMS, loc=PlainLocalizer()) is None  # once only
        return booking.code, booking.queue_label

    book(1)
    db.rollback()  # the operator's save failed: neither the booking nor its confirmation remains
    assert fetch_all(sessions) == []
    code, label = book(2)
    db.commit()
    assert dispatch(sessions, twilio_sender(twilio)) == Counter(sent=1)
    (request,) = twilio.accepted
    body = request.get("Body") or ""
    assert request.get("To") == phone(2) and code in body and label in body and "TTPVHCC xã Năm Căn" in body
    assert label == "S-001"  # the rolled-back booking took no queue number


# -- failures: transient ones are retried with backoff, permanent ones end the message -----------

# (how the stand-in fails, the error code recorded, how many times in a row)
TRANSIENT: list[tuple[str, Answer, str, int]] = [
    ("429", TOO_MANY_REQUESTS, "20429", 3),
    ("500", SERVER_ERROR, "20500", 3),
    ("503", UNAVAILABLE, "20503", 3),
    ("502 from a gateway, as an HTML page", BAD_GATEWAY_PAGE, "502", 1),
    ("connection closed without an answer", DROP, "network", 1),
    # Twilio may have accepted the message the client stopped waiting for: the retry can duplicate it.
    ("time-out", slow(2.0), "network", 1),
]


def test_transient_failures_are_retried_with_backoff_until_sent(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    for n, (case, answer, code, failures) in enumerate(TRANSIENT):
        sender = twilio_sender(twilio, timeout=0.5 if answer.delay else 5.0)
        (message_id,) = queue(db, [phone(n)])
        before = len(twilio.messages)
        twilio.fail_next(failures, answer)
        clock = Clock(NOW)
        for attempt in range(1, failures + 1):
            assert dispatch(sessions, sender, clock) == Counter(retry=1), case
            message = fetch(sessions, message_id)
            delay = timedelta(seconds=30 * 2 ** (attempt - 1))
            assert (message.status, message.attempts, message.error_code) == (
                MessageStatus.QUEUED, attempt, code), case
            assert message.due_at == clock() + delay and message.claimed_at is None and message.provider_sid is None
            clock.advance(seconds=delay.total_seconds() - 1)
            assert dispatch(sessions, sender, clock) == Counter(), case  # not yet due
            clock.advance(seconds=1)
        assert dispatch(sessions, sender, clock) == Counter(sent=1), case
        message = fetch(sessions, message_id)
        assert (message.status, message.attempts, message.error_code, message.error_message) == (
            MessageStatus.SENT, failures + 1, None, None), case
        assert len(twilio.messages) - before == failures + 1, case
        assert message.provider_sid == twilio.messages[-1].sid and message.sent_at == clock(), case
        assert dispatch(sessions, sender, clock.advance(hours=2)) == Counter(), case


def test_a_refused_connection_is_retried_and_sent_once_twilio_answers(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    (message_id,) = queue(db, [phone(1)])
    unreachable = TwilioSender(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=SENDER_ID,
                               base_url=closed_port_url(), timeout=0.5)
    assert dispatch(sessions, unreachable) == Counter(retry=1)
    message = fetch(sessions, message_id)
    assert (message.status, message.error_code, message.due_at) == (MessageStatus.QUEUED, "network",
                                                                     NOW + timedelta(seconds=30))
    assert "refused" in (message.error_message or "").lower()
    assert dispatch(sessions, twilio_sender(twilio), lambda: NOW + timedelta(seconds=30)) == Counter(sent=1)
    assert fetch(sessions, message_id).status is MessageStatus.SENT and len(twilio.messages) == 1


def test_the_backoff_is_capped_and_a_message_failing_max_attempts_times_ends_failed(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    (message_id,) = queue(db, [phone(1)])
    config = replace(CONFIG, max_attempts=4, backoff=timedelta(seconds=30), backoff_cap=timedelta(seconds=45))
    twilio.fail_next(10, UNAVAILABLE)
    clock = Clock(NOW)
    delays = []
    for _ in range(3):
        assert dispatch(sessions, twilio_sender(twilio), clock, config=config) == Counter(retry=1)
        message = fetch(sessions, message_id)
        delays.append((message.due_at - clock()).total_seconds())
        clock.now = message.due_at
    assert delays == [30, 45, 45]
    assert dispatch(sessions, twilio_sender(twilio), clock, config=config) == Counter(failed=1)
    message = fetch(sessions, message_id)
    assert (message.status, message.attempts, message.error_code) == (MessageStatus.FAILED, 4, "20503")
    assert "Service Unavailable" in (message.error_message or "")
    assert dispatch(sessions, twilio_sender(twilio), clock.advance(days=1), config=config) == Counter()
    assert len(twilio.messages) == 4


PERMANENT: list[tuple[Answer, str, str]] = [
    (INVALID_TO, "21211", "Invalid 'To' Phone Number"),
    (UNSUBSCRIBED, "21610", "unsubscribed recipient"),
    (BODY_TOO_LONG, "21617", "1600 character"),
    (QUEUE_OVERFLOW, "30001", "Queue overflow"),  # a 4xx whose code the sender does not list
]


def test_permanent_refusals_end_the_message_as_failed(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    for n, (answer, code, words) in enumerate(PERMANENT):
        (message_id,) = queue(db, [phone(n)])
        before = len(twilio.messages)
        twilio.fail_next(1, answer)
        assert dispatch(sessions, twilio_sender(twilio)) == Counter(failed=1), code
        message = fetch(sessions, message_id)
        assert (message.status, message.error_code, message.attempts) == (MessageStatus.FAILED, code, 1)
        assert words in (message.error_message or "") and message.provider_sid is None, code
        assert dispatch(sessions, twilio_sender(twilio), lambda: NOW + timedelta(days=1)) == Counter(), code
        assert len(twilio.messages) - before == 1, code
    # Wrong credentials: the stand-in answers 401 (code 20003), as Twilio does. That is our
    # configuration, not the message: it is retried with backoff rather than lost for good.
    (message_id,) = queue(db, [phone(9)])
    assert dispatch(sessions, twilio_sender(twilio, auth_token="0" * 32)) == Counter(retry=1)
    assert (fetch(sessions, message_id).error_code, twilio.messages[-1].status) == ("20003", 401)


def test_landlines_and_service_numbers_are_refused_before_sending(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    landline, short, premium, mobile = queue(db, ["+842903821022", "1022", "+8419001234", phone(1)])
    assert dispatch(sessions, twilio_sender(twilio)) == Counter(refused=3, sent=1)
    for message_id in (landline, short, premium):
        message = fetch(sessions, message_id)
        assert (message.status, message.error_code, message.provider_sid) == (MessageStatus.FAILED, "not_mobile", None)
    assert fetch(sessions, mobile).status is MessageStatus.SENT
    assert [r.get("To") for r in twilio.messages] == [phone(1)]


# -- quiet hours ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("asked_at", "urgent", "due"), [
    (at(2027, 3, 1, 22, 0), False, at(2027, 3, 2, 7, 0)),
    (at(2027, 3, 1, 21, 0), False, at(2027, 3, 2, 7, 0)),
    (at(2027, 3, 2, 0, 30), False, at(2027, 3, 2, 7, 0)),
    (at(2027, 3, 2, 6, 59), False, at(2027, 3, 2, 7, 0)),
    (at(2027, 3, 2, 7, 0), False, at(2027, 3, 2, 7, 0)),
    (at(2027, 3, 1, 20, 59), False, at(2027, 3, 1, 20, 59)),
    (at(2027, 3, 1, 22, 0), True, at(2027, 3, 1, 22, 0)),
])
def test_quiet_hours_move_non_urgent_messages_to_the_morning(asked_at: datetime, urgent: bool, due: datetime) -> None:
    assert SMS.due(asked_at, urgent=urgent) == due


def test_non_urgent_messages_wait_out_quiet_hours_and_urgent_ones_go_at_once(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    # Due before quiet hours, but no dispatcher ran before 21:00.
    (early,) = queue(db, [phone(1)], kind=MessageKind.REMINDER, now=at(2027, 3, 1, 20, 0))
    evening = at(2027, 3, 1, 22, 0)
    (reminder,) = queue(db, [phone(2)], kind=MessageKind.REMINDER, now=evening)
    (notice,) = queue(db, [phone(3)], kind=MessageKind.BROADCAST, now=evening)
    (closure,) = queue(db, [phone(4)], kind=MessageKind.CLOSURE, now=evening)
    (confirmation,) = queue(db, [phone(5)], kind=MessageKind.CONFIRMATION, now=evening)
    assert fetch(sessions, reminder).due_at == fetch(sessions, notice).due_at == at(2027, 3, 2, 7, 0)
    # Local 07:00 is 00:00 UTC: the stored instant is the same moment whatever the zone.
    assert fetch(sessions, reminder).due_at == datetime(2027, 3, 2, 0, 0, tzinfo=UTC)
    assert fetch(sessions, closure).due_at == evening and fetch(sessions, closure).urgent
    sender = twilio_sender(twilio)
    assert dispatch(sessions, sender, lambda: at(2027, 3, 1, 23, 0)) == Counter(sent=2)
    assert sorted(r.field("To") for r in twilio.messages) == [phone(4), phone(5)]
    assert fetch(sessions, early).status is MessageStatus.QUEUED
    assert dispatch(sessions, sender, lambda: at(2027, 3, 2, 6, 59)) == Counter()
    assert dispatch(sessions, sender, lambda: at(2027, 3, 2, 7, 0)) == Counter(sent=3)
    assert {m.id: m.status for m in fetch_all(sessions)} == dict.fromkeys(
        [early, reminder, notice, closure, confirmation], MessageStatus.SENT)
    assert len(twilio.messages) == 5


def test_an_office_closure_announced_at_night_reaches_everyone_booked_at_once(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    office = make_office(db, name="Bộ phận Một cửa xã Năm Căn")
    for n in (1, 2):
        bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR, now=NOW,
                      policy=POLICY)
    set_broadcast_opt_out(db, phone(2), opted_out=True, now=NOW)
    night = at(2027, 3, 1, 22, 0)
    broadcast = notices.closure_broadcast(db, office=office, start=TUESDAY, end=TUESDAY, reason="mất điện",
                                          created_by="user:lan", now=night, policy=SMS, loc=PlainLocalizer())
    db.commit()
    assert broadcast.recipients == 2
    assert dispatch(sessions, twilio_sender(twilio), lambda: at(2027, 3, 1, 23, 0)) == Counter(sent=2)
    assert sorted(r.field("To") for r in twilio.messages) == [phone(1), phone(2)]  # opted out or not
    messages = fetch_all(sessions)
    assert {(m.kind, m.urgent, m.status) for m in messages} == {(MessageKind.CLOSURE, True, MessageStatus.SENT)}
    assert all("mất điện" in m.body for m in messages)


# -- how the text is written: diacritics, brandname, encoding, segments ----------------------------

# A confirmation of exactly 147 characters: UCS-2 with its diacritics, GSM-7 without (DOMAIN.md).
CONFIRMATION_147 = ("Lịch hẹn 123456789 tại Bộ phận Một cửa xã Năm Căn ngày 02/03/2027 (buổi sáng): đến từ "
                    "07:30-08:00, số thứ tự S-001. Mang theo giấy tờ tùy thân nhé!")


def test_a_147_character_vietnamese_text_is_3_segments_with_diacritics_and_1_without() -> None:
    assert len(CONFIRMATION_147) == 147
    with_marks, plain = size_of(CONFIRMATION_147), size_of(without_diacritics(CONFIRMATION_147))
    assert (with_marks.encoding, with_marks.units, with_marks.segments) == ("ucs2", 147, 3)
    assert (plain.encoding, plain.units, plain.segments) == ("gsm7", 147, 1)
    assert size_of("x" * 160).segments == 1 and size_of("x" * 161).segments == 2
    assert size_of("ệ" * 70).segments == 1 and size_of("ệ" * 71).segments == 2
    escaped = size_of("{" * 81)  # characters of the extension table take two septets
    assert (escaped.encoding, escaped.units, escaped.segments) == ("gsm7", 162, 2)


@pytest.mark.parametrize(("text", "plain"), [
    ("Đăng ký đất đai", "Dang ky dat dai"),
    (unicodedata.normalize("NFD", "Đăng ký đất đai"), "Dang ky dat dai"),  # decomposed input too
    ("ĐỒNG Ý – “Hủy” lịch", 'DONG Y - "Huy" lich'),
    ("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ",
     "a" * 17 + "e" * 11 + "i" * 5 + "o" * 17 + "u" * 11 + "y" * 5 + "d"),
    ("ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ",
     "A" * 17 + "E" * 11 + "I" * 5 + "O" * 17 + "U" * 11 + "Y" * 5 + "D"),
    ("Phí 50.000₫", "Phi 50.000d"),
])
def test_without_diacritics_writes_plain_letters_and_maps_d_with_stroke(text: str, plain: str) -> None:
    assert without_diacritics(text) == plain
    assert size_of(plain).encoding == "gsm7"


def test_the_policy_keeps_strips_or_strips_only_long_texts() -> None:
    short = "Lịch hẹn 123456789 đã được hủy."
    three = CONFIRMATION_147 + " Cảm ơn quý vị đã dùng dịch vụ công trực tuyến."
    four = three + " Xin cảm ơn."
    assert (size_of(three).units, size_of(three).segments, size_of(four).segments) == (194, 3, 4)
    assert SmsPolicy(diacritics="keep").text(four) == four
    assert SmsPolicy(diacritics="strip").text(short) == "Lich hen 123456789 da duoc huy."
    assert SmsPolicy(diacritics="auto").text(short) == short
    assert SmsPolicy(diacritics="auto").text(three) == three  # max_segments (3) is allowed
    assert SmsPolicy(diacritics="auto").text(four) == without_diacritics(four)
    assert SmsPolicy(diacritics="auto", max_segments=2).text(CONFIRMATION_147) == without_diacritics(CONFIRMATION_147)
    assert SmsPolicy(brandname="UBND CA MAU").text(short) == "UBND CA MAU: " + short
    # The brandname counts towards the limit: 194 characters and the prefix make 4 segments.
    assert SmsPolicy(brandname="UBND CA MAU", diacritics="auto").text(three) == without_diacritics(
        "UBND CA MAU: " + three)
    with pytest.raises(ValueError):
        SmsPolicy(diacritics="sometimes")


TEXT_POLICIES: list[tuple[SmsPolicy, str, str, int]] = [
    (SmsPolicy(diacritics="keep"), CONFIRMATION_147, "ucs2", 3),
    (SmsPolicy(diacritics="strip"), without_diacritics(CONFIRMATION_147), "gsm7", 1),
    (SmsPolicy(diacritics="auto", max_segments=2), without_diacritics(CONFIRMATION_147), "gsm7", 1),
    (SmsPolicy(diacritics="keep", brandname="UBND CA MAU"), "UBND CA MAU: " + CONFIRMATION_147, "ucs2", 3),
]


def test_the_text_sent_is_the_policys_and_twilio_counts_the_same_segments(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    for n, (policy, sent, encoding, segments) in enumerate(TEXT_POLICIES):
        message = enqueue(db, kind=MessageKind.CONFIRMATION, recipient=phone(n), body=CONFIRMATION_147,
                          language="vi", now=NOW, policy=policy)
        assert message is not None
        db.commit()
        assert dispatch(sessions, twilio_sender(twilio), policy=policy) == Counter(sent=1)
        stored = fetch(sessions, message.id)
        request = twilio.messages[-1]
        assert request.get("Body") == stored.body == sent, policy
        assert (stored.encoding, stored.segments) == (encoding, segments), policy
        assert twilio.created[request.sid or ""]["num_segments"] == str(segments), policy


# -- concurrency: racing dispatchers, and a dispatcher that dies ----------------------------------

@pytest.mark.slow
def test_two_dispatchers_racing_over_one_outbox_send_each_message_exactly_once(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    ids = queue(db, [phone(n) for n in range(60)], kind=MessageKind.REMINDER)
    twilio.latency = 0.01  # sends overlap with the other dispatcher's claims
    sender = twilio_sender(twilio)
    config = replace(CONFIG, batch=7)
    barrier = threading.Barrier(2)
    totals: dict[str, Counter[str]] = {}
    crashes: list[BaseException] = []

    def run(worker: str) -> None:
        total: Counter[str] = Counter()
        try:
            barrier.wait(timeout=10)
            while counts := dispatch(sessions, sender, config=config, worker=worker):
                total += counts
        except BaseException as exc:  # shown by the assertion below
            crashes.append(exc)
        totals[worker] = total

    threads = [threading.Thread(target=run, args=(w,)) for w in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not crashes
    assert totals["w1"]["sent"] + totals["w2"]["sent"] == 60
    per_sms = asked(twilio.messages)
    assert len(per_sms) == 60 and set(per_sms.values()) == {1}
    messages = fetch_all(sessions)
    assert [m.id for m in messages] == ids and {m.status for m in messages} == {MessageStatus.SENT}
    assert {m.provider_sid for m in messages} == set(twilio.created)
    assert totals["w1"]["sent"] > 0 and totals["w2"]["sent"] > 0  # both really took part


def test_a_dispatcher_killed_mid_batch_loses_nothing_once_its_lease_runs_out(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    ids = queue(db, [phone(n) for n in range(12)], kind=MessageKind.REMINDER)
    sender = twilio_sender(twilio)
    with sessions.begin() as session:  # the claim commits...
        claimed = claim(session, now=NOW, policy=SMS, limit=5, worker="dead")
    for message in claimed[:2]:  # ...two reach Twilio, then the process dies before recording anything
        assert sender.send(Outgoing(message.id, message.recipient, message.body)).outcome == "accepted"
    dead = {m.id for m in claimed}
    clock = Clock(NOW + timedelta(minutes=1))
    assert dispatch(sessions, sender, clock, worker="live") == Counter(sent=7)  # the others' claims are left alone
    assert {m.id for m in fetch_all(sessions) if m.status is MessageStatus.SENDING} == dead
    with sessions.begin() as session:
        assert recover_stale_claims(session, now=clock(), lease=CONFIG.lease) == 0  # the lease still runs
    clock.now = NOW + CONFIG.lease + timedelta(seconds=1)
    with sessions.begin() as session:
        assert recover_stale_claims(session, now=clock(), lease=CONFIG.lease) == 5
    assert dispatch(sessions, sender, clock, worker="live") == Counter(sent=5)
    messages = fetch_all(sessions)
    assert [m.id for m in messages] == ids and {m.status for m in messages} == {MessageStatus.SENT}
    assert {m.attempts for m in messages if m.id in dead} == {2}
    # At least once: every message was asked for; the two handed over before the crash went twice,
    # which the dispatcher's promise allows (Twilio offers no idempotency key to prevent it).
    per_sms = asked(twilio.messages)
    assert {m.recipient for m in messages} == {to for to, _ in per_sms}
    assert sorted(per_sms.values()) == [1] * 10 + [2, 2]
    assert {to for (to, _), n in per_sms.items() if n == 2} == {m.recipient for m in claimed[:2]}


@pytest.mark.slow
def test_claims_of_a_batch_slower_than_its_lease_hold_and_each_message_goes_once(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    """Guards the lease: a live dispatcher renews its claims while a slow provider answers.

    Without renewal, the leader's recovery took back the claims of a batch still being sent once
    the lease ran out, and the other dispatcher sent the rest of it a second time although no
    process had died. Both dispatchers and the recovery job run on the real clock here: one claims
    a batch of twelve, the other the three left and is idle long before the first batch is sent. A
    third dispatcher claims three messages and dies; those still come back and go out once.
    """
    real_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
    config = replace(CONFIG, batch=12, concurrency=1, lease=timedelta(seconds=3))
    twilio.latency = 0.3
    assert config.batch * twilio.latency > config.lease.total_seconds()  # each batch outlasts its lease
    ids = queue(db, [phone(n) for n in range(18)], now=real_now())
    with sessions.begin() as session:
        dead = {m.id for m in claim(session, now=real_now(), policy=SMS, limit=3, worker="dead")}
    sender = twilio_sender(twilio)
    finished = threading.Event()
    barrier = threading.Barrier(2)
    crashes: list[BaseException] = []

    def guard(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # shown by the assertion below
                crashes.append(exc)
                finished.set()
        return run

    def dispatcher(worker: str) -> None:
        barrier.wait(timeout=10)
        while not finished.is_set():
            if not dispatch(sessions, sender, real_now, config=config, worker=worker):
                finished.wait(0.05)

    def leader() -> None:  # the scheduler's stale-claims job, on a short interval
        while not finished.wait(0.2):
            with sessions.begin() as session:
                recover_stale_claims(session, now=real_now(), lease=config.lease)

    def all_sent() -> bool:
        return {m.status for m in fetch_all(sessions)} == {MessageStatus.SENT}

    threads = [threading.Thread(target=guard(functools.partial(dispatcher, w))) for w in ("w1", "w2")]
    threads.append(threading.Thread(target=guard(leader)))
    for thread in threads:
        thread.start()
    for _ in range(600):
        if finished.wait(0.1) or all_sent():
            break
    finished.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not crashes
    messages = fetch_all(sessions)
    assert [m.id for m in messages] == ids and {m.status for m in messages} == {MessageStatus.SENT}
    per_sms = asked(twilio.messages)
    assert len(per_sms) == 18 and set(per_sms.values()) == {1}
    assert {m.provider_sid for m in messages} == set(twilio.created)
    # No live claim was taken back: only the dead dispatcher's messages were claimed a second time.
    assert {m.id for m in messages if m.attempts > 1} == dead
    assert {m.attempts for m in messages if m.id in dead} == {2}


# -- broadcasts and opt-out at send time ----------------------------------------------------------

def _broadcast(db: Session, numbers: list[str], *, urgent: bool, now: datetime = NOW) -> Broadcast:
    broadcast = broadcasts.create(db, body="Thông báo: lịch làm việc dịp lễ.", audience=AudienceKind.UPLOAD,
                                  spec={}, created_by="user:lan", now=now, urgent=urgent)
    broadcasts.upload(db, broadcast, numbers)
    broadcasts.schedule(db, broadcast, send_at=now, now=now)
    broadcasts.enqueue(db, broadcast, now=now, policy=SMS)
    db.commit()
    return broadcast


def test_a_citizen_who_opts_out_after_a_broadcast_was_queued_is_skipped_unless_urgent(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    for urgent in (False, True):
        broadcast = _broadcast(db, [phone(1), phone(2), phone(3)], urgent=urgent)
        assert broadcast.recipients == 3
        set_broadcast_opt_out(db, phone(2), opted_out=True, now=NOW + timedelta(minutes=1))
        db.commit()
        before = len(twilio.messages)
        counts = dispatch(sessions, twilio_sender(twilio), lambda: NOW + timedelta(minutes=2))
        to = sorted(r.field("To") for r in twilio.messages[before:])
        by_phone = {m.recipient: m for m in fetch_all(sessions) if m.broadcast_id == broadcast.id}
        if urgent:
            assert counts == Counter(sent=3) and to == [phone(1), phone(2), phone(3)]
        else:
            assert counts == Counter(sent=2, refused=1) and to == [phone(1), phone(3)]
            skipped = by_phone[phone(2)]
            assert (skipped.status, skipped.error_code, skipped.provider_sid) == (
                MessageStatus.CANCELLED, "opted_out", None)
        with sessions() as session:
            assert session.get_one(Broadcast, broadcast.id).status is BroadcastStatus.DONE


def test_a_persons_own_messages_are_sent_even_in_a_batch_with_a_notice_they_opted_out_of(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    _broadcast(db, [phone(2)], urgent=False)
    set_broadcast_opt_out(db, phone(2), opted_out=True, now=NOW)
    (confirmation,) = queue(db, [phone(2)], kind=MessageKind.CONFIRMATION)
    urgent = _broadcast(db, [phone(2)], urgent=True)
    assert dispatch(sessions, twilio_sender(twilio)) == Counter(sent=2, refused=1)
    assert fetch(sessions, confirmation).status is MessageStatus.SENT
    assert {m.status for m in fetch_all(sessions) if m.broadcast_id == urgent.id} == {MessageStatus.SENT}


def test_opting_out_of_notices_never_stops_a_persons_own_messages(
        db: Session, sessions: sessionmaker[Session], twilio: TwilioStandIn) -> None:
    set_broadcast_opt_out(db, phone(1), opted_out=True, now=NOW)
    db.commit()
    kinds = [MessageKind.CONFIRMATION, MessageKind.REMINDER, MessageKind.CANCELLATION, MessageKind.MOVE]
    for kind in kinds:
        queue(db, [phone(1)], kind=kind, body=f"Tin {kind.value}")
    assert dispatch(sessions, twilio_sender(twilio)) == Counter(sent=4)
    assert len(twilio.accepted) == 4
