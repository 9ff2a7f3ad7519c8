"""Joining a full session's waitlist through the API, on both engines, answered as the document says."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.models import AuditEntry
from booking.models import Channel, WaitlistEntry, WaitlistStatus
from tests.integration.test_api import _book, _conforms
from tests.integration.test_api import app as app  # the fixtures of the API's own tests
from tests.integration.test_api import client as client
from tests.integration.test_api import office as office
from tests.integration.test_api import operator as operator

TUESDAY = "2027-03-02"


def _join(client: FlaskClient, headers: dict[str, str], office: int, phone: str) -> tuple[int, dict]:
    response = client.post("/api/v1/waitlist", headers=headers, json={
        "office_id": office, "date": TUESDAY, "session": "S", "phone": phone, "name": "Lê Văn Cường"})
    return response.status_code, response.get_json()


def test_joining_a_full_sessions_waitlist(client: FlaskClient, operator: dict[str, str], office: int,
                                          db: Session) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    response = client.post("/api/v1/waitlist", headers=operator, json={
        "office_id": office, "date": TUESDAY, "session": "S", "phone": "0912 345 600"})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "session_has_room"
    _conforms(document, "join_waitlist", response)
    for n in range(2):  # the morning holds two
        assert _book(client, operator, office, phone=f"0912 345 60{n + 1}")[0] == 201
    status, joined = _join(client, operator, office, "0912 345 610")
    assert status == 201 and joined["entry"]["status"] == "waiting" and joined["entry"]["ahead"] == 0
    assert joined["entry"]["phone"] == "+84912345610"
    response = client.post("/api/v1/waitlist", headers=operator, json={
        "office_id": office, "date": TUESDAY, "session": "S", "phone": "0912 345 611"})
    _conforms(document, "join_waitlist", response)
    assert response.get_json()["entry"]["ahead"] == 1
    again = client.post("/api/v1/waitlist", headers=operator, json={
        "office_id": office, "date": TUESDAY, "session": "S", "phone": "0912345610"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_waiting"
    _conforms(document, "join_waitlist", again)
    assert client.post("/api/v1/waitlist", json={"office_id": office}).status_code == 401
    bad = client.post("/api/v1/waitlist", headers=operator, json={
        "office_id": office, "date": TUESDAY, "session": "X", "phone": "0912345612"})
    assert bad.status_code == 422
    db.rollback()
    entries = db.scalars(select(WaitlistEntry).order_by(WaitlistEntry.id)).all()
    assert [(e.channel, e.status) for e in entries] == [(Channel.API, WaitlistStatus.WAITING)] * 2
    assert db.scalars(select(AuditEntry.action).where(AuditEntry.action == "waitlist.join")).all() == [
        "waitlist.join"] * 2
