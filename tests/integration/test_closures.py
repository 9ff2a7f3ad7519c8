"""Closing an office: one action behind the roster's form, the settings page and the API.

The same closure gives the same outcome, texts and audit entry whichever edge asks; a move never
goes to an earlier session; the texts keep the quiet hours unless the appointment is close at hand;
only an office's managers (the province's: administrators) close it; the preview is what the
confirmation does.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from accounts.models import Role
from accounts.users import create_user
from actions.context import Actor, Context
from actions.errors import NotAllowed
from actions.models import AuditEntry
from actions.offices import (CLOSE_AT_HAND, Disposition, Outcome, PlanChanged, cancel_session_on_date, close_office,
                             preview_closure, reopen)
from booking import bookings
from booking.errors import NotFound
from booking.models import Booking, BookingStatus, Closure
from notifications.models import MessageKind, OutboxMessage
from notifications.policy import SmsPolicy
from tests.closure_pages import close_through_preview, confirmation
from tests.console import PASSWORD, csrf, login
from tests.console import app as app, client as client, offices as offices
from tests.factories import NOW, OPERATOR, POLICY, VN, at, make_office, phone
from tests.outbox import PlainLocalizer

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = (date(2027, 3, d) for d in range(1, 6))
SMS = SmsPolicy()  # quiet hours 21:00-07:00


def _context(db: Session, actor: Actor, now: datetime = NOW) -> Context:
    return Context(db=db, actor=actor, now=now, policy=POLICY, sms=SMS, localizer=PlainLocalizer)


def _manager(*office_ids: int) -> Actor:
    return Actor.staff("user:minh", Role.MANAGER, frozenset(office_ids))


def _book(db: Session, office_id: int, n: int, day: date, code: str, now: datetime = NOW) -> Booking:
    return bookings.book(db, office_id=office_id, day=day, code=code, phone=phone(n), actor=OPERATOR, now=now,
                         policy=POLICY)


# -- the same closure through every edge -------------------------------------------------------------

def _arrange(db: Session, k: int) -> tuple[int, list[str]]:
    """An office bookable Monday to Wednesday with three people on Tuesday and room for two of them on
    Wednesday (a morning seat and an afternoon one); the codes in queue order."""
    office = make_office(db, code=f"EDGE{k}", name="Bộ phận Một cửa xã Năm Căn", morning=2, afternoon=1,
                         horizon_days=2)
    booked = [_book(db, office.id, 100 * k + 1, TUESDAY, "S"), _book(db, office.id, 100 * k + 2, TUESDAY, "S"),
              _book(db, office.id, 100 * k + 3, TUESDAY, "C")]
    _book(db, office.id, 100 * k + 9, WEDNESDAY, "S")
    return office.id, [b.code for b in booked]


def _outcome(db: Session, office_id: int, codes: list[str]) -> dict[str, Any]:
    """What the closure did at this office, with its codes, phones and ids written as positions."""
    db.rollback()
    names = {code: f"#{i}" for i, code in enumerate(codes)}

    def plain(text: str) -> str:
        for code, name in names.items():
            text = text.replace(code, name)
        return re.sub(r"\+84\d+", "PHONE", text)

    rows = {b.code: b for b in db.scalars(select(Booking).where(Booking.code.in_(codes)))}
    texts = db.scalars(select(OutboxMessage).where(OutboxMessage.booking_id.in_([b.id for b in rows.values()]))
                       .order_by(OutboxMessage.booking_id))
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "office.close",
                                                AuditEntry.office_id == office_id)).one()
    assert entry.after is not None and entry.after["office_id"] == office_id and entry.after["closure_id"]

    def same_anywhere(value: Any) -> Any:  # without the ids that differ by office
        if isinstance(value, dict):
            return {k: same_anywhere(v) for k, v in value.items() if k not in ("office_id", "closure_id")}
        if isinstance(value, list):
            return [same_anywhere(v) for v in value]
        return plain(value) if isinstance(value, str) else value

    outcome = {
        "bookings": [(names[c], rows[c].status, rows[c].date, rows[c].session_code, rows[c].queue_label,
                      rows[c].arrival_start) for c in codes],
        "texts": [(m.kind, plain(m.body), m.urgent, m.due_at) for m in texts],
        "audit": (entry.actor, entry.target_type, same_anywhere(entry.after)),
    }
    db.rollback()
    return outcome


def test_the_roster_the_settings_page_and_the_api_close_an_office_alike(app: Flask, db: Session) -> None:
    """Guards the three closures: the roster moved people and sent a broadcast, the settings page only
    forwarded to it, the API never moved anyone and audited another payload. One manager closes three
    like offices the same way through each edge, and everything they did matches."""
    arranged = [_arrange(db, k) for k in range(3)]
    create_user(db, username="minh", password_hash=generate_password_hash(PASSWORD), role=Role.MANAGER, now=NOW,
                office_codes=("EDGE0", "EDGE1", "EDGE2"))
    db.commit()
    client = app.test_client()
    assert login(client, "minh") == 302
    token = csrf(client, "/console/lookup")
    form = {"csrf_token": token, "start": TUESDAY.isoformat(), "end": TUESDAY.isoformat(), "reason": "Mưa bão",
            "disposition": "move"}
    (roster, _), (settings, _), (api, _) = arranged
    _, done = close_through_preview(client, f"/console/offices/{roster}/closures", form)
    assert done.status_code == 302
    _, done = close_through_preview(client, f"/console/offices/{settings}/settings/closures", form)
    assert done.status_code == 302
    asked = {"start": TUESDAY.isoformat(), "end": TUESDAY.isoformat(), "reason": "Mưa bão", "disposition": "move"}
    preview = client.post(f"/api/v1/offices/{api}/closures/preview", json=asked)
    assert preview.status_code == 200, preview.get_json()
    done = client.post(f"/api/v1/offices/{api}/closures", json=asked | {"expect": preview.get_json()["fingerprint"]})
    assert done.status_code == 201, done.get_json()
    assert (done.get_json()["moved"], done.get_json()["cannot_move"]) == (2, 1)

    outcomes = [_outcome(db, office_id, codes) for office_id, codes in arranged]
    assert outcomes[0] == outcomes[1] == outcomes[2]
    expected = outcomes[0]
    # Each moved to a session no earlier than their own: the first to Wednesday's last morning seat, the
    # second to Wednesday afternoon; Tuesday afternoon's person has nowhere later to go and is cancelled (the
    # morning's people come first, as they would have come: ordered by session code, C came before S).
    assert [row[1:4] for row in expected["bookings"]] == [
        (BookingStatus.BOOKED, WEDNESDAY, "S"), (BookingStatus.BOOKED, WEDNESDAY, "C"),
        (BookingStatus.CANCELLED, TUESDAY, "C")]
    kinds = [(kind, urgent, due) for kind, _, urgent, due in expected["texts"]]
    assert kinds == [(MessageKind.MOVE, False, NOW), (MessageKind.MOVE, False, NOW),
                     (MessageKind.CLOSURE, False, NOW)]  # one text each, none a broadcast
    assert "#0" in expected["texts"][0][1] and all("Mưa bão" in text for _, text, _, _ in expected["texts"])
    assert expected["audit"][:2] == ("user:minh", "closure")
    assert [(f["code"], f["outcome"]) for f in expected["audit"][2]["bookings"]] == [
        ("#0", "moved"), ("#1", "moved"), ("#2", "cancelled")]


# -- a move goes later, never earlier -------------------------------------------------------------

def test_a_closure_at_night_moves_thursday_to_friday_and_texts_in_the_morning(db: Session) -> None:
    """Guards the reported move: at 02:45 on Wednesday Thursday closed, and its people were moved onto
    Wednesday morning, with the text leaving at 02:45. Now they go to Friday morning (Thursday's
    afternoon is closed too) and are told when the quiet hours end, Thursday being more than 12 hours off."""
    office = make_office(db)
    night = at(2027, 3, 3, 2, 45)
    booking = _book(db, office.id, 1, THURSDAY, "S")
    outcome = close_office(_context(db, _manager(office.id), night), office_id=office.id, start=THURSDAY,
                           end=THURSDAY, reason="Bão", disposition=Disposition.MOVE)
    (fate,) = outcome.fates
    assert fate.outcome is Outcome.MOVED and fate.now_at is not None
    assert (fate.now_at.date, fate.now_at.session) == (FRIDAY, "S")
    db.refresh(booking)
    assert (booking.date, booking.session_code, booking.arrival_start) == (FRIDAY, "S", time(7, 30))
    sms = db.scalars(select(OutboxMessage)).one()
    assert (sms.kind, sms.urgent, sms.due_at) == (MessageKind.MOVE, False, at(2027, 3, 3, 7, 0))


def test_a_move_never_goes_to_an_earlier_session_even_with_room_there(db: Session) -> None:
    """Monday afternoon and Tuesday morning have room and come first; Tuesday afternoon's person goes to
    Wednesday, and whoever has no later room in the horizon is cancelled rather than moved earlier."""
    office = make_office(db, horizon_days=2)  # Monday to Wednesday
    afternoon = _book(db, office.id, 1, TUESDAY, "C")
    last = _book(db, office.id, 2, WEDNESDAY, "C")  # nothing later within the horizon
    cancelled_session = close_office(_context(db, _manager(office.id)), office_id=office.id, start=WEDNESDAY,
                                     end=WEDNESDAY, reason="Sửa điện", disposition=Disposition.MOVE)
    (fate,) = cancelled_session.fates
    assert (fate.code, fate.outcome, fate.tried_to_move) == (last.code, Outcome.CANCELLED, True)
    (moved,) = cancel_session_on_date(_context(db, _manager(office.id)), office_id=office.id, day=TUESDAY, code="C",
                                      note="Họp", disposition=Disposition.MOVE)
    # Wednesday is closed now; Tuesday's own morning, Monday's afternoon are earlier: nowhere to go.
    assert (moved.code, moved.outcome, moved.tried_to_move) == (afternoon.code, Outcome.CANCELLED, True)


# -- when the texts go ---------------------------------------------------------------------------------

def test_texts_keep_the_quiet_hours_unless_the_appointment_is_within_12_hours(db: Session) -> None:
    """At 21:00 on Monday, Tuesday 07:30 is 10½ hours away: told at once. Tuesday 13:30 (16½ hours) and
    Wednesday wait for 07:00. The same closure at 15:00 tells everyone at once (no quiet hours then)."""
    assert CLOSE_AT_HAND.total_seconds() == 12 * 3600
    evening = at(2027, 3, 1, 21, 0)
    for k, now in enumerate((evening, at(2027, 3, 1, 15, 0))):
        office = make_office(db)
        codes = [_book(db, office.id, 10 * k + n, day, code).code
                 for n, (day, code) in enumerate(((TUESDAY, "S"), (TUESDAY, "C"), (WEDNESDAY, "S")))]
        outcome = close_office(_context(db, _manager(office.id), now), office_id=office.id, start=TUESDAY,
                               end=WEDNESDAY, reason="Bão", disposition=Disposition.CANCEL_AND_NOTIFY)
        assert [f.code for f in outcome.fates] == codes
        sent = {m.booking_id: (m.urgent, m.due_at) for m in db.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == MessageKind.CLOSURE))}
        due = [sent[db.scalars(select(Booking.id).where(Booking.code == c)).one()] for c in codes]
        assert [f.notice_due for f in outcome.fates] == [when for _, when in due]
        if now == evening:
            assert due == [(True, evening), (False, at(2027, 3, 2, 7, 0)), (False, at(2027, 3, 2, 7, 0))]
        else:
            assert due == [(False, now)] * 3


def test_the_12_hours_count_to_the_arrival_time_on_the_offices_clock(db: Session) -> None:
    """Exactly 12 hours before Tuesday 07:30 (Monday 19:30) is close at hand; a minute earlier is not (and
    at 19:29 there are no quiet hours to wait for, so both go at once, one of them marked urgent)."""
    for k, (now, urgent) in enumerate(((at(2027, 3, 1, 19, 30), True), (at(2027, 3, 1, 19, 29), False))):
        office = make_office(db)
        _book(db, office.id, 50 + k, TUESDAY, "S")
        (fate,) = close_office(_context(db, _manager(office.id), now), office_id=office.id, start=TUESDAY,
                               end=TUESDAY, reason="Bão", disposition=Disposition.CANCEL_AND_NOTIFY).fates
        message = db.scalars(select(OutboxMessage).where(OutboxMessage.recipient == phone(50 + k))).one()
        assert (message.urgent, message.due_at, fate.notice_due) == (urgent, now, now)
    assert datetime.combine(TUESDAY, time(7, 30), VN) - at(2027, 3, 1, 19, 30) == CLOSE_AT_HAND


# -- who may close --------------------------------------------------------------------------------

def test_a_manager_closes_only_their_own_office_and_an_operator_none(db: Session) -> None:
    mine, other = make_office(db), make_office(db)
    _book(db, other.id, 1, TUESDAY, "S")
    asked: dict[str, Any] = dict(start=TUESDAY, end=TUESDAY, reason="Bão", disposition=Disposition.CANCEL_AND_NOTIFY)
    refusals = [(_manager(mine.id), other.id), (_manager(mine.id), None),
                (Actor.staff("user:lan", Role.OPERATOR, frozenset()), mine.id),
                (Actor.token("api:portal", Role.OPERATOR), other.id),
                (Actor.caller("CA1", verified_mobile=phone(1)), other.id)]
    for actor, office_id in refusals:
        for act in (close_office, preview_closure):
            with pytest.raises(NotAllowed):
                act(_context(db, actor), office_id=office_id, **asked)
    assert db.scalar(select(func.count()).select_from(Closure)) == 0
    assert db.scalars(select(Booking.status)).one() is BookingStatus.BOOKED
    province = close_office(_context(db, Actor.staff("user:admin", Role.ADMIN, frozenset())), office_id=None,
                            **asked)
    assert province.affected == 1  # every office's people, for an administrator
    assert province.closure_id is not None
    with pytest.raises(NotFound):  # a province-wide closure is lifted by administrators only
        reopen(_context(db, _manager(mine.id)), closure_id=province.closure_id, office_id=mine.id)
    own = close_office(_context(db, _manager(mine.id)), office_id=mine.id, **asked)
    assert own.closure_id is not None
    with pytest.raises(NotAllowed):
        reopen(_context(db, _manager(other.id)), closure_id=own.closure_id)


def test_the_edges_refuse_a_manager_at_another_office_and_an_operator_anywhere(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, other = offices
    form = {"start": TUESDAY.isoformat(), "end": TUESDAY.isoformat(), "reason": "Bão",
            "disposition": "cancel_and_notify", "confirm": "1"}
    for user, office_id in (("hoa", other), ("lan", mine), ("lan", other)):
        login(client, user)
        token = csrf(client, "/console/lookup")
        for path in (f"/console/offices/{office_id}/closures", f"/console/offices/{office_id}/settings/closures"):
            assert client.post(path, data=form | {"csrf_token": token}).status_code == 403, (user, path)
        for path in (f"/api/v1/offices/{office_id}/closures", f"/api/v1/offices/{office_id}/closures/preview"):
            assert client.post(path, json={k: v for k, v in form.items() if k != "confirm"}).status_code == 403
        client.post("/console/logout", data={"csrf_token": token})
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Closure)) == 0
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == 0


# -- the preview is what the confirmation does ----------------------------------------------------------

def test_the_preview_writes_nothing_and_is_what_the_closure_then_does(db: Session) -> None:
    office = make_office(db, morning=2, afternoon=1, horizon_days=2)
    for n, code in enumerate(("S", "S", "C")):
        _book(db, office.id, n, TUESDAY, code)
    ctx = _context(db, _manager(office.id))
    asked: dict[str, Any] = dict(office_id=office.id, start=TUESDAY, end=TUESDAY, reason="Bão", disposition=Disposition.MOVE)
    before = [(b.code, b.status, b.date, b.session_code) for b in db.scalars(select(Booking).order_by(Booking.id))]
    preview = preview_closure(ctx, **asked)
    assert preview.closure_id is None and [f.outcome for f in preview.fates] == [Outcome.MOVED] * 3
    db.expire_all()
    assert [(b.code, b.status, b.date, b.session_code) for b in db.scalars(select(Booking).order_by(Booking.id))] \
        == before
    for table in (Closure, OutboxMessage, AuditEntry):
        assert db.scalar(select(func.count()).select_from(table)) == 0, table

    # Somebody books Wednesday morning meanwhile: one of the three no longer finds a later seat, so the
    # confirmed preview no longer holds, and nothing is done.
    _book(db, office.id, 7, WEDNESDAY, "S")
    savepoint = db.begin_nested()
    with pytest.raises(PlanChanged):
        close_office(ctx, expect=preview.fingerprint, **asked)
    savepoint.rollback()  # what the edge's transaction does with the refusal
    assert db.scalar(select(func.count()).select_from(Closure)) == 0

    fresh = preview_closure(ctx, **asked)
    done = close_office(ctx, expect=fresh.fingerprint, **asked)
    assert done.closure_id is not None and done.fingerprint == fresh.fingerprint != preview.fingerprint
    assert [f.outcome for f in done.fates] == [Outcome.MOVED, Outcome.MOVED, Outcome.CANCELLED]
    assert [(f.code, f.outcome, f.now_at, f.notice_due) for f in done.fates] == [
        (f.code, f.outcome, f.now_at, f.notice_due) for f in fresh.fates]
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 3


def test_a_confirmation_whose_preview_no_longer_holds_shows_the_new_preview(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    first = _book(db, mine, 1, TUESDAY, "S").code
    db.commit()
    login(client, "hoa")
    token = csrf(client, "/console/lookup")
    form = {"csrf_token": token, "start": TUESDAY.isoformat(), "end": TUESDAY.isoformat(), "reason": "Bão",
            "disposition": "cancel_and_notify"}
    page = client.post(f"/console/offices/{mine}/closures", data=form).get_data(as_text=True)
    assert "Bão" in page and 'name="expect"' in page
    db.rollback()
    assert first in page
    second = _book(db, mine, 2, TUESDAY, "S").code  # one more person booked since the preview
    db.commit()
    answer = client.post(f"/console/offices/{mine}/closures", data=confirmation(page))
    assert answer.status_code == 409  # the preview again, with both people (as the API answers)
    assert first in answer.get_data(as_text=True) and second in answer.get_data(as_text=True)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Closure)) == 0
    assert set(db.scalars(select(Booking.status))) == {BookingStatus.BOOKED}
