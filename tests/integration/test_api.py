"""The booking API: tokens, the same rules and messages as the IVR, audit entries, JSON errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from booking.audit import issue_token
from booking.models import AuditEntry, Booking, BookingStatus, Closure, Role, SessionOverride
from notifications.models import MessageKind, OutboxMessage
from tests.factories import NOW, make_office

TUESDAY = "2027-03-02"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def office(db: Session) -> int:
    office = make_office(db, morning=2, afternoon=1)
    db.commit()
    return office.id


def _token(db: Session, role: Role, name: str) -> dict[str, str]:
    _, text = issue_token(db, name=name, role=role, created_by="test", now=NOW)
    db.commit()
    return {"Authorization": f"Bearer {text}"}


@pytest.fixture
def operator(db: Session) -> dict[str, str]:
    return _token(db, Role.OPERATOR, "portal")


@pytest.fixture
def admin(db: Session) -> dict[str, str]:
    return _token(db, Role.ADMIN, "province")


@pytest.fixture
def client(app: Flask, db: Session) -> FlaskClient:
    db.rollback()
    return app.test_client()


def _book(client: FlaskClient, headers: dict[str, str], office: int, phone: str = "0912 345 678",
          session: str = "S") -> tuple[int, dict]:
    response = client.post("/api/v1/bookings", headers=headers, json={
        "office_id": office, "date": TUESDAY, "session": session, "phone": phone, "name": "Lê Văn Cường"})
    return response.status_code, response.get_json()


def test_without_a_token_the_api_answers_401_in_both_languages(client: FlaskClient, office: int) -> None:
    response = client.get("/api/v1/offices")
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == "unauthorised" and "Authorization" in error["message"]["en"]
    assert error["message"]["vi"] != error["message"]["en"]
    assert client.get("/api/v1/offices", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_offices_and_availability(client: FlaskClient, operator: dict[str, str], office: int) -> None:
    offices = client.get("/api/v1/offices", headers=operator).get_json()["offices"]
    assert [o["id"] for o in offices] == [office]
    days = client.get(f"/api/v1/offices/{office}/availability?from=2027-03-01&to=2027-03-02",
                      headers=operator).get_json()["days"]
    assert [d["date"] for d in days] == ["2027-03-01", TUESDAY]
    assert days[1]["sessions"][0]["remaining"] == 2 and days[1]["sessions"][0]["windows"]
    bad = client.get(f"/api/v1/offices/{office}/availability?from=2027-03-05&to=2027-03-01", headers=operator)
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "to"
    assert client.get("/api/v1/offices/999/availability", headers=operator).status_code == 404


def test_booking_through_the_api_queues_the_sms_and_writes_the_audit_log(
        client: FlaskClient, operator: dict[str, str], office: int, db: Session) -> None:
    status, body = _book(client, operator, office)
    assert status == 201, body
    booking = body["booking"]
    assert booking["phone"] == "+84912345678" and booking["queue"] == "S-001" and booking["channel"] == "api"
    db.rollback()
    sms = db.scalars(select(OutboxMessage)).one()
    assert sms.kind is MessageKind.CONFIRMATION and booking["code"] in sms.body
    entry = db.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action, entry.target_id) == ("api:portal", "booking.create", booking["code"])
    db.rollback()
    found = client.get("/api/v1/bookings?phone=84912345678", headers=operator).get_json()["bookings"]
    assert [b["code"] for b in found] == [booking["code"]]
    assert client.get(f"/api/v1/bookings/{booking['code']}", headers=operator).get_json()["booking"]["queue"] == "S-001"


def test_the_last_seat_gives_409_with_the_domain_message(client: FlaskClient, operator: dict[str, str],
                                                         office: int) -> None:
    assert _book(client, operator, office, session="C")[0] == 201
    status, body = _book(client, operator, office, phone="0987654321", session="C")
    assert status == 409
    assert body["error"] == {"code": "session_full", "message": {
        "vi": "Buổi làm việc này đã hết chỗ.", "en": "This session is fully booked."}}


@pytest.mark.parametrize("payload, field", [
    ({"office_id": 1, "date": "02/03/2027", "session": "S", "phone": "0912345678"}, "date"),
    ({"office_id": "one", "date": TUESDAY, "session": "S", "phone": "0912345678"}, "office_id"),
    ({"office_id": 1, "date": TUESDAY, "session": "morning", "phone": "0912345678"}, "session"),
    ({"office_id": 1, "date": TUESDAY, "session": "S"}, "phone"),
    ({"office_id": 1, "date": TUESDAY, "session": "S", "phone": "0912345678", "language": "fr"}, "language"),
])
def test_invalid_input_gives_422_naming_the_field(client: FlaskClient, operator: dict[str, str], office: int,
                                                  payload: dict, field: str) -> None:
    response = client.post("/api/v1/bookings", headers=operator, json=payload)
    assert response.status_code == 422 and response.get_json()["error"]["field"] == field


def test_a_bad_phone_or_a_non_json_body_is_422(client: FlaskClient, operator: dict[str, str], office: int) -> None:
    status, body = _book(client, operator, office, phone="1900 1234")
    assert status == 422 and body["error"]["code"] == "invalid_phone"
    assert "1900 1234" in body["error"]["message"]["vi"]
    response = client.post("/api/v1/bookings", headers=operator, data="not json", content_type="text/plain")
    assert response.status_code == 422


def test_cancel_and_move(client: FlaskClient, operator: dict[str, str], office: int, db: Session) -> None:
    code = _book(client, operator, office)[1]["booking"]["code"]
    moved = client.post(f"/api/v1/bookings/{code}/move", headers=operator,
                        json={"office_id": office, "date": "2027-03-03", "session": "C"})
    assert moved.status_code == 200 and moved.get_json()["booking"]["date"] == "2027-03-03"
    cancelled = client.post(f"/api/v1/bookings/{code}/cancel", headers=operator, json={"reason": "ốm"})
    assert cancelled.get_json()["booking"]["status"] == "cancelled"
    again = client.post(f"/api/v1/bookings/{code}/cancel", headers=operator)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_cancellable"
    db.rollback()
    kinds = [m.kind for m in db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert kinds == [MessageKind.CONFIRMATION, MessageKind.MOVE, MessageKind.CANCELLATION]
    db.rollback()
    assert client.post("/api/v1/bookings/123456789/cancel", headers=operator).status_code in (404, 422)


def test_operators_cannot_change_capacity_or_close_offices(client: FlaskClient, operator: dict[str, str],
                                                            office: int, db: Session) -> None:
    assert client.put(f"/api/v1/offices/{office}/sessions/{TUESDAY}/S", headers=operator,
                      json={"capacity": 5}).status_code == 403
    assert client.post(f"/api/v1/offices/{office}/closures", headers=operator,
                       json={"start": TUESDAY, "end": TUESDAY, "reason": "x"}).status_code == 403
    db.rollback()  # and nothing was changed before the refusal
    assert db.scalar(select(func.count()).select_from(SessionOverride)) == 0
    assert db.scalar(select(func.count()).select_from(Closure)) == 0
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_closing_with_notify_cancels_and_texts_everyone_affected(
        client: FlaskClient, operator: dict[str, str], admin: dict[str, str], office: int, db: Session) -> None:
    _book(client, operator, office, phone="0912345678")
    _book(client, operator, office, phone="0987654321")
    changed = client.put(f"/api/v1/offices/{office}/sessions/{TUESDAY}/C", headers=admin, json={"capacity": 5})
    assert changed.status_code == 200 and changed.get_json()["session"]["capacity"] == 5
    closed = client.post(f"/api/v1/offices/{office}/closures", headers=admin,
                         json={"start": TUESDAY, "end": TUESDAY, "reason": "Ngập lụt", "notify": True})
    assert closed.status_code == 201 and closed.get_json()["affected"] == 2
    db.rollback()
    assert set(db.scalars(select(Booking.status))) == {BookingStatus.CANCELLED}
    closure_texts = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.CLOSURE)).all()
    assert sorted(m.recipient for m in closure_texts) == ["+84912345678", "+84987654321"]
    assert all(m.urgent and "Ngập lụt" in m.body for m in closure_texts)
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "office.close")) == 1
    db.rollback()
    status, _ = _book(client, operator, office, phone="0911111111")
    assert status == 422  # closed that day


def test_openapi_document_describes_every_route(client: FlaskClient, app: Flask) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.rule != "/api/v1/openapi.json":
            path = rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace("<", "{").replace(">", "}")
            assert rule.methods is not None
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert ("/bookings", "post") in served and len(served) >= 10  # not two empty sets agreeing
    assert served == documented




@pytest.mark.parametrize("path", [
    "/api/v1/offices/99999999999999999999/availability",
    "/api/v1/offices/{office}/availability?from=0001-01-01",
    "/api/v1/offices/{office}/availability?from=2027-13-01",
])
def test_out_of_range_input_is_4xx_never_500(client: FlaskClient, admin: dict[str, str], office: int,
                                             path: str) -> None:
    response = client.get(path.format(office=office), headers=admin)
    assert response.status_code in (404, 422) and "error" in response.get_json()
    closure = client.post("/api/v1/offices/99999999999999999999/closures", headers=admin,
                          json={"start": TUESDAY, "end": TUESDAY, "reason": "x"})
    assert closure.status_code == 404 and closure.get_json()["error"]["code"] == "not_found"
    unknown = client.get("/api/v1/nothing-here", headers=admin)
    assert unknown.status_code == 404 and set(unknown.get_json()["error"]["message"]) == {"vi", "en"}
