"""A capacity or crowd limit lowered below what is booked (issue 12): the settings page says how many are over
and moves or cancels exactly the last booked, through a preview and a confirmation carrying its fingerprint."""

from __future__ import annotations

import re
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.models import AuditEntry
from booking import bookings
from booking.models import Booking, BookingStatus, Office, SessionTemplate
from notifications.models import MessageKind, OutboxMessage
from tests.closure_pages import confirmation
from tests.console import app as app, client as client, offices as offices
from tests.console import csrf, signed_in
from tests.factories import NOW, OPERATOR, POLICY

TUESDAY = date(2027, 3, 2)


def _book(db: Session, office_id: int, n: int, *, window_position: int | None = None) -> list[str]:
    """`n` people booked in Tuesday morning, in queue order; their codes."""
    made = [bookings.book(db, office_id=office_id, day=TUESDAY, code="S", phone=f"+849800000{i:02d}",
                          actor=OPERATOR, now=NOW, policy=POLICY, window_position=window_position)
            for i in range(n)]
    db.commit()
    return [b.code for b in made]


def _where(db: Session, code: str) -> tuple[str, str, BookingStatus]:
    db.rollback()
    booking = db.scalars(select(Booking).where(Booking.code == code)).one()
    return booking.date.isoformat(), booking.queue_label, booking.status


def _save(client: FlaskClient, db: Session, path: str, token: str, **data: object) -> str:
    db.rollback()
    answer = client.post(path, data={"csrf_token": token, **{k: str(v) for k, v in data.items()}},
                         follow_redirects=True)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def _preview(client: FlaskClient, db: Session, office_id: int, token: str, disposition: str, **extra: str) -> str:
    db.rollback()
    answer = client.post(f"/console/offices/{office_id}/settings/over", data={
        "csrf_token": token, "day": TUESDAY.isoformat(), "code": "S", "disposition": disposition, **extra})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def _rows(page: str) -> list[str]:
    """The preview's people, one line each: code, appointment and what becomes of it, without tags."""
    body = page.split("<thead><tr><th>Code</th>", 1)[1].split("</table>", 1)[0]
    return [re.sub(r"<[^>]+>|\s+", " ", row).strip() for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_a_lower_capacity_moves_exactly_the_last_booked_after_a_preview(
        client: FlaskClient, offices: tuple[int, int], db: Session, app: Flask) -> None:
    """Guards "Saved." (or a whole-day closure) as the only answer to a capacity below the bookings."""
    mine, _ = offices
    codes = _book(db, mine, 3)
    token = csrf(signed_in(client, "hoa"), f"/console/offices/{mine}/settings")
    page = _save(client, db, f"/console/offices/{mine}/settings/date", token, day=TUESDAY.isoformat(), code="S",
                 capacity=1)
    assert "Saved. 2 people are booked beyond what the session now holds and keep their seats for now." in page
    assert f'href="/console/offices/{mine}/settings#over">Move or cancel them</a>' in page
    assert '<a class="over" href="#over">2 over</a>' in page and 'id="over-2027-03-02-S"' in page

    preview = _preview(client, db, mine, token, "move", reason="ít cán bộ")
    assert "People over</th><td>2<" in preview
    assert [row.split(" ", 1)[0] for row in _rows(preview)] == codes[1:]  # the last booked, not S-001
    assert all("Moved to Tue 02/03/2027 Afternoon" in row for row in _rows(preview))
    assert db.scalars(select(OutboxMessage)).all() == [] and db.scalars(select(AuditEntry.action)).all() == [
        "session.change"]  # the preview left nothing behind

    db.rollback()
    done = client.post(f"/console/offices/{mine}/settings/over", data=confirmation(preview), follow_redirects=True)
    assert "Done: 2 moved, 0 cancelled; each is sent an SMS." in done.get_data(as_text=True)
    assert _where(db, codes[0]) == ("2027-03-02", "S-001", BookingStatus.BOOKED)
    assert [_where(db, code)[1][0] for code in codes[1:]] == ["C", "C"]
    texts = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.MOVE)).all()
    moved_ids = set(db.scalars(select(Booking.id).where(Booking.code.in_(codes[1:]))))
    assert sorted(t.booking_id or 0 for t in texts) == sorted(moved_ids)  # one text each, to those moved only
    assert all("ít cán bộ" in t.body for t in texts)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "session.over_capacity")).one()
    assert entry.actor == "user:hoa" and entry.after is not None
    assert [b["code"] for b in entry.after["bookings"]] == codes[1:]
    assert 'id="over"' not in client.get(f"/console/offices/{mine}/settings").get_data(as_text=True)
    db.rollback()
    audit_page = signed_in(app.test_client(), "admin").get("/console/audit").get_data(as_text=True)
    assert "People over a session&#39;s capacity moved or cancelled" in audit_page


