"""Sending through eSMS: the real sender (requests) against a loopback stand-in of eSMS, on both engines.

The stand-in (tests/esms_standin.py) follows eSMS's public documentation, and every request it
received is checked against the documented fields once each test ends. eSMS refuses a RequestId
it has seen, and the RequestId is the outbox row's: through eSMS each row is one SMS, even when a
dispatcher died after eSMS took it, or a time-out hid the acceptance. Delivery reports come as
eSMS sends them (an HTTP GET to the CallbackUrl, with eSMS's query) through the Flask app.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from hotline.messaging import status_callback
from hotline.scheduler import Jobs
from notifications.dispatcher import DispatchConfig, claim, dispatch_once, recover_stale_claims
from notifications.esms import EsmsSender
from notifications.models import MessageKind, MessageStatus
from notifications.outbox import enqueue
from notifications.policy import SmsPolicy
from notifications.senders import Outgoing
from tests.esms_standin import (
    API_KEY, AUTHORIZE_FAILED, BAD_GATEWAY, BAD_PHONE, BLOCKED_PHONE, BRANDNAME, DROP, INVALID_REQUEST, NO_BALANCE,
    NOT_WHITELISTED, SECRET_KEY, SERVER_ERROR, UNKNOWN_BRANDNAME, WRONG_TEMPLATE, Answer, EsmsStandIn, esms_error,
    request_problems, slow,
)
from tests.factories import NOW, phone
from tests.clock import Clock
from tests.outbox import fetch, fetch_all

SMS = SmsPolicy()
CONFIG = DispatchConfig(rate=0, concurrency=4, batch=50, max_attempts=6, backoff=timedelta(seconds=30),
                        backoff_cap=timedelta(hours=1), lease=timedelta(minutes=5))
BASE = "http://localhost"
PREFIX = "test-"
TEXT = "Lịch hẹn của quý vị đã được xác nhận."


@pytest.fixture
def esms() -> Iterator[EsmsStandIn]:
    """The stand-in; afterwards every request it received must be one eSMS's documentation allows."""
    with EsmsStandIn() as standin:
        yield standin
    problems = {n: p for n, r in enumerate(standin.requests) if (p := request_problems(r))}
    assert not problems, problems


def sender(standin: EsmsStandIn, **options: Any) -> EsmsSender:
    values: dict[str, Any] = {"api_key": API_KEY, "secret_key": SECRET_KEY, "brandname": BRANDNAME,
                              "base_url": standin.base_url, "request_prefix": PREFIX, "timeout": 5.0}
    values.update(options)
    return EsmsSender(**values)


def queue(db: Session, recipients: list[str], *, body: str = TEXT, policy: SmsPolicy = SMS) -> list[int]:
    ids = []
    for n, recipient in enumerate(recipients):
        message = enqueue(db, kind=MessageKind.CONFIRMATION, recipient=recipient, body=f"{body} #{n}",
                          language="vi", now=NOW, policy=policy)
        assert message is not None
        ids.append(message.id)
    db.commit()
    return ids


def dispatch(sessions: sessionmaker[Session], via: EsmsSender, clock: Callable[[], datetime] = lambda: NOW, *,
             worker: str = "w1", callback: Callable[[int], str] | None = None) -> Counter[str]:
    counts = dispatch_once(sessions, via, now=clock, policy=SMS, config=CONFIG, worker=worker,
                           status_callback=callback)
    return Counter({k: v for k, v in counts.items() if v})


def national(recipient: str) -> str:
    return "0" + recipient.removeprefix("+84")


# -- what is sent -----------------------------------------------------------------------------------

