"""The operator's path (issue 12): finding a caller by number, code or name, booking for them from the lookup,
confirming a move or a cancellation, and the call-back queue in words."""

from __future__ import annotations

import re
from datetime import time

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking import bookings
from booking.models import Booking, BookingStatus, CallbackRequest
from notifications.models import MessageKind, OutboxMessage
from tests.console import csrf, signed_in
from tests.console import app as app, client as client, offices as offices
from tests.factories import NOW, OPERATOR, POLICY, at, phone

TUESDAY = at(2027, 3, 2).date()


def _book(db: Session, office: int, n: int, *, name: str | None = None, session: str = "S") -> Booking:
    booking = bookings.book(db, office_id=office, day=TUESDAY, code=session, phone=phone(n), actor=OPERATOR,
                            now=NOW, policy=POLICY, name=name)
    db.commit()
    return booking


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_lookup_finds_a_caller_by_booking_code_typed_with_spaces_or_dashes(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """The lookup read a booking code as a phone number and found nothing."""
    mine, other = offices
    booking = _book(db, mine, 1)
    later = _book(db, other, 1, session="C")  # the same caller's other booking is listed too
    code = booking.code
    signed_in(client, "lan")
    for typed in (code, f"{code[:3]} {code[3:6]} {code[6:]}", f"{code[:3]}-{code[3:6]}-{code[6:]}"):
        page = _page(client, f"/console/lookup?q={typed}")
        assert "Appointments: 0980 000 001" in page, typed
        assert f'class="row--found"><td><a href="/console/bookings/{code}">' in page
        assert f"/console/bookings/{later.code}" in page


def test_lookup_finds_a_caller_by_name_without_diacritics(client: FlaskClient, offices: tuple[int, int],
                                                          db: Session) -> None:
    """The lookup took only phone numbers: a name, with or without its diacritics, found nobody."""
    mine, _ = offices
    _book(db, mine, 1, name="Phạm Thị Dung")
    _book(db, mine, 2, name="Đặng Văn Dũng")
    _book(db, mine, 3, name="Đặng Thị Hoa")
    signed_in(client, "lan")
    for typed in ("pham thi dung", "PHAM THI", "Phạm Thị Dung"):
        page = _page(client, f"/console/lookup?q={typed}")
        assert "Appointments: 0980 000 001 — Phạm Thị Dung" in page, typed
    several = _page(client, "/console/lookup?q=dang")  # two callers: choose one
    assert "Callers with this name" in several
    assert 'href="/console/lookup?q=%2B84980000002"' in several and 'href="/console/lookup?q=%2B84980000003"' in several
    assert "0980 000 001" not in several
    nobody = _page(client, "/console/lookup?q=Nguyen")
    assert "No caller found for “Nguyen”" in nobody


def test_a_manager_finds_by_name_only_the_bookings_of_their_offices(client: FlaskClient, offices: tuple[int, int],
                                                                    db: Session) -> None:
    """A search by name keeps to the offices a manager handles, as the search by number does."""
    _mine, other = offices
    _book(db, other, 1, name="Phạm Thị Dung")
    signed_in(client, "hoa")
    assert "No caller found" in _page(client, "/console/lookup?q=pham")


def test_the_grid_filters_offices_without_diacritics_and_by_spoken_name(client: FlaskClient,
                                                                        offices: tuple[int, int]) -> None:
    """"nam can" found nothing: the filter compared the letters with their diacritics."""
    signed_in(client, "lan")
    for typed in ("nam can", "Năm Căn", "xa nam can", "NAMCAN"):
        page = _page(client, f"/console/grid?q={typed}")
        assert "xã Năm Căn" in page and "xã Đầm Dơi" not in page, typed
    assert "xã Đầm Dơi" in _page(client, "/console/grid?q=dam doi")


def test_book_for_this_caller_offers_their_usual_office_first_with_the_number_filled_in(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Booking for a caller meant going to the grid and typing their number again; the window could not be chosen."""
    mine, other = offices
    _book(db, other, 1, name="Phạm Thị Dung")
    signed_in(client, "lan")
    page = _page(client, "/console/lookup?q=0980000001")
    section = page[page.index("Book for this caller"):]
    links = re.findall(r'href="(/console/book/(\d+)/([\d-]+)/(\w)\?[^"]*)"', section)
    assert links and {int(o) for _link, o, _d, _s in links[:4]} == {other}  # the usual office first
    assert mine in {int(o) for _link, o, _d, _s in links[4:]}  # then the soonest elsewhere
    first = links[0][0].replace("&amp;", "&")
    assert "phone=0980+000+001" in first and "name=Ph" in first  # as the operator would write it
    form = _page(client, first)
    assert 'value="0980 000 001"' in form and 'value="Phạm Thị Dung"' in form
    assert "Assign the earliest window with room" in form

    target = f"/console/book/{mine}/{TUESDAY.isoformat()}/S"
    response = client.post(target, data={
        "csrf_token": csrf(client, target), "office_id": mine, "day": TUESDAY.isoformat(), "session": "S",
        "phone": "0980000001", "name": "Phạm Thị Dung", "procedure_id": "0", "window": "2", "language": "vi"})
    assert response.status_code == 302
    db.rollback()
    booked = db.scalars(select(Booking).where(Booking.office_id == mine)).one()
    assert (booked.arrival_start, booked.arrival_end) == (time(8, 30), time(9, 0))  # the third window, as chosen
    garbage = client.post(target, data={
        "csrf_token": csrf(client, target), "office_id": mine, "day": TUESDAY.isoformat(), "session": "S",
        "phone": "0980000002", "procedure_id": "0", "window": "x", "language": "vi"})
    assert garbage.status_code == 200  # the form again, with its error: not a 500


def test_cancelling_asks_first_and_only_the_confirming_post_cancels(client: FlaskClient, offices: tuple[int, int],
                                                                    db: Session) -> None:
    """"Cancel" cancelled in one click, from the lookup and the confirmation page."""
    mine, _ = offices
    code = _book(db, mine, 1).code
    signed_in(client, "lan")
    for page in (_page(client, f"/console/lookup?q={phone(1)}"), _page(client, f"/console/bookings/{code}")):
        assert f'action="/console/bookings/{code}/cancel"' not in page  # no button that cancels at once
        assert f'href="/console/bookings/{code}/cancel"' in page
    asking = _page(client, f"/console/bookings/{code}/cancel")
    assert "Yes, cancel the appointment" in asking and f'action="/console/bookings/{code}/cancel"' in asking
    db.rollback()
    assert db.scalars(select(Booking.status)).one() is BookingStatus.BOOKED  # asking changed nothing
    db.rollback()  # no read transaction of ours may stand in the app's way (SQLite)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', asking.split("Yes, cancel")[0].split("<main")[-1])
    assert token
    assert client.post(f"/console/bookings/{code}/cancel", data={"reason": "ốm"}).status_code == 400  # no token
    done = client.post(f"/console/bookings/{code}/cancel", data={"csrf_token": token.group(1), "reason": "ốm"})
    assert done.status_code == 302 and "/console/lookup?q=%2B84980000001" in done.headers["Location"]
    db.rollback()
    db.expire_all()
    assert db.scalars(select(Booking.status)).one() is BookingStatus.CANCELLED
    assert db.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()[-1] is MessageKind.CANCELLATION


def test_moving_shows_the_new_session_before_anything_moves(client: FlaskClient, offices: tuple[int, int],
                                                            db: Session) -> None:
    """"Move here" moved at once: a slip of the mouse moved the caller and texted them."""
    mine, other = offices
    code = _book(db, mine, 1).code
    signed_in(client, "lan")
    choices = _page(client, f"/console/bookings/{code}/move?office_id={other}")
    assert "Move here" in choices and 'name="session"' not in choices  # links, not forms
    asking = _page(client, f"/console/bookings/{code}/move/confirm?office_id={other}&day=2027-03-03&session=C")
    assert "Confirm the move" in asking and "xã Đầm Dơi" in asking
    assert f'action="/console/bookings/{code}/move"' in asking and 'name="day" value="2027-03-03"' in asking
    db.rollback()
    assert db.scalars(select(Booking.office_id)).one() == mine
    db.rollback()
    assert client.get(f"/console/bookings/{code}/move/confirm?office_id={other}&day=soon&session=C").status_code == 400
    assert client.get(f"/console/bookings/{code}/move/confirm?office_id=x&day=2027-03-03&session=C"
                      ).status_code == 400
    signed_in(client, "hoa")  # a manager confirms only a move within their offices
    assert client.get(f"/console/bookings/{code}/move/confirm?office_id={other}&day=2027-03-03&session=C"
                      ).status_code == 403


def test_the_call_back_queue_says_why_by_when_and_what_the_call_collected(
        client: FlaskClient, offices: tuple[int, int], db: Session, app: Flask) -> None:
    """The queue showed "step: offer_callback", the number as plain text and no time promised."""
    db.add_all([
        CallbackRequest(phone="+84912345678", language="vi", requested_at=at(2027, 3, 1, 8, 15), context={
            "state": "offer_callback", "office": "xã Năm Căn", "booking": "123456780",
            "session": {"office": "xã Năm Căn", "date": "2027-03-02", "code": "S"}}),
        CallbackRequest(phone="+842903831234", language="vi", requested_at=at(2027, 2, 26, 18, 30),  # Friday evening
                        context={"state": "offer_callback"}),
        CallbackRequest(phone="+84981000009", language="vi", requested_at=at(2027, 2, 8, 9, 0),  # Monday of Tết
                        context={"state": "code_tries_exceeded"}),
    ])
    db.commit()
    signed_in(client, "lan")
    page = _page(client, "/console/callbacks")
    assert "offer_callback" not in page and "code_tries_exceeded" not in page
    rows = page.split("<tbody>")[1].split("</tr>")
    tet, friday, monday = rows[0], rows[1], rows[2]  # oldest first
    assert "No operator answered" in monday and "Before 17:00 that day" in monday and "Overdue" not in monday
    assert 'href="tel:+84912345678"' in monday and 'href="/console/lookup?q=%2B84912345678"' in monday
    assert "08:15 01/03" in monday  # local time
    assert "xã Năm Căn" in monday and "123 456 780" in monday and "Tuesday 02/03/2027 Morning" in monday
    assert "Outside working hours" in friday and "The next working day, Monday 01/03" in friday
    assert "Overdue" not in friday  # promised by 17:00 today; it is 09:00
    assert "Could not give a valid booking code" in tet and "Overdue" in tet
    assert "The next working day, " in tet, tet  # Tết: no operators that day
    app.extensions["hotline"].clock = lambda: at(2027, 3, 1, 17, 30)
    assert _page(client, "/console/callbacks").split("<tbody>")[1].split("</tr>")[2].count("Overdue") == 1


def test_the_confirming_pages_keep_to_the_users_offices_and_refuse_garbage(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """The new asking pages answer a malformed or foreign request with a 4xx, as the actions they lead to do."""
    _mine, other = offices
    code = _book(db, other, 1).code
    signed_in(client, "hoa")
    assert client.get(f"/console/bookings/{code}/cancel").status_code == 403
    assert client.get("/console/bookings/12345/cancel").status_code in (404, 422)
    assert client.get(f"/console/book/{other}/{TUESDAY.isoformat()}/S?phone=0980000001").status_code == 403
    signed_in(client, "lan")
    assert client.get(f"/console/bookings/{code}/move/confirm?office_id={other}&day=2027-03-03&session=X"
                      ).status_code == 400
    assert client.get("/console/lookup?q=%20").status_code == 200
