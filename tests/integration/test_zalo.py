"""Zalo (ZNS) first, SMS once when Zalo cannot deliver: the real dispatcher, a ZNS stand-in and Twilio's, both engines.

The stand-in of ZNS (`tests/zalo_standin.py`) is written from Zalo's documentation; the SMS go
through the official twilio client to `tests/twilio_standin.py`. Delivery reports come to the app's
`/zalo/events`, signed as Zalo signs them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from booking import bookings
from booking.models import Booking
from config import Settings
from config.settings import SettingsError
from hotline.messaging import make_sender, with_zalo
from notifications import notices
from notifications.models import MessageKind, MessageStatus, ZaloToken
from notifications.outbox import enqueue
from notifications.zalo import ZaloFirstSender, ZnsSender, booking_params
from notifications.zalo_tokens import ZaloTokens
from tests.factories import NOW, OPERATOR, POLICY, make_office, phone
from tests.integration.test_sms_sending import CONFIG, SMS, TUESDAY, Clock, dispatch, twilio_sender
from tests.integration.test_sms_sending import twilio as twilio
from tests.outbox import PlainLocalizer, fetch, fetch_all
from tests.twilio_standin import SERVER_ERROR as TWILIO_DOWN
from tests.twilio_standin import TwilioStandIn
from tests.zalo_standin import (
    ACCESS_TOKEN, APP_ID, APP_SECRET, DROP, OAUTH_PATH, REFRESH_TOKEN, OA_SECRET, RATE_LIMITED, SERVER_ERROR, TEMPLATE_REFUSED, UNKNOWN_ERROR, ZaloStandIn,
    slow,
)

CONFIRMATION_TEMPLATE, CANCELLATION_TEMPLATE = "245130", "245131"
TEMPLATES = {"confirmation": CONFIRMATION_TEMPLATE, "cancellation": CANCELLATION_TEMPLATE}
APPOINTMENT = {"code", "office", "date", "time", "queue"}


def on_zalo(n: int) -> str:
    """`phone(n)` as ZNS writes it."""
    return phone(n).removeprefix("+")


@pytest.fixture
def zalo() -> Iterator[ZaloStandIn]:
    with ZaloStandIn(templates={CONFIRMATION_TEMPLATE: set(APPOINTMENT), CANCELLATION_TEMPLATE: {"code", "office", "date"}},
                     on_zalo={on_zalo(n) for n in range(1, 10)}) as standin:
        yield standin


def sender(zalo: ZaloStandIn, twilio: TwilioStandIn, **options: Any) -> ZaloFirstSender:
    zns = ZnsSender(access_token=options.pop("access_token", ACCESS_TOKEN), templates=TEMPLATES,
                    base_url=zalo.base_url, timeout=options.pop("timeout", 5.0))
    return ZaloFirstSender(zns, twilio_sender(twilio), **options)


def book(db: Session, n: int) -> Booking:
    office = make_office(db, name="Trung tâm Phục vụ hành chính công xã Năm Căn")
    return bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR, now=NOW,
                         policy=POLICY)


def confirm(db: Session, n: int) -> tuple[int, Booking]:
    """Book for `phone(n)` and queue a confirmation with the booking's template parameters; committed."""
    booking = book(db, n)
    message = enqueue(db, kind=MessageKind.CONFIRMATION, recipient=booking.phone, body=f"Lịch hẹn {booking.code}",
                      language="vi", now=NOW, policy=SMS, booking_id=booking.id, params=booking_params(booking))
    assert message is not None
    db.commit()
    return message.id, booking


def queue_plain(db: Session, n: int, kind: MessageKind, params: dict[str, str] | None = None) -> int:
    message = enqueue(db, kind=kind, recipient=phone(n), body=f"Thông báo #{n}", language="vi", now=NOW, policy=SMS,
                      params=params)
    assert message is not None
    db.commit()
    return message.id


# -- Zalo delivers ----------------------------------------------------------------------------------