def test_a_message_goes_as_customer_care_from_the_brandname_with_its_outbox_id_as_request_id(
        db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    (message_id,) = queue(db, [phone(1)])
    counts = dispatch(sessions, sender(esms), callback=lambda m: f"https://hotline.example.gov.vn/cb/{m}/t")
    assert counts == Counter(sent=1)
    (request,) = esms.requests
    assert request.json == {
        "ApiKey": API_KEY, "SecretKey": SECRET_KEY, "Phone": national(phone(1)), "Content": f"{TEXT} #0",
        "Brandname": BRANDNAME, "SmsType": "2", "IsUnicode": "1", "Sandbox": "0", "RequestId": f"test-{message_id}",
        "CallbackUrl": f"https://hotline.example.gov.vn/cb/{message_id}/t"}
    message = fetch(sessions, message_id)
    assert (message.status, message.provider_sid, message.error_code) == (MessageStatus.SENT, request.sms_id, None)
    assert [m.request_id for m in esms.sent] == [f"test-{message_id}"]


def test_plain_letters_go_as_gsm7_and_the_sandbox_flag_is_sent_when_asked(
        db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    stripped = SmsPolicy(diacritics="strip")
    (plain,) = queue(db, [phone(2)], policy=stripped)
    assert dispatch(sessions, sender(esms)) == Counter(sent=1)
    assert (esms.requests[-1].get("IsUnicode"), esms.requests[-1].get("Content")) == (
        "0", "Lich hen cua quy vi da duoc xac nhan. #0")
    assert "CallbackUrl" not in (esms.requests[-1].json or {})  # no public URL: no reports asked for
    (sandboxed,) = queue(db, [phone(3)])
    assert dispatch(sessions, sender(esms, sandbox=True)) == Counter(sent=1)
    assert esms.requests[-1].get("Sandbox") == "1"
    assert [m.request_id for m in esms.sent] == [f"test-{plain}"]  # eSMS keeps no sandbox message
    assert fetch(sessions, sandboxed).status is MessageStatus.SENT


# -- refusals ---------------------------------------------------------------------------------------

PERMANENT: list[tuple[Answer, str, str]] = [
    (UNKNOWN_BRANDNAME, "104", "Brand name"),
    (BAD_PHONE, "108", "not in correct format"),
    (BLOCKED_PHONE, "99", "blocked"),
    (WRONG_TEMPLATE, "146", "template"),
    (esms_error("124", "Request exist 1", SendStatus="4"), "124", "Request exist"),  # the first was rejected
]


def test_permanent_refusals_end_the_message_as_failed_after_one_try(
        db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    for n, (answer, code, words) in enumerate(PERMANENT):
        (message_id,) = queue(db, [phone(10 + n)])
        before = len(esms.requests)
        esms.fail_next(1, answer)
        assert dispatch(sessions, sender(esms)) == Counter(failed=1), code
        message = fetch(sessions, message_id)
        assert (message.status, message.error_code, message.attempts, message.provider_sid) == (
            MessageStatus.FAILED, code, 1, None), code
        assert words in (message.error_message or ""), code
        assert dispatch(sessions, sender(esms), lambda: NOW + timedelta(days=1)) == Counter(), code
        assert len(esms.requests) - before == 1, code
    assert esms.sent == []


def test_the_stand_in_itself_refuses_wrong_keys_and_an_unregistered_brandname(
        db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    wrong_key, wrong_brand = queue(db, [phone(20), phone(21)])
    assert dispatch(sessions, sender(esms, secret_key="0" * 32)) == Counter(retry=2)
    assert {fetch(sessions, m).error_code for m in (wrong_key, wrong_brand)} == {"101"}
    assert dispatch(sessions, sender(esms, brandname="NOT MINE"), lambda: NOW + timedelta(seconds=30)) == Counter(
        failed=2)
    assert {fetch(sessions, m).error_code for m in (wrong_key, wrong_brand)} == {"104"}
    assert esms.sent == []


# (case, answer, error code recorded, failures before it goes, client time-out)
TRANSIENT: list[tuple[str, Answer, str, int, float]] = [
    ("wrong keys", AUTHORIZE_FAILED, "101", 2, 5.0),  # our configuration: put right, not lost
    ("no balance", NO_BALANCE, "103", 1, 5.0),
    ("ip not whitelisted", NOT_WHITELISTED, "140", 1, 5.0),
    ("invalid request", INVALID_REQUEST, "bad_answer", 1, 5.0),
    ("server error", SERVER_ERROR, "500", 3, 5.0),
    ("bad gateway page", BAD_GATEWAY, "502", 1, 5.0),
    ("dropped connection", DROP, "network", 1, 5.0),
    # eSMS took the message the client stopped waiting for: the retry is answered 124, not sent again.
    ("time-out", slow(2.0), "network", 1, 0.5),
]


def test_transient_failures_are_retried_with_backoff_and_each_message_reaches_the_phone_once(
        db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    for n, (case, answer, code, failures, timeout) in enumerate(TRANSIENT):
        via = sender(esms, timeout=timeout)
        (message_id,) = queue(db, [phone(30 + n)])
        before = len(esms.requests)
        esms.fail_next(failures, answer)
        clock = Clock(NOW)
        for attempt in range(1, failures + 1):
            assert dispatch(sessions, via, clock) == Counter(retry=1), case
            message = fetch(sessions, message_id)
            delay = timedelta(seconds=30 * 2 ** (attempt - 1))
            assert (message.status, message.attempts, message.error_code) == (MessageStatus.QUEUED, attempt, code), case
            assert message.due_at == clock() + delay and message.provider_sid is None, case
            clock.advance(seconds=delay.total_seconds())
        assert dispatch(sessions, via, clock) == Counter(sent=1), case
        message = fetch(sessions, message_id)
        assert (message.status, message.attempts, message.error_code) == (MessageStatus.SENT, failures + 1, None), case
        assert len(esms.requests) - before == failures + 1, case
        assert [m for m in esms.sent if m.request_id == f"test-{message_id}"] != [], case
        assert dispatch(sessions, via, clock.advance(hours=2)) == Counter(), case
    assert Counter(m.request_id for m in esms.sent) == Counter({f"test-{m.id}": 1 for m in fetch_all(sessions)})
    timed_out = esms.requests[-1]
    assert timed_out.code == "124"  # the time-out's retry, answered as a duplicate: sent, and once


def test_a_resend_after_a_crash_is_one_sms_and_the_row_ends_sent_then_delivered(
        db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn, make_app: Callable[..., Flask]) -> None:
    """A dispatcher hands two messages to eSMS and dies before recording it; its claims lapse."""
    app = make_app(sms_sender="esms", esms_api_key=API_KEY, esms_secret_key=SECRET_KEY,
                   esms_base_url=esms.base_url, sms_sender_name=BRANDNAME, public_base_url=BASE)
    callback = status_callback(app.extensions["hotline"].settings)
    assert callback is not None
    ids = queue(db, [phone(n) for n in range(5)])
    via = sender(esms)
    with sessions.begin() as session:  # the claim commits...
        claimed = claim(session, now=NOW, policy=SMS, limit=5, worker="dead")
    for message in claimed[:2]:  # ...two reach eSMS, then the process dies before recording anything
        assert via.send(Outgoing(message.id, message.recipient, message.body, callback(message.id))).outcome == \
            "accepted"
    clock = Clock(NOW + CONFIG.lease + timedelta(seconds=1))
    with sessions.begin() as session:
        assert recover_stale_claims(session, now=clock(), lease=CONFIG.lease) == 5
    assert dispatch(sessions, via, clock, worker="live", callback=callback) == Counter(sent=5)
    messages = fetch_all(sessions)
    assert [m.id for m in messages] == ids and {m.status for m in messages} == {MessageStatus.SENT}
    # Seven requests, five SMS: the two handed over before the crash were answered 124 the second time.
    assert len(esms.requests) == 7 and Counter(r.code for r in esms.requests) == Counter({"100": 5, "124": 2})
    assert Counter(m.request_id for m in esms.sent) == Counter({f"test-{i}": 1 for i in ids})
    crashed = {m.id for m in claimed[:2]}
    assert {m.id for m in messages if m.provider_sid is None} == crashed  # 124 repeats no SMSID
    # The delivery report brings the SMSID of each, and settles it.
    client = app.test_client()
    db.rollback()
    for sms in esms.sent:
        assert esms.report(sms.sms_id, get=lambda url: client.get(url.removeprefix(BASE)).status_code) == 200
    messages = fetch_all(sessions)
    assert {m.status for m in messages} == {MessageStatus.DELIVERED}
    assert {m.provider_sid for m in messages} == {m.sms_id for m in esms.sent}


# -- delivery reports through the app ---------------------------------------------------------------

@pytest.fixture
def app(make_app: Callable[..., Flask], esms: EsmsStandIn) -> Flask:
    return make_app(sms_sender="esms", esms_api_key=API_KEY, esms_secret_key=SECRET_KEY,
                    esms_base_url=esms.base_url, esms_request_prefix=PREFIX, sms_sender_name=BRANDNAME,
                    public_base_url=BASE, sms_rate=1000)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def through(client: FlaskClient) -> Callable[[str], int]:
    """eSMS's GET of a report URL, made through the Flask test client."""
    return lambda url: client.get(url.removeprefix(BASE)).status_code


def sent_by_the_scheduler(app: Flask, db: Session, esms: EsmsStandIn, n: int = 1) -> tuple[int, str, str]:
    """A message the scheduler's job sent through eSMS: its id, eSMS's SMSID, the CallbackUrl given."""
    (message_id,) = queue(db, [phone(n)])
    assert Jobs(app).dispatch() == {"refused": 0, "sent": 1}
    sms = next(m for m in esms.sent if m.request_id == f"{PREFIX}{message_id}")
    return message_id, sms.sms_id, sms.callback_url


def test_the_scheduler_sends_through_esms_and_a_report_moves_the_message_to_delivered(
        app: Flask, client: FlaskClient, db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    message_id, sms_id, url = sent_by_the_scheduler(app, db, esms)
    assert url.startswith(f"{BASE}/sms/esms/status/{message_id}/") and "?" not in url
    db.rollback()
    assert esms.report(sms_id, "7", get=through(client)) == 200  # with the network, awaiting its report
    assert fetch(sessions, message_id).status is MessageStatus.SENT
    assert esms.report(sms_id, get=through(client)) == 200
    message = fetch(sessions, message_id)
    assert (message.status, message.provider_sid, message.error_code) == (MessageStatus.DELIVERED, sms_id, None)


# (reports in the order they arrive: SendStatus and whether it reached the phone; final state, error code)
REPORTS: list[tuple[list[tuple[str, bool]], MessageStatus, str | None]] = [
    ([("5", True), ("5", True)], MessageStatus.DELIVERED, None),  # eSMS retries a report up to five times
    ([("5", False)], MessageStatus.UNDELIVERED, "esms_failed"),
    ([("4", True)], MessageStatus.FAILED, "esms_rejected"),
    ([("5", True), ("7", True), ("2", True)], MessageStatus.DELIVERED, None),  # out of order
    ([("5", False), ("5", True)], MessageStatus.UNDELIVERED, "esms_failed"),  # a final state stays
    ([("1", True), ("2", True)], MessageStatus.SENT, None),
    ([("9", True)], MessageStatus.SENT, None),  # a status the documentation does not list
]


def test_duplicate_and_out_of_order_reports_leave_the_right_final_state(
        app: Flask, client: FlaskClient, db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    for n, (reports, final, error_code) in enumerate(REPORTS):
        message_id, sms_id, _ = sent_by_the_scheduler(app, db, esms, n)
        db.rollback()
        for send_status, delivered in reports:
            assert esms.report(sms_id, send_status, delivered=delivered, get=through(client)) == 200, reports
        message = fetch(sessions, message_id)
        assert (message.status, message.error_code, message.provider_sid) == (final, error_code, sms_id), reports


def test_a_report_with_a_wrong_or_another_messages_token_is_refused_and_changes_nothing(
        app: Flask, client: FlaskClient, db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    message_id, sms_id, _ = sent_by_the_scheduler(app, db, esms)
    other_id, _, other_url = sent_by_the_scheduler(app, db, esms, 2)
    db.rollback()
    good = esms.report_url(sms_id, delivered=False).removeprefix(BASE)
    path, query = good.split("?", 1)
    token = path.rsplit("/", 1)[1]
    forgeries = {
        "no token": (f"/sms/esms/status/{message_id}/", 404),
        "wrong token": (f"/sms/esms/status/{message_id}/{'0' * 32}", 403),
        "short token": (f"/sms/esms/status/{message_id}/{token[:-1]}", 403),
        "another message's token": (f"/sms/esms/status/{message_id}/{other_url.rsplit('/', 1)[1]}", 403),
        "this token for another message": (f"/sms/esms/status/{other_id}/{token}", 403),
    }
    for forgery, (forged, status) in forgeries.items():
        assert client.get(f"{forged}?{query}").status_code == status, forgery
    assert client.post(f"{path}?{query}").status_code == 405  # eSMS reports by GET only
    for message in fetch_all(sessions):
        assert (message.status, message.error_code) == (MessageStatus.SENT, None)


MALFORMED = [
    "SendStatus=5&SendSuccess=1",  # no SMSID
    "SMSID=&SendStatus=5",
    "SMSID=abc&SendStatus=5",  # too short to be eSMS's
    "SMSID=" + "a" * 65 + "&SendStatus=5",
    "SMSID=d533459ee42b2b9525ba9eabf6a8156&SendStatus=",
    "SMSID=d533459ee42b2b9525ba9eabf6a8156&SendStatus=five",
    "SMSID=d533459ee42b2b9525ba9eabf6a8156&SendStatus=5&SendSuccess=-1",
    "SMSID=d533459ee42b2b9525ba9eabf6a8156&SendStatus=5&SendFailed=1e3",
    "SMSID=d533459ee42b2b9525ba9eabf6a8156%00&SendStatus=5",
]


def test_malformed_reports_get_400_and_unknown_paths_404(
        app: Flask, client: FlaskClient, db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    message_id, _, url = sent_by_the_scheduler(app, db, esms)
    db.rollback()
    path = url.removeprefix(BASE)
    for query in MALFORMED:
        assert client.get(f"{path}?{query}").status_code == 400, query
    token = path.rsplit("/", 1)[1]
    for bad_id in ("abc", "-1", str(2**31), str(2**63), "1.5"):
        assert client.get(f"/sms/esms/status/{bad_id}/{token}?SMSID=d533459ee42b2b9525ba9eabf6a8156&SendStatus=5"
                          ).status_code == 404, bad_id
    assert fetch(sessions, message_id).status is MessageStatus.SENT


def test_a_report_arriving_before_the_send_is_recorded_is_kept(
        app: Flask, client: FlaskClient, db: Session, sessions: sessionmaker[Session], esms: EsmsStandIn) -> None:
    (message_id,) = queue(db, [phone(1)])
    real = sender(esms)

    class ReportsAtOnce:
        """eSMS's report can beat the dispatcher's own bookkeeping."""

        name = "esms"

        def send(self, message: Outgoing) -> Any:
            result = real.send(message)
            assert result.provider_sid is not None
            assert esms.report(result.provider_sid, get=through(client)) == 200
            return result

    db.rollback()
    counts = dispatch_once(sessions, ReportsAtOnce(), now=lambda: NOW, policy=SMS, config=CONFIG, worker="w1",
                           status_callback=status_callback(app.extensions["hotline"].settings))
    assert counts["sent"] == 1
    message = fetch(sessions, message_id)
    assert (message.status, message.provider_sid) == (MessageStatus.DELIVERED, esms.sent[0].sms_id)
