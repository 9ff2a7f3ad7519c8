"""Every channel that offers an action gives the same outcome, the same SMS and the same audit entry.

The IVR, the console, the API and SMS replies each call one function of `actions/`; these tests
run the same action through each channel that offers it, from the same starting point, on both
engines, and compare what each left behind: the booking's state, the texts queued (recipient and
code written generically) and the audit entries (everything but who and when).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.security import generate_password_hash

from accounts.models import Role
from accounts.tokens import issue_token
from accounts.users import create_user
from actions.models import AuditEntry
from booking import bookings
from booking.models import Booking, Citizen
from notifications.models import OutboxMessage
from tests.console import PASSWORD, csrf, login
from tests.factories import NOW, OPERATOR, POLICY, at, make_office, make_procedure, phone
from tests.ivr_caller import BASE, Caller

TOKEN = "secret-token"
TUESDAY = date(2027, 3, 2)
LAST_FRIDAY = date(2027, 2, 26)
QUEUE = re.compile(r"\b[A-Z]-\d{3}\b")
WINDOW = re.compile(r"\b\d{2}:\d{2}-\d{2}:\d{2}\b")  # the arrival window, which moves on with each booking


@dataclass
class World:
    app: Flask
    db: Session
    office: int
    other: int  # an office at province level, which takes no commune procedure
    api: dict[str, str]
    console: FlaskClient


@pytest.fixture
def world(make_app: Callable[..., Flask], db: Session) -> World:
    office = make_office(db, keypad_number=1, name="Trung tâm Phục vụ hành chính công xã Năm Căn")
    other = make_office(db, keypad_number=2, level="province", name="Trung tâm Phục vụ hành chính công tỉnh Cà Mau")
    create_user(db, username="lan", password_hash=generate_password_hash(PASSWORD), role=Role.OPERATOR, now=NOW)
    _, token = issue_token(db, name="portal", role=Role.OPERATOR, created_by="test", now=NOW)
    db.commit()
    app = make_app(twilio_auth_token=TOKEN)
    console = app.test_client()
    db.rollback()
    assert login(console, "lan") == 302
    return World(app, db, office.id, other.id, {"Authorization": f"Bearer {token}"}, console)


@dataclass(frozen=True)
class Booked:
    """A booking's id, code and phone as plain values: reading an ORM object again would open a transaction
    of the test's own, and on SQLite (BEGIN IMMEDIATE) that holds the write lock the app needs."""

    id: int
    code: str
    phone: str


def _book(world: World, n: int, *, day: date = TUESDAY, made: datetime = NOW, procedure_id: int | None = None,
          code: str = "S") -> Booked:
    world.db.rollback()
    booking = bookings.book(world.db, office_id=world.office, day=day, code=code, phone=phone(n), actor=OPERATOR,
                            now=made, policy=POLICY, procedure_id=procedure_id)
    booked = Booked(booking.id, booking.code, booking.phone)
    world.db.commit()
    return booked


def _after(world: World, booking: Booked, since: tuple[int, int]) -> dict[str, Any]:
    """What the action left: the booking's state, its texts and audit entries after `since` (ids), generically."""
    db = world.db
    db.rollback()
    fresh = db.get(Booking, booking.id)
    assert fresh is not None
    generic = {fresh.code: "<code>", fresh.phone: "<phone>"}

    def plain(value: Any) -> Any:
        if isinstance(value, dict):  # each booking is the next in its session: its queue number and window move on
            return {k: plain(v) for k, v in value.items() if k not in ("channel", "queue", "arrival_start",
                                                                         "arrival_end")}
        return generic.get(value, value) if isinstance(value, str) else value

    texts = [(m.kind.value, plain(m.recipient), QUEUE.sub("<queue>", m.body.replace(fresh.code, "<code>")))
             for m in db.scalars(select(OutboxMessage).where(OutboxMessage.id > since[0]).order_by(OutboxMessage.id))]
    audit = [(e.action, plain(e.target_id), plain(e.before), plain(e.after), e.office_id)
             for e in db.scalars(select(AuditEntry).where(AuditEntry.id > since[1],
                                                          AuditEntry.target_type == "booking")
                                 .order_by(AuditEntry.id))]
    result = {"status": fresh.status.value, "date": fresh.date, "office": fresh.office_id,
              "session": fresh.session_code, "texts": texts, "audit": audit}
    db.rollback()  # a read left open would keep SQLite's snapshot, and the next write of the test would fail
    return result