def test_a_confirmation_goes_by_zalo_with_its_template_and_parameters(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    message_id, booking = confirm(db, 1)
    assert fetch(sessions, message_id).params == booking_params(booking)
    assert dispatch(sessions, sender(zalo, twilio)) == {"sent": 1}
    (request,) = zalo.requests
    assert request.headers["access_token"] == ACCESS_TOKEN
    assert request.body == {"phone": on_zalo(1), "template_id": CONFIRMATION_TEMPLATE, "tracking_id": str(message_id),
                            "template_data": {"code": booking.code, "office": "Trung tâm Phục vụ hành chính công xã "
                                              "Năm Căn", "date": "02/03/2027", "queue": booking.queue_label,
                                              "time": f"{booking.arrival_start:%H:%M}-{booking.arrival_end:%H:%M}"}}
    sent = fetch(sessions, message_id)
    assert (sent.status, sent.channel, sent.zalo_error) == (MessageStatus.SENT, "zalo", None)
    assert sent.provider_sid == request.msg_id
    assert twilio.messages == []  # no SMS besides


def test_the_notices_of_a_booking_carry_its_template_parameters(db: Session, sessions: sessionmaker[Session]) -> None:
    booking = book(db, 1)
    confirmation = notices.confirmed(db, booking, now=NOW, policy=SMS, loc=PlainLocalizer())
    cancellation = notices.cancelled(db, booking, now=NOW, policy=SMS, loc=PlainLocalizer())
    assert confirmation is not None and cancellation is not None
    db.commit()
    expected = {"code": booking.code, "office": "Trung tâm Phục vụ hành chính công xã Năm Căn", "date": "02/03/2027",
                "time": f"{booking.arrival_start:%H:%M}-{booking.arrival_end:%H:%M}", "queue": booking.queue_label}
    for message_id in (confirmation.id, cancellation.id):
        queued = fetch(sessions, message_id)
        assert (queued.params, queued.channel) == (expected, "sms")  # the channel is chosen when it is sent


def test_kinds_without_a_template_and_messages_without_parameters_go_by_sms_alone(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    ack = queue_plain(db, 1, MessageKind.CALLBACK_ACK, {"code": "X"})  # no template for this kind
    bare = queue_plain(db, 2, MessageKind.CONFIRMATION)  # a template, but nothing to fill it with
    assert dispatch(sessions, sender(zalo, twilio)) == {"sent": 2}
    assert zalo.requests == []
    assert sorted(r.field("To") for r in twilio.accepted) == [phone(1), phone(2)]
    assert [(m.id, m.channel, m.zalo_error) for m in fetch_all(sessions)] == [(ack, "sms", None), (bare, "sms", None)]


# -- Zalo cannot deliver: one SMS ---------------------------------------------------------------------

@pytest.mark.parametrize(("arrange", "code"), [
    (lambda zalo: zalo.on_zalo.clear(), "-118"),  # the number has no Zalo account
    (lambda zalo: zalo.blocked.add(on_zalo(1)), "-114"),  # it has, but does not take ZNS
    (lambda zalo: zalo.templates[CONFIRMATION_TEMPLATE].add("citizen_name"), "-112"),  # the data do not fit
    (lambda zalo: zalo.templates.clear(), "-109"),  # the template is unknown (withdrawn)
    (lambda zalo: setattr(zalo, "daily_quota", 0), "-144"),  # the account's daily quota is spent
    (lambda zalo: setattr(zalo, "access_token", "another"), "-124"),  # the token has expired
])
def test_what_zalo_cannot_deliver_goes_by_one_sms_and_says_why(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
        arrange: Callable[[ZaloStandIn], None], code: str, caplog: pytest.LogCaptureFixture) -> None:
    arrange(zalo)
    message_id, _booking = confirm(db, 1)
    assert dispatch(sessions, sender(zalo, twilio)) == {"sent": 1}
    assert [r.error for r in zalo.requests] == [int(code)]
    (sms,) = twilio.accepted
    message = fetch(sessions, message_id)
    assert sms.get("To") == phone(1) and sms.get("Body") == message.body  # the SMS text, not the template
    assert (message.status, message.channel, message.provider_sid) == (MessageStatus.SENT, "sms", sms.sid)
    assert message.zalo_error is not None and message.zalo_error.startswith(f"zalo:{code}: ")
    if code == "-124":
        assert any(r.levelname == "ERROR" and "ZALO_ACCESS_TOKEN" in r.getMessage() for r in caplog.records)


def test_a_template_refused_by_zalo_goes_by_sms(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    zalo.script(TEMPLATE_REFUSED)
    message_id, _booking = confirm(db, 1)
    assert dispatch(sessions, sender(zalo, twilio)) == {"sent": 1}
    message = fetch(sessions, message_id)
    assert (message.channel, message.zalo_error) == ("sms", "zalo:-112: Template data invalid")
    assert len(twilio.accepted) == 1


def test_a_retry_of_the_sms_instead_goes_by_sms_alone_and_only_one_sms_arrives(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    zalo.on_zalo.clear()
    twilio.fail_next(2, TWILIO_DOWN)
    message_id, _booking = confirm(db, 1)
    clock = Clock(NOW)
    assert dispatch(sessions, sender(zalo, twilio), clock) == {"retry": 1}
    waiting = fetch(sessions, message_id)
    # Zalo's refusal is kept with the failed SMS: the next try does not ask Zalo again.
    assert (waiting.status, waiting.channel, waiting.error_code) == (MessageStatus.QUEUED, "sms", "20500")
    assert waiting.zalo_error is not None and waiting.zalo_error.startswith("zalo:-118")
    assert dispatch(sessions, sender(zalo, twilio), clock.advance(minutes=1)) == {"retry": 1}
    assert dispatch(sessions, sender(zalo, twilio), clock.advance(minutes=2)) == {"sent": 1}
    assert len(zalo.requests) == 1
    assert len(twilio.messages) == 3 and len(twilio.accepted) == 1
    sent = fetch(sessions, message_id)
    assert (sent.status, sent.channel, sent.attempts) == (MessageStatus.SENT, "sms", 3)
    assert dispatch(sessions, sender(zalo, twilio), clock.advance(hours=2)) == {}  # nothing more to send


def test_an_sms_instead_that_cannot_be_sent_fails_once_and_for_all(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    from tests.twilio_standin import INVALID_TO

    zalo.on_zalo.clear()
    twilio.fail_next(1, INVALID_TO)
    message_id, _booking = confirm(db, 1)
    assert dispatch(sessions, sender(zalo, twilio)) == {"failed": 1}
    failed = fetch(sessions, message_id)
    assert (failed.status, failed.channel, failed.error_code) == (MessageStatus.FAILED, "sms", "21211")
    assert failed.zalo_error is not None


# -- Zalo failing for a moment: retried, then by SMS ------------------------------------------------

@pytest.mark.parametrize(("failure", "code"), [
    (SERVER_ERROR, "zalo:http502"), (RATE_LIMITED, "zalo:http429"), (UNKNOWN_ERROR, "zalo:-100"),
    (DROP, "zalo:network"),
])
def test_zalo_failing_for_a_moment_is_retried_and_then_delivers(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
        failure: Any, code: str) -> None:
    zalo.script(failure)
    message_id, _booking = confirm(db, 1)
    clock = Clock(NOW)
    assert dispatch(sessions, sender(zalo, twilio), clock) == {"retry": 1}
    waiting = fetch(sessions, message_id)
    assert (waiting.status, waiting.channel, waiting.error_code, waiting.zalo_error) == (
        MessageStatus.QUEUED, "zalo", code, None)
    assert waiting.due_at == NOW + CONFIG.backoff
    assert dispatch(sessions, sender(zalo, twilio), clock.advance(seconds=30)) == {"sent": 1}
    sent = fetch(sessions, message_id)
    assert (sent.status, sent.channel, sent.error_code) == (MessageStatus.SENT, "zalo", None)
    assert len(zalo.delivered) == 1 and twilio.messages == []


def test_a_zalo_that_does_not_answer_in_time_is_retried(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    zalo.script(slow(3))
    message_id, _booking = confirm(db, 1)
    assert dispatch(sessions, sender(zalo, twilio, timeout=0.5)) == {"retry": 1}
    assert fetch(sessions, message_id).error_code == "zalo:network"
    assert twilio.messages == []


def test_a_zalo_failing_try_after_try_gives_way_to_one_sms(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    zalo.script(SERVER_ERROR, UNKNOWN_ERROR, SERVER_ERROR)
    message_id, _booking = confirm(db, 1)
    clock = Clock(NOW)
    for minutes in (0, 1, 2):
        assert dispatch(sessions, sender(zalo, twilio, zalo_tries=3), clock.advance(minutes=minutes)) == {"retry": 1}
    assert dispatch(sessions, sender(zalo, twilio, zalo_tries=3), clock.advance(minutes=5)) == {"sent": 1}
    assert len(zalo.requests) == 3 and len(twilio.accepted) == 1
    message = fetch(sessions, message_id)
    assert (message.channel, message.attempts) == ("sms", 4)
    assert message.zalo_error == "zalo:gave_up: no answer from Zalo after 3 tries"


# -- the access token, refreshed -----------------------------------------------------------------------

def tokens(sessions: sessionmaker[Session], zalo: ZaloStandIn, clock: Callable[[], datetime] = lambda: NOW,
           refresh_token: str = REFRESH_TOKEN, oauth_url: str | None = None) -> ZaloTokens:
    return ZaloTokens(sessions, app_id=APP_ID, app_secret=APP_SECRET, refresh_token=refresh_token, now=clock,
                      oauth_url=oauth_url or zalo.base_url + OAUTH_PATH)


def refreshing(zalo: ZaloStandIn, twilio: TwilioStandIn, source: ZaloTokens) -> ZaloFirstSender:
    zns = ZnsSender(tokens=source, templates=TEMPLATES, base_url=zalo.base_url, timeout=5.0)
    return ZaloFirstSender(zns, twilio_sender(twilio))


def test_the_access_token_is_refreshed_kept_in_the_database_and_shared(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    clock = Clock(NOW)
    first, _ = confirm(db, 1)
    assert dispatch(sessions, refreshing(zalo, twilio, tokens(sessions, zalo, clock)), clock) == {"sent": 1}
    assert len(zalo.refreshes) == 1 and zalo.requests[0].headers["access_token"] == zalo.access_token
    with sessions() as session:
        row = session.get(ZaloToken, 1)
        assert row is not None and row.access_token == zalo.access_token and row.refresh_token in zalo.refresh_tokens
        assert row.expires_at == NOW + timedelta(hours=25)
    # Another dispatcher (another process) takes the stored token; a day later it is refreshed again.
    other = refreshing(zalo, twilio, tokens(sessions, zalo, clock))
    confirm(db, 2)
    assert dispatch(sessions, other, clock) == {"sent": 1} and len(zalo.refreshes) == 1
    confirm(db, 3)
    assert dispatch(sessions, other, clock.advance(hours=24, minutes=45)) == {"sent": 1}
    assert len(zalo.refreshes) == 2 and zalo.refreshes[1]["refresh_token"] == [row.refresh_token]
    assert [r.error for r in zalo.requests] == [0, 0, 0] and twilio.messages == []
    assert fetch(sessions, first).channel == "zalo"


def test_a_token_zalo_stops_taking_is_replaced_once_and_the_message_still_goes_by_zalo(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    sender = refreshing(zalo, twilio, tokens(sessions, zalo))
    confirm(db, 1)
    assert dispatch(sessions, sender) == {"sent": 1}
    zalo.access_token = "revoked-by-the-oa-admin"
    message_id, _ = confirm(db, 2)
    assert dispatch(sessions, sender) == {"sent": 1}
    assert [r.error for r in zalo.requests] == [0, -124, 0] and len(zalo.refreshes) == 2
    assert fetch(sessions, message_id).channel == "zalo" and twilio.messages == []


def test_a_refused_refresh_token_sends_by_sms_until_a_new_one_is_set(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
        caplog: pytest.LogCaptureFixture) -> None:
    confirm(db, 1)
    assert dispatch(sessions, refreshing(zalo, twilio, tokens(sessions, zalo))) == {"sent": 1}
    zalo.refresh_tokens.clear()  # the stored refresh token is spent elsewhere, or revoked
    zalo.access_token = "expired"
    by_sms, _ = confirm(db, 2)
    assert dispatch(sessions, refreshing(zalo, twilio, tokens(sessions, zalo))) == {"sent": 1}
    message = fetch(sessions, by_sms)
    assert message.channel == "sms" and (message.zalo_error or "").startswith("zalo:token: Zalo refused")
    assert len(twilio.accepted) == 1
    assert any(r.levelname == "ERROR" and "ZALO_REFRESH_TOKEN" in r.getMessage() for r in caplog.records)
    zalo.refresh_tokens.add("zrt-issued-anew")  # the administrator sets ZALO_REFRESH_TOKEN to a new one
    again, _ = confirm(db, 3)
    assert dispatch(sessions, refreshing(zalo, twilio, tokens(sessions, zalo, refresh_token="zrt-issued-anew"))) \
        == {"sent": 1}
    assert fetch(sessions, again).channel == "zalo"


def test_a_token_service_that_does_not_answer_is_retried_later(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    from tests.twilio_standin import closed_port_url

    message_id, _ = confirm(db, 1)
    source = tokens(sessions, zalo, oauth_url=closed_port_url() + OAUTH_PATH)
    assert dispatch(sessions, refreshing(zalo, twilio, source)) == {"retry": 1}
    waiting = fetch(sessions, message_id)
    assert (waiting.status, waiting.error_code, waiting.zalo_error) == (MessageStatus.QUEUED, "zalo:token", None)
    assert zalo.requests == [] and twilio.messages == []


def test_two_dispatchers_refreshing_at_once_spend_the_refresh_token_once(
        sessions: sessionmaker[Session], zalo: ZaloStandIn) -> None:
    zalo.oauth_delay = 0.5
    got: list[str] = []
    sources = [tokens(sessions, zalo), tokens(sessions, zalo)]  # as two scheduler processes have
    threads = [threading.Thread(target=lambda source=source: got.append(source())) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(zalo.refreshes) == 1 and got == [zalo.access_token, zalo.access_token]


# -- delivery reports ---------------------------------------------------------------------------------

ZALO_SETTINGS = {"zalo_app_id": APP_ID, "zalo_oa_secret_key": OA_SECRET}


def sent_by_zalo(db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
                 n: int) -> tuple[int, str]:
    """A confirmation for `phone(n)` that Zalo accepted: (its outbox id, Zalo's msg_id)."""
    message_id, _booking = confirm(db, n)
    assert dispatch(sessions, sender(zalo, twilio)) == {"sent": 1}
    (request,) = [r for r in zalo.delivered if r.body["tracking_id"] == str(message_id)]
    assert request.msg_id is not None
    return message_id, request.msg_id


def post_event(app: Flask, body: bytes, headers: dict[str, str]) -> int:
    return app.test_client().post("/zalo/events", data=body, headers=headers).status_code


def test_zalos_signed_delivery_report_marks_the_message_delivered(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
        make_app: Callable[..., Flask]) -> None:
    message_id, msg_id = sent_by_zalo(db, sessions, zalo, twilio, 1)
    app = make_app(**ZALO_SETTINGS)
    body, headers = zalo.received_event(msg_id)
    assert post_event(app, body, headers) == 200
    assert fetch(sessions, message_id).status is MessageStatus.DELIVERED
    assert post_event(app, body, headers) == 200  # Zalo sends it again: nothing changes
    assert fetch(sessions, message_id).status is MessageStatus.DELIVERED


def test_a_delivery_report_without_zalos_signature_is_refused(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
        make_app: Callable[..., Flask]) -> None:
    message_id, msg_id = sent_by_zalo(db, sessions, zalo, twilio, 1)
    app = make_app(**ZALO_SETTINGS)
    body, headers = zalo.received_event(msg_id)
    unsigned = {k: v for k, v in headers.items() if k != "X-ZEvent-Signature"}
    forged, forged_headers = zalo.received_event(msg_id, secret="guessed")
    tampered = body.replace(f'"tracking_id": "{message_id}"'.encode(), b'"tracking_id": "99999"')
    assert tampered != body
    assert post_event(app, body, unsigned) == 403
    assert post_event(app, body, {**headers, "X-ZEvent-Signature": "mac=" + "0" * 64}) == 403
    assert post_event(app, forged, forged_headers) == 403
    assert post_event(app, tampered, headers) == 403
    other_app, other_headers = zalo.received_event(msg_id, app_id="999")
    assert post_event(app, other_app, other_headers) == 403  # signed, but for another app
    assert post_event(make_app(), body, headers) == 403  # no secret configured: nothing can be verified
    assert fetch(sessions, message_id).status is MessageStatus.SENT


def test_events_other_than_a_delivery_and_malformed_ones(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
        make_app: Callable[..., Flask]) -> None:
    from notifications.zalo import signature

    message_id, msg_id = sent_by_zalo(db, sessions, zalo, twilio, 1)
    app = make_app(**ZALO_SETTINGS)

    def signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        raw = json.dumps(event).encode()
        return raw, {"Content-Type": "application/json", "X-ZEvent-Signature": signature(
            app_id=APP_ID, body=raw, timestamp=str(event.get("timestamp", "")), secret=OA_SECRET)}

    follow = {"event_name": "follow", "app_id": APP_ID, "timestamp": "1767225600000", "follower": {"id": "1"}}
    assert post_event(app, *signed(follow)) == 200
    for message in ({"msg_id": msg_id}, {"msg_id": msg_id, "tracking_id": "abc"},
                    {"tracking_id": str(message_id)}, "text"):
        event = {"event_name": "user_received_message", "app_id": APP_ID, "timestamp": "1767225600000",
                 "message": message}
        assert post_event(app, *signed(event)) == 400, message
    assert app.test_client().post("/zalo/events", data=b"not json",
                                  headers={"Content-Type": "application/json"}).status_code == 400
    assert fetch(sessions, message_id).status is MessageStatus.SENT


def test_a_zalo_report_for_a_message_that_went_by_sms_changes_nothing(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
        make_app: Callable[..., Flask]) -> None:
    delivered_id, msg_id = sent_by_zalo(db, sessions, zalo, twilio, 1)
    zalo.on_zalo.clear()
    by_sms, _ = confirm(db, 2)
    dispatch(sessions, sender(zalo, twilio))
    app = make_app(**ZALO_SETTINGS)
    body, headers = zalo.received_event(msg_id, tracking_id=str(by_sms))  # Zalo's id, the other row
    assert post_event(app, body, headers) == 200
    assert fetch(sessions, by_sms).status is MessageStatus.SENT
    assert fetch(sessions, delivered_id).status is MessageStatus.SENT


def test_the_purge_of_old_messages_erases_the_template_parameters_too(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    from sqlalchemy import true

    from actions.retention import anonymise_messages

    message_id, _msg_id = sent_by_zalo(db, sessions, zalo, twilio, 1)
    with sessions.begin() as session:
        assert anonymise_messages(session, true()) == 1
    erased = fetch(sessions, message_id)
    assert (erased.params, erased.body, erased.channel) == (None, "", "zalo")  # what went by Zalo still counts


# -- the console shows the channel --------------------------------------------------------------------

def test_the_lookup_page_shows_which_channel_each_text_went_by(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn,
        make_app: Callable[..., Flask]) -> None:
    from tests.console import login, make_staff

    make_staff(db)
    confirm(db, 1)
    dispatch(sessions, sender(zalo, twilio))
    zalo.on_zalo.clear()
    confirm(db, 2)
    dispatch(sessions, sender(zalo, twilio))
    db.rollback()
    client = make_app().test_client()
    assert login(client, "lan") == 302
    first = client.get(f"/console/lookup?phone={phone(1)}&lang=en").get_data(as_text=True)
    second = client.get(f"/console/lookup?phone={phone(2)}&lang=en").get_data(as_text=True)
    assert '<td class="message-channel">Zalo</td>' in first
    assert "SMS, as Zalo could not deliver it" in second and "(-118)" in second
    admin = make_app().test_client()
    assert login(admin, "admin") == 302
    report = admin.get("/console/reports?start=2027-03-01&end=2027-03-01&lang=en").get_data(as_text=True)
    assert ("By Zalo: 1 sent, 0 delivered. By SMS: 1 sent, 1 of them because Zalo could not deliver.") in report


def test_the_sms_report_counts_each_channel_and_the_sms_sent_instead(
        db: Session, sessions: sessionmaker[Session], zalo: ZaloStandIn, twilio: TwilioStandIn) -> None:
    from notifications.reports import sms_report

    sent_by_zalo(db, sessions, zalo, twilio, 1)
    zalo.on_zalo.clear()
    confirm(db, 2)
    queue_plain(db, 3, MessageKind.CALLBACK_ACK)
    assert dispatch(sessions, sender(zalo, twilio)) == {"sent": 2}
    db.rollback()
    report = sms_report(db, start=NOW, end=NOW + timedelta(days=1), office_ids=None)
    assert {channel: counts.sent for channel, counts in report.by_channel.items()} == {"zalo": 1, "sms": 2}
    assert report.after_zalo.sent == 1 and report.total.sent == 3


# -- settings -----------------------------------------------------------------------------------------

def settings(**values: Any) -> Settings:
    return Settings(env="testing", secret_key="s" * 32, twilio_auth_token="t" * 32, **values)


def test_zalo_needs_a_token_and_templates_when_it_is_on() -> None:
    with pytest.raises(SettingsError, match="ZALO_ACCESS_TOKEN"):
        settings(zalo_zns_enabled=True, zalo_templates="confirmation=1")
    with pytest.raises(SettingsError, match="ZALO_TEMPLATES must name"):
        settings(zalo_zns_enabled=True, zalo_access_token="x")
    with pytest.raises(SettingsError, match="kind=template id"):
        settings(zalo_templates="confirmation:123")
    with pytest.raises(SettingsError, match="'birthday' is not a kind"):
        settings(zalo_templates="birthday=123")
    with pytest.raises(SettingsError, match="ZALO_API_BASE_URL"):
        settings(zalo_api_base_url="business.openapi.zalo.me")
    on = settings(zalo_zns_enabled=True, zalo_access_token="zns-secret-token", zalo_templates=" confirmation = 1 , reminder=22")
    assert on.zalo_template_ids == {"confirmation": "1", "reminder": "22"}
    built = with_zalo(on, make_sender(on))
    assert isinstance(built, ZaloFirstSender) and built.zalo.templates == on.zalo_template_ids
    with pytest.raises(SettingsError, match="ZALO_APP_ID and ZALO_APP_SECRET"):
        settings(zalo_zns_enabled=True, zalo_refresh_token="r", zalo_templates="confirmation=1")
    with pytest.raises(SettingsError, match="ZALO_OAUTH_URL"):
        settings(zalo_oauth_url="oauth.zaloapp.com")
    refreshed = settings(zalo_zns_enabled=True, zalo_refresh_token="zrt-secret", zalo_app_id="1",
                         zalo_app_secret="app-secret", zalo_templates="confirmation=1")
    with pytest.raises(ValueError, match="database"):
        with_zalo(refreshed, make_sender(refreshed))
    assert "zrt-secret" not in repr(refreshed) and "app-secret" not in repr(refreshed)
    off = replace(on, zalo_zns_enabled=False)
    assert with_zalo(off, make_sender(off)).name == "log"
    assert "zns-secret-token" not in repr(on)