def test_a_confirmation_whose_preview_no_longer_holds_is_refused_with_409(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    codes = _book(db, mine, 3)
    token = csrf(signed_in(client, "hoa"), f"/console/offices/{mine}/settings")
    _save(client, db, f"/console/offices/{mine}/settings/date", token, day=TUESDAY.isoformat(), code="S",
          capacity=1)
    preview = _preview(client, db, mine, token, "cancel_and_notify")
    assert [row.split(" ", 1)[0] for row in _rows(preview)] == codes[1:]
    db.rollback()
    gone = db.scalars(select(Booking).where(Booking.code == codes[2])).one()
    bookings.cancel(db, booking_id=gone.id, actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    refused = client.post(f"/console/offices/{mine}/settings/over", data=confirmation(preview))
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "have changed since the preview" in page
    assert [row.split(" ", 1)[0] for row in _rows(page)] == [codes[1]]  # the new preview: one over now
    assert _where(db, codes[1])[2] is BookingStatus.BOOKED  # nothing was done
    assert db.scalars(select(AuditEntry.action).where(AuditEntry.action == "session.over_capacity")).all() == []
    db.rollback()
    done = client.post(f"/console/offices/{mine}/settings/over", data=confirmation(page), follow_redirects=True)
    assert "Done: 0 moved, 1 cancelled; each is sent an SMS." in done.get_data(as_text=True)
    assert _where(db, codes[1])[2] is BookingStatus.CANCELLED and _where(db, codes[0])[2] is BookingStatus.BOOKED
    cancelled_id = db.scalars(select(Booking.id).where(Booking.code == codes[1])).one()
    assert db.scalars(select(OutboxMessage.booking_id).where(
        OutboxMessage.kind == MessageKind.CANCELLATION)).all() == [cancelled_id]


def test_a_lower_crowd_limit_names_the_last_booked_of_each_crowded_window(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    office = db.get(Office, mine)
    assert office is not None
    office.crowd_limit = 3
    for template in db.scalars(select(SessionTemplate).where(SessionTemplate.office_id == mine)):
        template.capacity = 20
    db.commit()
    first = _book(db, mine, 3, window_position=0)  # three in the 07:30 window
    token = csrf(signed_in(client, "hoa"), f"/console/offices/{mine}/settings")
    page = _save(client, db, f"/console/offices/{mine}/settings/crowd", token, crowd_limit=1)
    assert "Saved. 2 people are booked beyond what the session now holds" in page
    preview = _preview(client, db, mine, token, "move")
    rows = _rows(preview)
    assert [row.split(" ", 1)[0] for row in rows] == first[1:]
    # Never into an earlier window, nor the same session (rehousing's rule): that afternoon.
    assert all("Moved to Tue 02/03/2027 Afternoon" in row for row in rows)
    db.rollback()
    client.post(f"/console/offices/{mine}/settings/over", data=confirmation(preview))
    assert _where(db, first[0])[1] == "S-001"
    assert db.scalars(select(Booking.arrival_start).where(Booking.code == first[0])).one().strftime("%H:%M") == "07:30"
    assert 'class="over"' not in client.get(f"/console/offices/{mine}/settings").get_data(as_text=True)


def test_the_over_form_refuses_what_it_cannot_do_with_words_not_a_500(
        client: FlaskClient, offices: tuple[int, int], db: Session, app: Flask) -> None:
    mine, other = offices
    _book(db, mine, 2)
    token = csrf(signed_in(client, "hoa"), f"/console/offices/{mine}/settings")
    _save(client, db, f"/console/offices/{mine}/settings/date", token, day=TUESDAY.isoformat(), code="S",
          capacity=1)
    path = f"/console/offices/{mine}/settings/over"
    leave = client.post(path, data={"csrf_token": token, "day": TUESDAY.isoformat(), "code": "S",
                                    "disposition": "leave"}, follow_redirects=True)
    assert leave.status_code == 200 and "Not a valid choice" in leave.get_data(as_text=True)
    bogus = client.post(path, data={"csrf_token": token, "day": "tuesday", "code": "S", "disposition": "move"})
    assert bogus.status_code == 302
    assert client.post(f"/console/offices/{other}/settings/over", data={
        "csrf_token": token, "day": TUESDAY.isoformat(), "code": "S", "disposition": "move"}).status_code == 403
    db.rollback()
    operator = signed_in(app.test_client(), "lan")
    assert operator.post(path, data={"csrf_token": csrf(operator, "/console/lookup"), "day": TUESDAY.isoformat(), "code": "S",
                                   "disposition": "move"}).status_code == 403


def test_a_closure_confirmed_after_its_preview_changed_answers_409_with_the_new_preview(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """The settings page's closure and the over-capacity form answer a stale confirmation alike."""
    mine, _ = offices
    codes = _book(db, mine, 2)
    token = csrf(signed_in(client, "hoa"), f"/console/offices/{mine}/settings")
    path = f"/console/offices/{mine}/settings/closures"
    db.rollback()
    preview = client.post(path, data={"csrf_token": token, "start": TUESDAY.isoformat(), "end": TUESDAY.isoformat(),
                                      "reason": "mất điện", "disposition": "cancel_and_notify"})
    assert preview.status_code == 200
    gone = db.scalars(select(Booking).where(Booking.code == codes[0])).one()
    bookings.cancel(db, booking_id=gone.id, actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    refused = client.post(path, data=confirmation(preview.get_data(as_text=True)))
    assert refused.status_code == 409 and "have changed since the preview" in refused.get_data(as_text=True)
    assert _where(db, codes[1])[2] is BookingStatus.BOOKED
