"""The waitlist in the console, on both engines: an operator puts a caller on a full session's list, and
confirms the place held for them when a seat comes free."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions import bookings as booking_actions
from actions.models import AuditEntry
from booking.models import Booking, BookingStatus, WaitlistEntry, WaitlistStatus
from notifications.models import MessageKind, OutboxMessage
from tests.console import app as app  # the console's fixtures
from tests.console import client as client
from tests.console import csrf, signed_in
from tests.console import offices as offices
from tests.integration.test_waitlist import TUESDAY, ctx
from tests.factories import phone


def test_an_operator_puts_a_caller_on_the_waitlist_and_confirms_the_freed_place(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    for n in range(3):  # Năm Căn's morning holds three
        booking_actions.book(ctx(db), office_id=mine, day=TUESDAY, code="S", phone=phone(n + 1), language="vi")
    db.commit()
    signed_in(client, "lan")
    page = f"/console/book/{mine}/{TUESDAY.isoformat()}/S"
    assert "Full: waitlist" in client.get("/console/grid").get_data(as_text=True)
    assert "Join the waitlist" in client.get(page).get_data(as_text=True)
    form = {"csrf_token": csrf(client, page), "office_id": mine, "day": TUESDAY.isoformat(), "session": "S",
            "phone": "0912 345 678", "name": "Phạm Thị Dung", "procedure_id": "0", "language": "vi", "waitlist": "1"}
    response = client.post(page, data=form)
    assert response.status_code == 302
    shown = client.get(page).get_data(as_text=True)
    assert "On the waitlist: 0 ahead" in shown and "+84912345678" in shown and "Waiting" in shown
    db.rollback()
    entry = db.scalars(select(WaitlistEntry)).one()
    assert (entry.status, entry.created_by, entry.name) == (WaitlistStatus.WAITING, "user:lan", "Phạm Thị Dung")
    # A seat comes free: it is held for her, and the operator confirms it while she is on the line.
    booking_actions.cancel(ctx(db), code=db.scalars(select(Booking.code).where(Booking.phone == phone(1))).one())
    db.commit()
    shown = client.get(page).get_data(as_text=True)
    assert "A place is held until 09:30" in shown and "Confirm the place held" in shown
    response = client.post(f"/console/waitlist/{entry.id}/accept", data={"csrf_token": csrf(client, page),
                                                                         "back": page})
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    db.rollback()
    booking = db.scalars(select(Booking).where(Booking.phone == "+84912345678")).one()
    assert booking.status is BookingStatus.BOOKED and booking.name == "Phạm Thị Dung"
    db.refresh(entry)
    assert entry.status is WaitlistStatus.ACCEPTED
    assert db.scalars(select(OutboxMessage.kind).where(OutboxMessage.recipient == "+84912345678")).all() == [
        MessageKind.CONFIRMATION]
    actions = [(a.actor, a.action) for a in db.scalars(select(AuditEntry).where(
        AuditEntry.actor == "user:lan").order_by(AuditEntry.id))]
    assert actions[-3:] == [("user:lan", "waitlist.offer"), ("user:lan", "booking.create"),
                            ("user:lan", "waitlist.accept")]
    assert client.post(f"/console/waitlist/{entry.id}/nonsense",
                       data={"csrf_token": csrf(client, page)}).status_code == 400


def test_a_manager_cannot_touch_another_offices_waitlist(client: FlaskClient, offices: tuple[int, int],
                                                         db: Session) -> None:
    mine, other = offices
    for n in range(40):  # Đầm Dơi's morning holds forty
        booking_actions.book(ctx(db), office_id=other, day=TUESDAY, code="S", phone=phone(n + 1), language="vi")
    db.commit()
    from actions import waitlist

    entry = waitlist.join(ctx(db), office_id=other, day=TUESDAY, code="S", phone=phone(99), language="vi").entry
    db.commit()
    signed_in(client, "hoa")
    page = f"/console/book/{mine}/{TUESDAY.isoformat()}/S"
    response = client.post(f"/console/waitlist/{entry.id}/leave", data={"csrf_token": csrf(client, page),
                                                                        "back": page})
    assert response.status_code == 403
    db.rollback()
    db.refresh(entry)
    assert entry.status is WaitlistStatus.WAITING


def test_the_reports_count_what_came_of_the_waitlists(client: FlaskClient, offices: tuple[int, int],
                                                      db: Session) -> None:
    from actions import waitlist

    mine, other = offices
    for n in range(3):
        booking_actions.book(ctx(db), office_id=mine, day=TUESDAY, code="S", phone=phone(n + 1), language="vi")
    first, second, third = (waitlist.join(ctx(db), office_id=mine, day=TUESDAY, code="S", phone=phone(n),
                                          language="vi").entry for n in (10, 11, 12))
    for code in db.scalars(select(Booking.code).where(Booking.phone.in_([phone(1), phone(2)]))).all():
        booking_actions.cancel(ctx(db), code=code)
    waitlist.accept(ctx(db), entry_id=first.id)
    waitlist.decline(ctx(db), entry_id=second.id)  # the place passes to the third
    db.commit()
    signed_in(client, "admin")
    page = client.get(f"/console/reports?office_id={mine}&start=2027-03-01&end=2027-03-31").get_data(as_text=True)
    table = page[page.index('id="waitlist-outcomes"'):]
    table = table[:table.index("</table>")]
    for label, n in (("Booked from the waitlist", 1), ("Refused the place offered", 1),
                     ("A place held, not yet answered", 1), ("Still waiting", 0), ("Joined", 3)):
        assert f"{label}</th><td>{n}</td>" in table, (label, table)
    other_page = client.get(f"/console/reports?office_id={other}&start=2027-03-01&end=2027-03-31")
    assert "Booked from the waitlist</th><td>0</td>" in other_page.get_data(as_text=True)
    assert third.id


def test_the_caller_lookup_shows_a_place_held_for_the_number(client: FlaskClient, offices: tuple[int, int],
                                                             db: Session) -> None:
    from actions import waitlist

    mine, _ = offices
    for n in range(3):
        booking_actions.book(ctx(db), office_id=mine, day=TUESDAY, code="S", phone=phone(n + 1), language="vi")
    entry = waitlist.join(ctx(db), office_id=mine, day=TUESDAY, code="S", phone=phone(10), language="vi").entry
    booking_actions.cancel(ctx(db), code=db.scalars(select(Booking.code).where(Booking.phone == phone(1))).one())
    db.commit()
    signed_in(client, "lan")
    lookup = f"/console/lookup?q={phone(10).replace('+', '%2B')}"
    page = client.get(lookup).get_data(as_text=True)
    assert 'id="waitlist"' in page and "02/03/2027" in page and "A place is held until 09:30" in page
    response = client.post(f"/console/waitlist/{entry.id}/accept",
                           data={"csrf_token": csrf(client, lookup), "back": lookup})
    assert response.status_code == 302
    db.rollback()
    db.refresh(entry)
    assert entry.status is WaitlistStatus.ACCEPTED
    assert 'id="waitlist"' not in client.get(lookup).get_data(as_text=True)
