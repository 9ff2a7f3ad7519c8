"""Structured logs and /metrics: what an operator on call reads when a caller says the hotline failed them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from gunicorn.config import Config
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Role
from accounts.tokens import issue_token
from booking import bookings
from booking.models import Booking
from config import Settings, SettingsError
from hotline.heartbeats import SchedulerHeartbeat, SchedulerRole
from hotline.logs import GunicornLogger, clean, mask_phone, scrub
from notifications.models import MessageKind, MessageStatus, OutboxMessage
from notifications.senders import LogSender, Outgoing
from tests.factories import IVR, NOW, OPERATOR, POLICY, make_office, phone
from tests.ivr_caller import Caller

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2027, 3, 1)  # NOW is Monday 1 March 2027, 09:00 in Vietnam
TOKEN = "secret-token"
CALLER = "+84912345678"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(log_format="json", twilio_auth_token=TOKEN, metrics_token="scrape-me")


@pytest.fixture
def office(db: Session) -> int:
    office = make_office(db, keypad_number=1, morning=20, afternoon=10)
    db.commit()
    return office.id


@pytest.fixture
def client(app: Flask, db: Session) -> FlaskClient:
    db.rollback()
    return app.test_client()


def log_lines(captured: str) -> list[dict[str, Any]]:
    """Every line written to stderr, each of which must be one JSON object."""
    lines = [line for line in captured.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def value(text: str, name: str, *, missing: float | None = None, **labels: str) -> float:
    """One sample of the scrape. A missing series fails the test unless `missing` says what it counts as
    (0 for a counter never incremented or a group with no rows), so a renamed metric cannot pass as 0."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    assert missing is not None, f"{name}{labels} is not in the scrape"
    return missing


# -- masking (no database) ---------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("SMS to +84912345678: ok", "SMS to +********678: ok"),
    ("from 0912345678 and 02903821022", "from *******678 and ********022"),
    ("84912345678", "********678"),
    ("gọi 0912 345 678 hoặc +84 290.3821.022", "gọi **** *** 678 hoặc +** ***.****.022"),
    ("ngày 01-03-2027 09:00, mã 123 456 789, 1 500 000 đồng", "ngày 01-03-2027 09:00, mã 123 456 789, 1 500 000 đồng"),
    ("booking 123456789 at 1700000000 id 42", "booking 123456789 at 1700000000 id 42"),
    ("CallSid CA0123456789abcdef0123456789abcdef", "CallSid CA0123456789abcdef0123456789abcdef"),
])
def test_phone_numbers_in_messages_are_masked_but_codes_and_ids_are_not(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_fields_named_for_secrets_are_dropped_and_phones_masked_however_written() -> None:
    assert clean("password", "mật khẩu") == clean("X-Twilio-Signature", "abc") == "[redacted]"
    assert clean("twilio_auth_token", "t" * 32) == "[redacted]"
    assert clean("phone", "0912 345 678") == "**** *** 678"
    assert mask_phone("+84912345678").endswith("678") and "912345" not in mask_phone("+84912345678")


@pytest.mark.parametrize("env, message", [
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ({"METRICS_TRUSTED_NETWORKS": "127.0.0.1,intranet"}, "METRICS_TRUSTED_NETWORKS"),
])
def test_bad_observability_settings_name_the_variable(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path), **env})


def test_logs_are_json_in_production_and_text_elsewhere_unless_chosen(tmp_path: Path) -> None:
    base = {"HOTLINE_INSTANCE_PATH": str(tmp_path)}
    production = {**base, "HOTLINE_ENV": "production", "SECRET_KEY": "k" * 40, "TWILIO_AUTH_TOKEN": "t" * 32}
    assert Settings.from_env(production).log_style == "json"
    assert Settings.from_env(base).log_style == "text"
    assert Settings.from_env({**base, "LOG_FORMAT": "json"}).log_style == "json"
    assert Settings.from_env({**production, "LOG_FORMAT": "text"}).log_style == "text"


# -- logs --------------------------------------------------------------------------------------


