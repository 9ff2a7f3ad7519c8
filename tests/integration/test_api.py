"""The booking API: tokens, the same rules and messages as the IVR, audit entries, JSON errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import jsonschema_rs
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from accounts.models import Role
from accounts.tokens import issue_token
from actions.models import AuditEntry
from booking.calendar import EARLIEST, LATEST
from booking.models import Booking, BookingStatus, Closure, SessionOverride
from booking.phones import PhoneKind, parse_contact
from hotline.api import schemas
from hotline.api.contract import OPERATIONS, Operation, body, query, reply
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
    # Tuesday 07:30 is a day away: not urgent, and, it being 09:00, not held back by quiet hours either.
    assert all(not m.urgent and m.due_at == NOW and "Ngập lụt" in m.body for m in closure_texts)
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


# -- the document and the code come from one source ----------------------------------------------

def _operation(endpoint: str) -> Operation:
    return OPERATIONS[f"api.{endpoint}"]


def _conforms(document: dict, endpoint: str, response: TestResponse) -> None:
    """`response` is what the document says this route answers with that status, and what its model says."""
    op = _operation(endpoint)
    answer = document["paths"][op.url][op.method]["responses"][str(response.status_code)]
    schema = answer["content"]["application/json"]["schema"]
    jsonschema_rs.validator_for({**schema, "components": document["components"]}).validate(response.get_json())
    model = op.responses.get(response.status_code, schemas.Error)
    model.model_validate(response.get_json())


def test_the_document_names_every_route_s_own_models(client: FlaskClient, app: Flask) -> None:
    """Guards the single source: every route's body, parameters and answers in the document are its models'."""
    document = client.get("/api/v1/openapi.json").get_json()
    components = document["components"]["schemas"]
    rules = {rule.endpoint: rule for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi"}
    assert set(rules) == set(OPERATIONS) and len(OPERATIONS) >= 10

    def ref(model: type[BaseModel]) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    def names(model: type[BaseModel] | None) -> set[str]:
        return {info.alias or name for name, info in model.model_fields.items()} if model else set()

    for endpoint, op in OPERATIONS.items():
        spec = document["paths"][op.url][op.method]
        if op.body is None:
            assert "requestBody" not in spec, endpoint
        else:
            assert spec["requestBody"]["content"]["application/json"]["schema"] == ref(op.body)
            assert spec["requestBody"]["required"] is op.body_required
            assert set(components[op.body.__name__]["properties"]) == names(op.body)
        assert op.responses and all(spec["responses"][str(status)]["content"]["application/json"]["schema"]
                                    == ref(model) for status, model in op.responses.items())
        assert all(spec["responses"][str(status)]["content"]["application/json"]["schema"] == ref(schemas.Error)
                   for status in (*op.errors, 503))
        parameters = {(p["in"], p["name"]) for p in spec.get("parameters", [])}
        assert names(op.path) == set(rules[endpoint].arguments), endpoint
        assert parameters == {("path", n) for n in names(op.path)} | {("query", n) for n in names(op.query)}


def test_a_view_cannot_parse_or_answer_with_a_model_its_route_does_not_declare(app: Flask) -> None:
    """Guards the single source at run time: the document's model is the only one a view can use."""
    with app.test_request_context("/api/v1/bookings", method="POST", json={}):
        with pytest.raises(TypeError):
            body(schemas.Move)
        with pytest.raises(TypeError):
            reply(schemas.Bookings(bookings=[]), 201)
        with pytest.raises(TypeError):
            query(schemas.PhoneQuery)


def test_every_answer_matches_the_document_and_its_model(client: FlaskClient, admin: dict[str, str],
                                                         office: int) -> None:
    """A sample of every route's answers, successes and refusals, validated against the served document."""
    document = client.get("/api/v1/openapi.json").get_json()
    created = client.post("/api/v1/bookings", headers=admin, json={
        "office_id": office, "date": TUESDAY, "session": "S", "phone": "0912 345 678", "name": "Lê Văn Cường"})
    assert created.status_code == 201
    code = created.get_json()["booking"]["code"]
    answers = [
        ("offices", client.get("/api/v1/offices", headers=admin)),
        ("offices", client.get("/api/v1/offices")),
        ("availability", client.get(f"/api/v1/offices/{office}/availability?from=2027-03-01", headers=admin)),
        ("availability", client.get(f"/api/v1/offices/{office}/availability?to=1999-01-01", headers=admin)),
        ("next_available", client.get(f"/api/v1/availability/next?office_id={office}&limit=3", headers=admin)),
        ("create_booking", created),
        ("find_bookings", client.get("/api/v1/bookings?phone=0912345678", headers=admin)),
        ("get_booking", client.get(f"/api/v1/bookings/{code}", headers=admin)),
        ("move_booking", client.post(f"/api/v1/bookings/{code}/move", headers=admin,
                                     json={"office_id": office, "date": "2027-03-03", "session": "C", "window": 0})),
        ("cancel_booking", client.post(f"/api/v1/bookings/{code}/cancel", headers=admin, json={"reason": "ốm"})),
        ("cancel_booking", client.post(f"/api/v1/bookings/{code}/cancel", headers=admin)),
        ("set_session", client.put(f"/api/v1/offices/{office}/sessions/{TUESDAY}/S", headers=admin,
                                   json={"capacity": 4, "start": "07:30", "end": "11:00"})),
        ("close_office", client.post(f"/api/v1/offices/{office}/closures", headers=admin,
                                     json={"start": TUESDAY, "end": TUESDAY, "reason": "Ngập lụt"})),
        ("close_office", client.post("/api/v1/offices/99999/closures", headers=admin,
                                     json={"start": TUESDAY, "end": TUESDAY, "reason": "x"})),
    ]
    assert [r.status_code for _, r in answers] == [200, 401, 200, 422, 200, 201, 200, 200, 200, 200, 409, 200, 201,
                                                   404]
    for endpoint, response in answers:
        _conforms(document, endpoint, response)
    assert answers[11][1].get_json()["session"] == {"date": TUESDAY, "code": "S", "capacity": 4,
                                                    "start_time": "07:30:00", "end_time": "11:00:00"}