def _marks(world: World) -> tuple[int, int]:
    world.db.rollback()
    last_sms = world.db.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)) or 0
    last_audit = world.db.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) or 0
    world.db.rollback()
    return last_sms, last_audit


def _caller(world: World, booking: Booked) -> Caller:
    return Caller(world.app.test_client(), TOKEN, caller=booking.phone, before_request=world.db.rollback)


def _sms(world: World, sender: str, body: str) -> None:
    world.db.rollback()
    params = {"MessageSid": "SM" + "7" * 32, "AccountSid": "AC" + "0" * 32, "From": sender, "To": "HCCCAMAU",
              "Body": body, "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01"}
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/sms/inbound", params)
    response = world.app.test_client().post(BASE + "/sms/inbound", data=params,
                                            headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200


# -- cancel ---------------------------------------------------------------------------------------

def cancel_by_ivr(world: World, booking: Booked) -> None:
    call = _caller(world, booking)
    call.ring()
    for key in ("2", "1", "1", "1"):  # check, the first booking, cancel, yes
        call.press(key)


def cancel_by_code_on_the_phone(world: World, booking: Booked) -> None:
    call = Caller(world.app.test_client(), TOKEN, caller="anonymous", before_request=world.db.rollback)
    call.ring()
    call.press("2")  # withheld number: asked for the code straight away
    call.press(booking.code)
    call.press("1")  # cancel
    call.press("1")  # yes


def cancel_by_console(world: World, booking: Booked) -> None:
    world.db.rollback()
    token = csrf(world.console, f"/console/bookings/{booking.code}")
    world.console.post(f"/console/bookings/{booking.code}/cancel", data={"csrf_token": token})


def cancel_by_api(world: World, booking: Booked) -> None:
    world.db.rollback()
    world.app.test_client().post(f"/api/v1/bookings/{booking.code}/cancel", json={}, headers=world.api)


def cancel_by_sms(world: World, booking: Booked) -> None:
    _sms(world, booking.phone, f"HUY {booking.code}")


CANCELLERS = [cancel_by_ivr, cancel_by_code_on_the_phone, cancel_by_console, cancel_by_api, cancel_by_sms]


def _through_each(world: World, channels: Sequence[Callable[[World, Booked], None]],
                  arrange: Callable[[int], Booked]) -> Iterator[tuple[str, dict[str, Any]]]:
    for n, channel in enumerate(channels, start=1):
        booking = arrange(n)
        since = _marks(world)
        channel(world, booking)
        yield channel.__name__, _after(world, booking, since)


def _all_alike(results: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    (first_name, first), *rest = results
    for name, result in rest:
        assert result == first, f"{name} differs from {first_name}"
    return first


def test_cancelling_is_the_same_on_every_channel(world: World) -> None:
    outcome = _all_alike(list(_through_each(world, CANCELLERS, lambda n: _book(world, n))))
    assert outcome["status"] == "cancelled"
    assert [kind for kind, _to, _body in outcome["texts"]] == ["cancellation"]
    assert [(action, before["status"], after["status"]) for action, _t, before, after, _o in outcome["audit"]] == [
        ("booking.cancel", "booked", "cancelled")]


def test_a_past_appointment_is_cancelled_by_no_channel(world: World) -> None:
    """The IVR refused to cancel a past appointment still marked booked; SMS, API and console cancelled it."""
    made = at(2027, 2, 25)
    outcome = _all_alike(list(_through_each(
        world, [cancel_by_code_on_the_phone, cancel_by_console, cancel_by_api, cancel_by_sms],
        lambda n: _book(world, n, day=LAST_FRIDAY, made=made))))
    assert (outcome["status"], outcome["texts"], outcome["audit"]) == ("booked", [], [])


# -- move -----------------------------------------------------------------------------------------

def _move_to(world: World, office: int, day: date, session: str) -> tuple[Callable[[World, Booked], None], ...]:
    def move_by_console(w: World, booking: Booked) -> None:
        w.db.rollback()
        token = csrf(w.console, f"/console/bookings/{booking.code}/move")
        w.console.post(f"/console/bookings/{booking.code}/move",
                       data={"csrf_token": token, "office_id": office, "day": day.isoformat(), "session": session})

    def move_by_api(w: World, booking: Booked) -> None:
        w.db.rollback()
        w.app.test_client().post(f"/api/v1/bookings/{booking.code}/move", headers=w.api,
                                 json={"office_id": office, "date": day.isoformat(), "session": session})

    return move_by_console, move_by_api


def test_moving_is_the_same_on_every_channel(world: World) -> None:
    outcome = _all_alike(list(_through_each(world, list(_move_to(world, world.office, TUESDAY, "C")),
                                            lambda n: _book(world, n))))
    assert (outcome["status"], outcome["session"]) == ("booked", "C")
    assert [kind for kind, _to, _body in outcome["texts"]] == ["move"]
    assert [action for action, *_ in outcome["audit"]] == ["booking.move"]


def test_no_channel_moves_a_booking_to_an_office_that_does_not_take_its_procedure(world: World) -> None:
    """Booking refused a procedure the office does not offer; moving there accepted it."""
    birth = make_procedure(world.db, at_province=False, at_commune=True)
    world.db.commit()
    outcome = _all_alike(list(_through_each(world, list(_move_to(world, world.other, TUESDAY, "S")),
                                            lambda n: _book(world, n, procedure_id=birth.id))))
    assert (outcome["office"], outcome["texts"], outcome["audit"]) == (world.office, [], [])


# -- book -----------------------------------------------------------------------------------------

def book_by_ivr(world: World, n: int) -> None:
    call = Caller(world.app.test_client(), TOKEN, caller=phone(n), before_request=world.db.rollback)
    call.ring()
    for key in ("1", "2", "0", "2", "1", "1"):  # book, the list of every office, Năm Căn, its first session, confirm
        call.press(key)


def book_by_console(world: World, n: int) -> None:
    world.db.rollback()
    path = f"/console/book/{world.office}/{(NOW + timedelta(hours=0)).date().isoformat()}/C"
    token = csrf(world.console, path)
    world.console.post(path, data={"csrf_token": token, "office_id": world.office, "day": NOW.date().isoformat(),
                                   "session": "C", "phone": phone(n), "name": "", "procedure_id": "0",
                                   "language": "vi"})


def book_by_api(world: World, n: int) -> None:
    world.db.rollback()
    world.app.test_client().post("/api/v1/bookings", headers=world.api,
                                 json={"office_id": world.office, "date": NOW.date().isoformat(), "session": "C",
                                       "phone": phone(n)})


def test_booking_is_the_same_on_every_channel(world: World) -> None:
    results = []
    for n, channel in enumerate([book_by_ivr, book_by_console, book_by_api], start=1):
        since = _marks(world)
        channel(world, n)
        world.db.rollback()
        found = world.db.scalars(select(Booking).where(Booking.phone == phone(n))).one()
        booking = Booked(found.id, found.code, found.phone)
        result = _after(world, booking, since)
        results.append((channel.__name__, result | {"texts": [(k, to, WINDOW.sub("<window>", body))
                                                              for k, to, body in result["texts"]]}))
    outcome = _all_alike(results)
    assert (outcome["status"], outcome["session"]) == ("booked", "C")
    assert [kind for kind, *_ in outcome["texts"]] == ["confirmation"]
    assert [action for action, *_ in outcome["audit"]] == ["booking.create"]


# -- notices --------------------------------------------------------------------------------------

def test_stopping_notices_is_the_same_by_phone_and_by_sms(world: World) -> None:
    by_phone = Caller(world.app.test_client(), TOKEN, caller=phone(1), before_request=world.db.rollback)
    by_phone.ring()
    by_phone.press("4")  # notices
    by_phone.press("1")  # stop them
    _sms(world, phone(2), "DỪNG")
    world.db.rollback()
    stopped = {n: world.db.get(Citizen, phone(n)) for n in (1, 2)}
    assert all(c is not None and c.broadcast_opt_out for c in stopped.values())
    entries = world.db.scalars(select(AuditEntry).where(AuditEntry.target_type == "citizen")
                               .order_by(AuditEntry.id)).all()
    assert [(e.action, e.target_id, e.after) for e in entries] == [
        ("citizen.notices_off", phone(1), {"receives_notices": False}),
        ("citizen.notices_off", phone(2), {"receives_notices": False})]
