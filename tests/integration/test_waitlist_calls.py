"""The waitlist's offer calls on both engines: placed through Twilio's Calls API (a stand-in checked against
Twilio's OpenAPI description), answered through our signed webhooks, and the SMS when nobody answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from actions import bookings as booking_actions
from booking import bookings
from actions.models import AuditEntry
from booking.models import Booking, BookingStatus, Channel, OfferCall, Office, OfficeLevel, WaitlistEntry, WaitlistStatus
from hotline.ivr.effects import spoken_office
from hotline.ivr.models import Call
from hotline.localization import BabelLocalizer
from hotline.runtime import runtime
from hotline.waitlist_calls import make_caller, place_offer_calls, sweep
from notifications.models import MessageKind, OutboxMessage
from tests.factories import NOW, POLICY, phone
from tests.integration.test_sms_sending import openapi_document
from tests.integration.test_sms_sending import twilio as twilio  # every request it got must be one Twilio allows
from tests.integration.test_waitlist import ctx, full_office, join
from tests.twilio_standin import (
    ACCOUNT_SID, AUTH_TOKEN, SERVER_ERROR, TwilioStandIn, openapi_problems, response_problems,
)

BASE = "https://hotline.example"
FROM = "+842903821022"


_before_request: list[Callable[[], None]] = []


@pytest.fixture(autouse=True)
def _ends_the_tests_transaction(db: Session) -> Iterator[None]:
    """Before each webhook request, as a separate client would (SQLite has one writer at a time)."""
    _before_request.append(db.rollback)
    yield
    _before_request.clear()


@pytest.fixture
def app(make_app: Any, twilio: TwilioStandIn) -> Flask:
    made: Flask = make_app(public_base_url=BASE, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                           twilio_api_base_url=twilio.base_url, waitlist_call_from=FROM)
    return made


def post(client: FlaskClient, path: str, params: dict[str, str], *, sign: bool = True) -> tuple[int, ET.Element | None]:
    """A webhook request as Twilio makes it, signed over the public URL."""
    for before in _before_request:
        before()
    url = path if path.startswith("http") else BASE + path
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params) if sign else "forged"
    response = client.post(url, data=params, headers={"X-Twilio-Signature": signature})
    body = response.get_data(as_text=True)
    return response.status_code, (ET.fromstring(body) if response.mimetype == "text/xml" and body else None)


def said(xml: ET.Element | None) -> str:
    assert xml is not None
    return " ".join(el.text or "" for el in xml.iter("Say"))


class OfferCall_:
    """Twilio's side of one outbound offer call: its SID, and following each answer's Gather and Redirect."""

    def __init__(self, client: FlaskClient, sid: str, to: str, url: str) -> None:
        self.client, self.sid, self.to, self.url = client, sid, to, url
        self.last: ET.Element | None = None

    def params(self, **extra: str) -> dict[str, str]:
        return {"CallSid": self.sid, "AccountSid": ACCOUNT_SID, "From": FROM, "To": self.to,
                "CallStatus": "in-progress", "Direction": "outbound-api", **extra}

    def answer(self) -> ET.Element:
        status, self.last = post(self.client, self.url, self.params())
        assert status == 200 and self.last is not None
        return self.last

    def press(self, keys: str) -> ET.Element:
        assert self.last is not None
        gather = self.last.find("Gather")
        assert gather is not None
        status, self.last = post(self.client, gather.attrib["action"], self.params(Digits=keys))
        assert status == 200 and self.last is not None
        return self.last

    def silence(self) -> ET.Element:
        assert self.last is not None
        redirect = self.last.find("Redirect")
        assert redirect is not None and redirect.text
        status, self.last = post(self.client, redirect.text, self.params())
        assert status == 200 and self.last is not None
        return self.last

    def status(self, call_status: str) -> int:
        code, _ = post(self.client, self.url + "/status", self.params(CallStatus=call_status))
        return code

    @property
    def hung_up(self) -> bool:
        return self.last is not None and self.last.find("Hangup") is not None


def offered(db: Session, *, language: str = "vi") -> tuple[int, WaitlistEntry, WaitlistEntry]:
    """A full session with two people waiting, and a cancellation that offers the first of them the seat."""
    office_id = full_office(db)
    first = join(db, office_id, 10, language=language)
    second = join(db, office_id, 11)
    booking_actions.cancel(ctx(db), code=db.scalars(select(Booking.code).where(Booking.phone == phone(1))).one())
    db.commit()
    return office_id, first, second


def call(app: Flask, db: Session, twilio: TwilioStandIn, entry: WaitlistEntry) -> OfferCall_:
    """The scheduler places the offer's call; Twilio's request is the one the stand-in recorded."""
    db.rollback()
    counts = place_offer_calls(app, make_caller(runtime(app).settings))
    assert counts == {"placed": 1, "texted": 0}
    request = twilio.calls[-1]
    assert request.status == 201 and request.sid is not None
    db.rollback()
    entry = db.get(WaitlistEntry, entry.id) or entry
    db.refresh(entry)
    assert (entry.call_sid, entry.call_status, entry.attempts) == (request.sid, OfferCall.PLACED, 1)
    assert request.field("To") == entry.phone and request.field("From") == FROM
    assert request.field("Url") == f"{BASE}/ivr/offer/{entry.id}"
    assert request.field("StatusCallback") == f"{BASE}/ivr/offer/{entry.id}/status"
    return OfferCall_(app.test_client(), request.sid, entry.phone, request.field("Url"))


def outbox(db: Session, recipient: str) -> list[OutboxMessage]:
    db.rollback()
    return list(db.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient)
                           .order_by(OutboxMessage.id)))


def status_of(db: Session, entry: WaitlistEntry) -> WaitlistStatus:
    db.rollback()
    found = db.get(WaitlistEntry, entry.id)
    assert found is not None
    db.refresh(found)
    return found.status


def test_the_offer_call_follows_twilios_api_and_key_1_books(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    office_id, first, _ = offered(db)
    offer = call(app, db, twilio, first)
    doc = openapi_document()
    if doc is not None:
        assert openapi_problems(twilio.calls[0], doc) == []
        assert response_problems(twilio.created[offer.sid], doc, "api.v2010.account.call") == []
    words = said(offer.answer())
    assert "Đã có chỗ cho quý vị" in words and "Bấm 1 để nhận, bấm 2 để từ chối" in words
    assert "thứ Ba, ngày 2 tháng 3" in words and "buổi sáng" in words and "7 giờ 30" in words
    gather = offer.last.find("Gather") if offer.last is not None else None
    assert gather is not None and gather.attrib["numDigits"] == "1"
    words = said(offer.press("1"))
    assert "Lịch hẹn của quý vị đã được đặt" in words and offer.hung_up
    db.rollback()
    booking = db.scalars(select(Booking).where(Booking.phone == phone(10))).one()
    assert booking.status is BookingStatus.BOOKED and booking.created_by == f"ivr:{offer.sid}"
    assert status_of(db, first) is WaitlistStatus.ACCEPTED
    assert [m.kind for m in outbox(db, phone(10))] == [MessageKind.CONFIRMATION]
    audit = [(a.actor, a.action) for a in db.scalars(select(AuditEntry).order_by(AuditEntry.id))][-2:]
    assert audit == [(f"ivr:{offer.sid}", "booking.create"), (f"ivr:{offer.sid}", "waitlist.accept")]
    assert offer.status("completed") == 204  # answered: no SMS
    assert [m.kind for m in outbox(db, phone(10))] == [MessageKind.CONFIRMATION]
    assert office_id


def test_key_2_declines_and_the_next_person_is_called(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, second = offered(db)
    offer = call(app, db, twilio, first)
    offer.answer()
    assert "người chờ tiếp theo" in said(offer.press("2")) and offer.hung_up
    assert status_of(db, first) is WaitlistStatus.DECLINED
    assert status_of(db, second) is WaitlistStatus.OFFERED
    nxt = call(app, db, twilio, second)
    assert nxt.to == phone(11) and len(twilio.calls) == 2


def test_no_answer_sends_one_sms_saying_how_to_claim(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, _ = offered(db)
    offer = call(app, db, twilio, first)
    assert offer.status("no-answer") == 204
    assert offer.status("no-answer") == 204  # Twilio's retry: still one SMS
    (sms,) = outbox(db, phone(10))
    assert sms.kind is MessageKind.WAITLIST_OFFER and sms.urgent
    assert "Đã có chỗ cho quý vị" in sms.body and "1022" in sms.body and "09:30" in sms.body  # held 30 min from 09:00
    assert status_of(db, first) is WaitlistStatus.OFFERED  # still theirs until the hold lapses
    db.rollback()
    assert db.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(1)).one() == "waitlist.offer_sms"


def test_silence_repeats_once_then_hangs_up_and_texts(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, _ = offered(db)
    offer = call(app, db, twilio, first)
    offer.answer()
    assert "Xin bấm 1 để nhận chỗ" in said(offer.press("7"))  # another key: asked again
    assert "Đã có chỗ" in said(offer.silence())  # no input: the offer once more
    words = said(offer.silence())
    assert "không nghe được" in words and offer.hung_up
    assert [m.kind for m in outbox(db, phone(10))] == [MessageKind.WAITLIST_OFFER]
    assert status_of(db, first) is WaitlistStatus.OFFERED


def test_an_english_entry_hears_english(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, _ = offered(db, language="en")
    offer = call(app, db, twilio, first)
    words = said(offer.answer())
    assert "A place has come free for you" in words and "To take it, press 1" in words
    assert offer.last is not None and offer.last.find("Gather/Say").attrib["language"] == "en-US"  # type: ignore[union-attr]


def test_unsigned_or_foreign_requests_are_refused(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, _ = offered(db)
    offer = call(app, db, twilio, first)
    status, _ = post(offer.client, offer.url, offer.params(), sign=False)
    assert status == 403
    status, _ = post(offer.client, offer.url, {**offer.params(), "CallSid": "CA" + "f" * 32})
    assert status == 404  # another call cannot take somebody's offer
    status, _ = post(offer.client, offer.url + "/status", {**offer.params(CallStatus="busy"), "CallSid": "CA" + "e" * 32})
    assert status == 204 and outbox(db, phone(10)) == []


def test_a_refused_call_request_texts_instead(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, _ = offered(db)
    twilio.script(SERVER_ERROR)
    db.rollback()
    assert place_offer_calls(app, make_caller(runtime(app).settings)) == {"placed": 0, "texted": 1}
    assert [m.kind for m in outbox(db, phone(10))] == [MessageKind.WAITLIST_OFFER]
    db.rollback()
    entry = db.get(WaitlistEntry, first.id)
    assert entry is not None
    db.refresh(entry)
    assert entry.call_status is OfferCall.UNANSWERED and entry.attempts == 1
    db.rollback()
    assert place_offer_calls(app, make_caller(runtime(app).settings)) == {"placed": 0, "texted": 0}  # once


def test_ringing_the_hotline_from_the_number_claims_the_offer(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, _ = offered(db)
    db.rollback()
    client = app.test_client()
    params = {"CallSid": "CA" + "a" * 32, "AccountSid": ACCOUNT_SID, "From": phone(10), "To": FROM,
              "CallStatus": "ringing", "Direction": "inbound"}
    status, xml = post(client, "/ivr/voice", params)
    assert status == 200 and xml is not None
    redirect = xml.find("Redirect")
    assert redirect is not None and redirect.text == f"/ivr/offer/{first.id}"
    assert db.get(Call, params["CallSid"]) is None  # sent to the offer, never into the hotline's flow
    status, xml = post(client, redirect.text, params)
    assert "Đã có chỗ cho quý vị" in said(xml)
    gather = xml.find("Gather") if xml is not None else None
    assert gather is not None
    status, xml = post(client, gather.attrib["action"], {**params, "Digits": "1"})
    assert "Lịch hẹn của quý vị đã được đặt" in said(xml)
    assert status_of(db, first) is WaitlistStatus.ACCEPTED
    # Another number ringing the hotline meets the usual menu.
    status, xml = post(client, "/ivr/voice", {**params, "CallSid": "CA" + "b" * 32, "From": phone(11)})
    assert status == 200 and xml is not None
    assert all("/ivr/offer/" not in (r.text or "") for r in xml.iter("Redirect")) and xml.find("Gather") is not None


def test_hanging_up_before_deciding_texts_how_to_claim(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, _ = offered(db)
    offer = call(app, db, twilio, first)
    offer.answer()
    assert offer.status("completed") == 204
    assert [m.kind for m in outbox(db, phone(10))] == [MessageKind.WAITLIST_OFFER]
    assert offer.status("completed") == 204  # a retried callback: still one SMS
    assert [m.kind for m in outbox(db, phone(10))] == [MessageKind.WAITLIST_OFFER]


def test_a_call_claimed_by_a_scheduler_that_died_is_texted_instead(
        app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    from sqlalchemy import update

    from tests.factories import NOW

    _, first, _ = offered(db)
    # A scheduler claimed the call and died before Twilio took it: no SID, claimed long ago.
    db.execute(update(WaitlistEntry).where(WaitlistEntry.id == first.id).values(
        call_status=OfferCall.PLACED, attempts=1, updated_at=NOW - timedelta(minutes=6)))
    db.commit()
    assert place_offer_calls(app, make_caller(runtime(app).settings)) == {"placed": 0, "texted": 1}
    assert twilio.calls == []  # not called twice: it may have rung already
    assert [m.kind for m in outbox(db, phone(10))] == [MessageKind.WAITLIST_OFFER]


def test_a_seat_freed_at_night_is_held_until_the_morning_and_called_then(
        app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    from tests.factories import NOW, at

    office_id = full_office(db)
    entry = join(db, office_id, 10)
    night = at(2027, 3, 1, 22, 15)
    booking_actions.cancel(ctx(db, later=night - NOW),
                           code=db.scalars(select(Booking.code).where(Booking.phone == phone(1))).one())
    db.commit()
    db.refresh(entry)
    assert entry.status is WaitlistStatus.OFFERED
    assert entry.offer_expires_at == at(2027, 3, 2, 7, 30)  # the morning (07:00) and the half hour to claim it
    runtime(app).clock = lambda: night
    db.rollback()
    assert place_offer_calls(app, make_caller(runtime(app).settings)) == {"placed": 0, "texted": 0}
    assert twilio.calls == []
    runtime(app).clock = lambda: at(2027, 3, 2, 7, 0)
    call(app, db, twilio, entry)


def test_a_rule_that_refuses_the_booking_is_said_as_it_is(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    _, first, _ = offered(db)
    # Meanwhile the number booked as many upcoming appointments as it may (two) elsewhere.
    booking_actions.book(ctx(db), office_id=first.office_id, day=first.date, code="C", phone=phone(10),
                         language="vi")
    booking_actions.book(ctx(db), office_id=first.office_id, day=first.date.replace(day=3), code="S",
                         phone=phone(10), language="vi")
    db.commit()
    offer = call(app, db, twilio, first)
    offer.answer()
    words = said(offer.press("1"))
    assert "đã có 2 lịch hẹn" in words and offer.hung_up, words
    assert status_of(db, first) is WaitlistStatus.OFFERED  # the place stays held until it lapses


def test_the_offer_names_the_province_centre_as_the_hotline_does(app: Flask) -> None:
    """The offer call named offices by their own rule: the province's centre as "tỉnh Cà Mau", the whole province."""
    province = Office(level=OfficeLevel.PROVINCE, name="Trung tâm Phục vụ hành chính công tỉnh Cà Mau",
                      spoken_name="tỉnh Cà Mau")
    commune = Office(level=OfficeLevel.COMMUNE, name="Trung tâm Phục vụ hành chính công xã Năm Căn",
                     spoken_name="xã Năm Căn")
    with app.test_request_context():
        assert spoken_office(province, BabelLocalizer("vi")) == "Trung tâm Phục vụ hành chính công tỉnh"
        assert spoken_office(province, BabelLocalizer("en")) == "the province's public administration service centre"
        assert spoken_office(commune, BabelLocalizer("vi")) == "xã Năm Căn"


def test_the_scheduled_sweep_offers_a_seat_freed_without_its_trigger_once(app: Flask, db: Session) -> None:
    """The sweep offers each session in a transaction of its own; a second sweep finds nothing more to offer."""
    office_id = full_office(db)
    first, second = join(db, office_id, 10), join(db, office_id, 11)
    bookings.cancel(db, booking_id=db.scalars(select(Booking.id).where(Booking.phone == phone(1))).one(),
                    actor=bookings.Actor("user:lan", Channel.OPERATOR), now=NOW, policy=POLICY)  # no trigger
    db.commit()
    assert sweep(app) == 1
    assert sweep(app) == 0
    assert (status_of(db, first), status_of(db, second)) == (WaitlistStatus.OFFERED, WaitlistStatus.WAITING)