def test_the_bounds_the_document_states_are_the_bounds_the_api_enforces(
        client: FlaskClient, operator: dict[str, str], admin: dict[str, str], office: int) -> None:
    """Guards against the document allowing what the parser refuses (the old document stated no bound for
    window, ids or the phone's length, and allowed a blank closure reason that was then refused unnamed)."""
    document = client.get("/api/v1/openapi.json").get_json()
    fields = document["components"]["schemas"]["NewBooking"]["properties"]
    phones = iter(f"0912 345 {n}" for n in range(600, 700))  # one each: a second booking in a session is a 409

    def book(**changes: object) -> TestResponse:
        good = {"office_id": office, "date": TUESDAY, "session": "S", "phone": next(phones)}
        return client.post("/api/v1/bookings", headers=operator, json=good | changes)

    # JSON Schema's integers include 2.0, which the old parser refused; a fraction is still refused.
    whole = book(window=0.0, office_id=float(office))
    assert whole.status_code == 201, whole.get_json()
    fraction = book(window=0.5)
    assert fraction.status_code == 422 and fraction.get_json()["error"]["field"] == "window"
    bounded = {name for name, schema in fields.items() if "maximum" in schema or "maxLength" in schema}
    assert bounded == {"office_id", "procedure_id", "window", "phone", "name"}
    for name in sorted(bounded):  # the seats run out on the way: a 409 is not a refusal of the field
        top = fields[name].get("maximum")
        refused = book(**{name: top + 1 if top is not None else "9" * (fields[name]["maxLength"] + 1)})
        assert refused.status_code == 422 and refused.get_json()["error"]["field"] == name, name
        answer = book(**{name: top if top is not None else "a" * fields[name]["maxLength"]}).get_json()
        assert answer.get("error", {}).get("field") != name, answer
    reason = document["components"]["schemas"]["NewClosure"]["properties"]["reason"]["pattern"]
    assert re.match(reason, "Ngập lụt") and not re.match(reason, "   ")
    blank = client.post(f"/api/v1/offices/{office}/closures", headers=admin,
                        json={"start": TUESDAY, "end": TUESDAY, "reason": "   "})
    assert blank.status_code == 422 and blank.get_json()["error"]["field"] == "reason"


@settings(max_examples=300, deadline=None)
@given(st.from_regex(schemas.PHONE_PATTERN, fullmatch=True))
def test_every_phone_the_document_allows_is_a_mobile_the_domain_takes(number: str) -> None:
    """Guards the documented phone form: a number matching it is never refused as `invalid_phone`."""
    assert parse_contact(number).kind is PhoneKind.MOBILE


def test_the_documented_dates_are_exactly_the_calendar_s_bounds() -> None:
    """Guards the date bounds in the document: `format: date` alone allowed year 1 and 9999, which the API refuses."""
    allowed = re.compile(schemas.DATE_PATTERN)
    for day in (EARLIEST, LATEST, date(2027, 2, 28)):
        assert allowed.match(day.isoformat())
    for day in (EARLIEST - timedelta(days=1), LATEST + timedelta(days=1), date(1, 1, 1)):
        assert not allowed.match(day.isoformat())


def test_a_model_used_outside_a_request_cleans_text_by_the_project_s_one_rule() -> None:
    """Guards that the models call booking.plain_text themselves, not only behind the request gate."""
    good = {"office_id": 1, "date": TUESDAY, "session": "S", "phone": "0912 345 678"}
    assert schemas.NewBooking.model_validate(good | {"name": " Le\u0301 Văn "}).name == "Lé Văn"
    with pytest.raises(ValidationError):
        schemas.NewBooking.model_validate(good | {"name": "a\x07b"})