def test_ivr_request_logs_json_with_its_request_id_and_call_sid(
        client: FlaskClient, db: Session, office: int, capsys: pytest.CaptureFixture[str]) -> None:
    call = Caller(client, TOKEN, caller=CALLER, before_request=db.rollback)
    capsys.readouterr()
    call.post("/ivr/voice", call._params(), headers={"X-Request-ID": "lb-2027-0001"})
    lines = log_lines(capsys.readouterr().err)
    access = [e for e in lines if e.get("event") == "http.request"]
    assert len(access) == 1
    entry = access[0]
    assert (entry["request_id"], entry["call_sid"], entry["path"], entry["status"]) == (
        "lb-2027-0001", call.sid, "/ivr/voice", 200)
    assert entry["level"] == "info" and entry["logger"] == "hotline.access" and entry["time"].endswith("Z")
    assert isinstance(entry["duration_ms"], float) and entry["method"] == "POST"
    # Every line logged during the request carries the call, not just the access line.
    assert all(e.get("call_sid") == call.sid for e in lines if e["logger"].startswith("hotline"))


def test_request_id_is_echoed_and_an_unsafe_one_replaced(client: FlaskClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123-def-456"}).headers["X-Request-ID"] == \
        "abc-123-def-456"
    replaced = client.get("/healthz", headers={"X-Request-ID": 'x" injected=1'}).headers["X-Request-ID"]
    assert len(replaced) == 32 and replaced.isalnum()
    assert client.get("/healthz").headers["X-Request-ID"] != client.get("/healthz").headers["X-Request-ID"]


def test_a_booking_by_phone_logs_its_code_and_never_the_callers_number(
        client: FlaskClient, db: Session, office: int, capsys: pytest.CaptureFixture[str]) -> None:
    call = Caller(client, TOKEN, caller=CALLER, before_request=db.rollback)
    capsys.readouterr()
    call.ring()
    for key in ("1", "1", "1"):  # book (the only office is not asked for), the first session, confirm
        call.press(key)
    captured = capsys.readouterr().err
    lines = log_lines(captured)
    code = db.scalars(select(Booking.code)).one()
    created = [e for e in lines if e.get("event") == "booking.created"]
    assert len(created) == 1
    assert (created[0]["booking_code"], created[0]["office_id"], created[0]["channel"]) == (code, office, "ivr")
    assert created[0]["call_sid"] == call.sid
    confirming = [e for e in lines if e.get("event") == "http.request" and e.get("booking_code") == code]
    assert len(confirming) == 1 and confirming[0]["call_sid"] == call.sid
    assert "912345678" not in captured and "0912345678" not in captured


def test_phone_in_a_query_string_is_masked_and_the_api_user_named(
        client: FlaskClient, db: Session, office: int, capsys: pytest.CaptureFixture[str]) -> None:
    _, token = issue_token(db, name="portal", role=Role.OPERATOR, created_by="test", now=NOW)
    db.commit()
    capsys.readouterr()
    response = client.get("/api/v1/bookings?phone=0912345678", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    captured = capsys.readouterr().err
    entry = next(e for e in log_lines(captured) if e.get("event") == "http.request")
    assert entry["query"] == "phone=*******678" and entry["user"] == "api:portal"
    assert "0912345678" not in captured and token not in captured


def test_the_development_sms_sender_never_logs_the_whole_number(
        app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    LogSender().send(Outgoing(id=1, recipient=CALLER, body="Mã đặt lịch 123456789. Hỏi: 0290 3821 022"))
    entry = log_lines(capsys.readouterr().err)[-1]
    assert entry["logger"] == "notifications.senders"
    assert entry["message"] == "SMS to +********678: Mã đặt lịch 123456789. Hỏi: **** **** 022"


def test_text_logs_in_development(make_app: Callable[..., Flask], db: Session,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    db.rollback()
    client = make_app(env="development").test_client()
    capsys.readouterr()
    client.get("/")
    line = next(line for line in capsys.readouterr().err.splitlines() if "hotline.access" in line)
    assert "GET / 200" in line and "request_id=" in line and not line.startswith("{")


def test_gunicorn_lines_take_the_same_format(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    GunicornLogger(Config()).critical("WORKER TIMEOUT (pid:%s)", 4242)
    entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (entry["logger"], entry["level"], entry["message"]) == ("gunicorn.error", "critical",
                                                                   "WORKER TIMEOUT (pid:4242)")


# -- metrics -----------------------------------------------------------------------------------


def _outbox(db: Session, status: MessageStatus, due_in: int) -> None:
    db.add(OutboxMessage(kind=MessageKind.REMINDER, recipient=phone(900), body="x", language="vi", encoding="gsm7",
                         segments=1, urgent=False, status=status, due_at=NOW + timedelta(seconds=due_in),
                         attempts=0, created_at=NOW, updated_at=NOW))


def test_metrics_from_the_database_match_the_rows(client: FlaskClient, db: Session, office: int) -> None:
    # Today's afternoon (the morning has begun): three by operators, one of them cancelled, two by phone.
    made = [bookings.book(db, office_id=office, day=TODAY, code="C", phone=phone(n), actor=actor, now=NOW,
                          policy=POLICY) for n, actor in enumerate((OPERATOR, OPERATOR, OPERATOR, IVR, IVR))]
    bookings.cancel(db, booking_id=made[0].id, actor=OPERATOR, now=NOW, policy=POLICY)
    bookings.book(db, office_id=office, day=TODAY + timedelta(days=1), code="S", phone=phone(9), actor=OPERATOR,
                  now=NOW, policy=POLICY)  # tomorrow: not today's
    for status, due_in in ((MessageStatus.QUEUED, -300), (MessageStatus.QUEUED, -60), (MessageStatus.QUEUED, 600),
                           (MessageStatus.SENT, -900), (MessageStatus.SENT, -900), (MessageStatus.FAILED, -900)):
        _outbox(db, status, due_in)
    db.add_all([SchedulerHeartbeat(name=f"host:{n}", host="host", pid=n, role=role, started_at=NOW - timedelta(hours=1),
                                   role_since=NOW - timedelta(hours=1), beat_at=NOW - timedelta(seconds=age))
                for n, role, age in ((1, SchedulerRole.LEADER, 12), (2, SchedulerRole.STANDBY, 3),
                                     (3, SchedulerRole.STANDBY, 40))])
    db.commit()
    text = scrape(client)
    assert value(text, "hotline_database_up") == 1
    assert value(text, "hotline_bookings_today", channel="operator", status="booked") == 2
    assert value(text, "hotline_bookings_today", channel="operator", status="cancelled") == 1
    assert value(text, "hotline_bookings_today", channel="ivr", status="booked") == 2
    assert value(text, "hotline_bookings_today", channel="api", status="booked", missing=0) == 0
    assert "hotline_bookings_today{channel=\"api\",status=\"booked\"} 0.0" in text  # zeros are written
    assert [value(text, "hotline_sms_messages", status=s) for s in ("queued", "sent", "failed", "delivered")] == \
        [3, 2, 1, 0]
    assert value(text, "hotline_sms_outbox_depth") == 2
    assert value(text, "hotline_sms_dispatcher_lag_seconds") == 300
    assert value(text, "hotline_scheduler_heartbeat_age_seconds", role="leader") == 12
    assert value(text, "hotline_scheduler_heartbeat_age_seconds", role="standby") == 3


def test_no_due_message_means_no_lag(client: FlaskClient, db: Session) -> None:
    _outbox(db, MessageStatus.QUEUED, 600)
    db.commit()
    text = scrape(client)
    assert value(text, "hotline_sms_outbox_depth") == 0 and value(text, "hotline_sms_dispatcher_lag_seconds") == 0
    assert "hotline_scheduler_heartbeat_age_seconds{" not in text  # no scheduler has ever run


def test_counters_of_requests_webhooks_and_bookings(client: FlaskClient, db: Session, office: int) -> None:
    _, token = issue_token(db, name="portal", role=Role.OPERATOR, created_by="test", now=NOW)
    db.commit()
    headers = {"Authorization": f"Bearer {token}"}
    before = scrape(client)
    Caller(client, TOKEN, caller=CALLER, before_request=db.rollback).ring()
    body = {"office_id": office, "date": "2027-03-02", "session": "S", "phone": "0912345678"}
    made = client.post("/api/v1/bookings", headers=headers, json=body)
    assert made.status_code == 201
    assert client.post("/api/v1/bookings", headers=headers, json=body).status_code == 409  # rolled back: not counted
    code = made.get_json()["booking"]["code"]
    assert client.post(f"/api/v1/bookings/{code}/cancel", headers=headers, json={}).status_code == 200
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels, missing=0) - value(before, name, **labels, missing=0)

    assert delta("hotline_webhook_duration_seconds_count", endpoint="ivr.voice") == 1
    assert delta("hotline_webhook_duration_seconds_bucket", endpoint="ivr.voice", le="15.0") == 1
    assert delta("hotline_http_requests_total", endpoint="ivr.voice", method="POST", status="200") == 1
    assert delta("hotline_http_requests_total", endpoint="api.create_booking", method="POST", status="409") == 1
    assert delta("hotline_bookings_created_total", channel="api") == 1
    assert delta("hotline_bookings_cancelled_total", channel="api") == 1
    assert delta("hotline_bookings_created_total", channel="ivr") == 0
    assert value(after, "hotline_bookings_today", channel="api", status="cancelled", missing=0) == 0  # Tuesday's, not today's


# -- access to /metrics ------------------------------------------------------------------------


def test_metrics_are_refused_to_other_addresses_without_the_token(client: FlaskClient) -> None:
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", environ_base=outside).status_code == 403
    assert client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer wrong"}).status_code == 403
    allowed = client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer scrape-me"})
    assert allowed.status_code == 200 and b"hotline_database_up 1.0" in allowed.data
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_a_request_relayed_by_an_untrusted_proxy_is_not_loopback(client: FlaskClient) -> None:
    """A reverse proxy on the same host relays the whole internet from 127.0.0.1."""
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 403


def test_trusted_networks_and_proxies_are_settings(make_app: Callable[..., Flask], db: Session) -> None:
    db.rollback()
    client = make_app(metrics_trusted_networks="10.20.0.0/16", trusted_proxies=1).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.3.4"}).status_code == 200
    assert client.get("/metrics").status_code == 403  # loopback is no longer listed
    # Behind one trusted proxy, the address the proxy reports is the one judged.
    relayed = {"REMOTE_ADDR": "127.0.0.1"}
    assert client.get("/metrics", environ_base=relayed, headers={"X-Forwarded-For": "10.20.9.9"}).status_code == 200
    assert client.get("/metrics", environ_base=relayed, headers={"X-Forwarded-For": "8.8.8.8"}).status_code == 403


# -- several workers ---------------------------------------------------------------------------

WORKER = """
import sys
from pathlib import Path
from config import Settings
from hotline import create_app

url, instance, requests, scrape = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "scrape"
app = create_app(Settings(env="testing", database_url=url, instance_path=instance, secret_key="t" * 32,
                          twilio_auth_token="x" * 32))
client = app.test_client()
for _ in range(requests):
    assert client.get("/healthz").status_code == 200
if scrape:
    sys.stdout.write(client.get("/metrics").get_data(as_text=True))
"""


def test_every_workers_counts_are_added_up_in_multiprocess_mode(sqlite_template: Path, tmp_path: Path) -> None:
    """Two worker processes count requests; a third answers the scrape with the sum of both."""
    database = tmp_path / "hotline.sqlite3"
    shutil.copy(sqlite_template, database)
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "PYTHONPATH": str(ROOT)}

    def worker(requests: int, mode: str = "") -> str:
        done = subprocess.run([sys.executable, "-c", WORKER, f"sqlite:///{database}", str(tmp_path / "instance"),
                               str(requests), mode], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    worker(3)
    worker(4)
    text = worker(0, "scrape")
    assert value(text, "hotline_http_requests_total", endpoint="public.healthz", method="GET", status="200") == 7
    assert value(text, "hotline_database_up") == 1
    assert len(list(shared.glob("counter_*.db"))) == 3
