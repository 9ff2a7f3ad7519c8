"""The console: sign-in, CSRF, roles and office boundaries, booking, roster, check-in, closures, audit."""

from __future__ import annotations

from collections.abc import Callable

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from booking import bookings
from booking.accounts import create_user
from booking.models import AuditEntry, Booking, BookingStatus, Role
from notifications.models import MessageKind, OutboxMessage
from tests.factories import NOW, OPERATOR, POLICY, at, make_office

PASSWORD = "mật khẩu rất dài"
TUESDAY = "2027-03-02"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def offices(db: Session) -> tuple[int, int]:
    mine = make_office(db, code="NAMCAN", name="Trung tâm Phục vụ hành chính công xã Năm Căn", morning=3)
    other = make_office(db, code="DAMDOI", name="Trung tâm Phục vụ hành chính công xã Đầm Dơi")
    hash_ = generate_password_hash(PASSWORD)
    create_user(db, username="lan", password_hash=hash_, role=Role.OPERATOR, now=NOW)
    create_user(db, username="hoa", password_hash=hash_, role=Role.MANAGER, now=NOW, office_codes=("NAMCAN",))
    create_user(db, username="admin", password_hash=hash_, role=Role.ADMIN, now=NOW)
    db.commit()
    return mine.id, other.id


def _csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> int:
    token = _csrf(client, "/console/login")
    return client.post("/console/login", data={"username": username, "password": password,
                                               "csrf_token": token}).status_code


@pytest.fixture
def client(app: Flask, db: Session) -> FlaskClient:
    db.rollback()
    return app.test_client()


def test_the_console_requires_signing_in(client: FlaskClient, offices: tuple[int, int]) -> None:
    response = client.get("/console/grid")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]
    assert "Đăng nhập" in client.get("/console/login").get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, offices: tuple[int, int]) -> None:
    response = client.post("/console/login", data={"username": "lan", "password": PASSWORD})
    assert response.status_code == 400
    assert login(client, "lan") == 302
    assert client.post("/console/bookings/123456789/cancel").status_code == 400


def test_repeated_wrong_passwords_are_throttled(client: FlaskClient, offices: tuple[int, int]) -> None:
    for _ in range(5):
        assert login(client, "lan", "sai mật khẩu") == 200
    assert login(client, "lan") == 429  # even the right password waits now
    assert login(client, "hoa") == 302  # another user from the same address is not locked out yet


def test_session_cookie_is_http_only_and_expires(client: FlaskClient, offices: tuple[int, int],
                                                 app: Flask) -> None:
    login(client, "lan")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.expires is not None
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 8 * 3600


def test_operator_books_for_a_caller(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    login(client, "lan")
    grid = client.get("/console/grid").get_data(as_text=True)
    assert "xã Năm Căn" in grid and f"/console/book/{mine}/{TUESDAY}/S" in grid
    token = _csrf(client, f"/console/book/{mine}/{TUESDAY}/S")
    response = client.post(f"/console/book/{mine}/{TUESDAY}/S", data={
        "csrf_token": token, "office_id": mine, "day": TUESDAY, "session": "S", "phone": "0912 345 678",
        "name": "Phạm Thị Dung", "procedure_id": "0", "language": "vi"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    db.rollback()
    booking = db.scalars(select(Booking)).one()
    assert booking.code in page and booking.channel.value == "operator" and booking.created_by == "user:lan"
    assert db.scalars(select(OutboxMessage.kind)).one() is MessageKind.CONFIRMATION
    entry = db.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action) == ("user:lan", "booking.create")


def test_operator_sees_the_rule_message_when_the_session_is_full(client: FlaskClient, offices: tuple[int, int],
                                                                db: Session) -> None:
    mine, _ = offices
    for n in range(3):
        bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=f"+8498000000{n}",
                      actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    login(client, "lan")
    token = _csrf(client, f"/console/book/{mine}/{TUESDAY}/S")
    page = client.post(f"/console/book/{mine}/{TUESDAY}/S", data={
        "csrf_token": token, "office_id": mine, "day": TUESDAY, "session": "S", "phone": "0912345678",
        "procedure_id": "0", "language": "vi"}).get_data(as_text=True)
    assert "Buổi làm việc này đã hết chỗ." in page


def test_operator_cannot_open_a_managers_pages(client: FlaskClient, offices: tuple[int, int]) -> None:
    mine, _ = offices
    login(client, "lan")
    assert client.get(f"/console/offices/{mine}/roster").status_code == 403
    assert client.get("/console/audit").status_code == 403


def test_manager_cannot_touch_another_office(client: FlaskClient, offices: tuple[int, int]) -> None:
    mine, other = offices
    login(client, "hoa")
    assert client.get(f"/console/offices/{mine}/roster").status_code == 200
    assert client.get(f"/console/offices/{other}/roster").status_code == 403
    token = _csrf(client, f"/console/offices/{mine}/roster")
    refused = client.post(f"/console/offices/{other}/capacity", data={
        "csrf_token": token, "day": TUESDAY, "session": "S", "capacity": "99"})
    assert refused.status_code == 403


def test_roster_in_queue_order_as_csv_and_check_in(client: FlaskClient, offices: tuple[int, int],
                                                   db: Session, app: Flask) -> None:
    mine, _ = offices
    made = [bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=f"+8498000000{n}",
                          actor=OPERATOR, now=NOW, policy=POLICY, name=f"Người {n}") for n in range(2)]
    db.commit()
    codes = [b.code for b in made]
    login(client, "hoa")
    csv_text = client.get(f"/console/offices/{mine}/roster?date={TUESDAY}&format=csv").get_data(as_text=True)
    lines = csv_text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("queue,code") and [line.split(",")[0] for line in lines[1:]] == ["S-001", "S-002"]
    app.extensions["hotline"].clock = lambda: at(2027, 3, 2, 7, 40)
    token = _csrf(client, f"/console/offices/{mine}/roster?date={TUESDAY}")
    client.post(f"/console/offices/{mine}/checkin", data={"csrf_token": token, "code": codes[1],
                                                          "date": TUESDAY})
    db.rollback()
    assert db.scalars(select(Booking.status).where(Booking.code == codes[1])).one() is BookingStatus.CHECKED_IN
    assert db.scalars(select(AuditEntry.action)).all() == ["booking.check_in"]


def test_manager_closes_the_office_and_everyone_affected_is_texted(client: FlaskClient, offices: tuple[int, int],
                                                                   db: Session) -> None:
    mine, _ = offices
    bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone="+84912345678",
                  actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    login(client, "hoa")
    token = _csrf(client, f"/console/offices/{mine}/roster")
    client.post(f"/console/offices/{mine}/closures", data={
        "csrf_token": token, "start": TUESDAY, "end": TUESDAY, "reason": "Mưa bão", "notify": "y"})
    db.rollback()
    assert db.scalars(select(Booking.status)).one() is BookingStatus.CANCELLED
    closure = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.CLOSURE)).one()
    assert closure.recipient == "+84912345678" and "Mưa bão" in closure.body


def test_admin_reads_the_audit_log(client: FlaskClient, offices: tuple[int, int]) -> None:
    mine, _ = offices
    login(client, "hoa")
    token = _csrf(client, f"/console/offices/{mine}/roster")
    client.post(f"/console/offices/{mine}/capacity", data={"csrf_token": token, "day": TUESDAY, "session": "S",
                                                           "capacity": "7"})
    client.get("/console/login")
    admin = client.application.test_client()
    login(admin, "admin")
    page = admin.get("/console/audit").get_data(as_text=True)
    assert "user:hoa" in page and "session.change" in page and "&#39;capacity&#39;: 7" in page
