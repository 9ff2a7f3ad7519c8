"""The counter screen, the desks page, walk-in tickets and the hall's screen through the app, on both engines."""

from __future__ import annotations

import json
import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.models import AuditEntry
from booking import bookings, office_settings, queue
from booking.models import Booking, BookingStatus, Channel
from notifications.models import MessageKind, OutboxMessage
from tests.console import app as app
from tests.console import client as client
from tests.console import csrf, offices as offices, signed_in
from tests.factories import NOW, OPERATOR, POLICY, phone


def _arrange(db: Session, office_id: int, people: int = 3) -> tuple[list[int], list[Booking]]:
    desks = [queue.save_desk(db, office_id=office_id, number=n, name=f"Hộ tịch {n}").id for n in (1, 2)]
    checked = []
    for i in range(people):
        booking = bookings.book(db, office_id=office_id, day=NOW.date(), code="C", phone=phone(i + 1), actor=OPERATOR,
                                now=NOW, policy=POLICY, name=f"Nguyễn Văn {i}")
        checked.append(bookings.check_in(db, code=booking.code, actor=OPERATOR, now=NOW, office_id=office_id))
    db.commit()
    return desks, checked


def _press(client: FlaskClient, office_id: int, desk_id: int, operation: str, **data: object) -> str:
    page = f"/console/offices/{office_id}/desks/{desk_id}"
    response = client.post(f"{page}/{operation}", data={"csrf_token": csrf(client, page), **data})
    assert response.status_code == 302 and response.location.endswith(page), response.status_code
    return client.get(page).get_data(as_text=True)


def test_a_desk_calls_recalls_transfers_and_serves(client: FlaskClient, db: Session,
                                                   offices: tuple[int, int]) -> None:
    mine, _other = offices
    (one, two), people = _arrange(db, mine)
    signed_in(client, "hoa")
    page = client.get(f"/console/offices/{mine}/desks/{one}").get_data(as_text=True)
    assert "Nobody is being served." in page and re.search(r'id="waiting">3<', page)
    page = _press(client, mine, one, "call")
    assert f"Called: {people[0].queue_label}." in page and f'id="serving">{people[0].queue_label}<' in page
    assert "Nguyễn Văn 0" in page and re.search(r'id="waiting">2<', page)
    page = _press(client, mine, one, "recall")
    assert "Called 2 times" in page
    page = _press(client, mine, one, "transfer", to_desk=two)
    assert "Nobody is being served." in page
    page = _press(client, mine, two, "call")
    assert f'id="serving">{people[0].queue_label}<' in page
    page = _press(client, mine, two, "served")
    assert f"Served: {people[0].queue_label}." in page
    _press(client, mine, one, "call")
    page = _press(client, mine, one, "no-show")
    assert f"Marked as not having come: {people[1].queue_label}." in page
    today = client.get(f"/console/offices/{mine}/desks").get_data(as_text=True)
    assert "Today at the desks" in today and re.search(r'<th scope="row">Desk 2 · Hộ tịch 2</th><td>1</td><td>0</td>', today)
    db.rollback()
    told = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.NEARLY_TURN)).all()
    assert [m.booking_id for m in told] == [people[2].id]  # one ahead of them after the first call, told once
    assert f"Số {people[2].queue_label} tại Trung tâm Phục vụ hành chính công xã Năm Căn: sắp đến lượt quý vị, " \
           "còn 1 người phía trước." in told[0].body
    assert [db.get_one(Booking, p.id).status for p in people] == [BookingStatus.SERVED, BookingStatus.NO_SHOW,
                                                                   BookingStatus.CHECKED_IN]
    assert db.scalars(select(AuditEntry.action).where(AuditEntry.actor == "user:hoa").order_by(AuditEntry.id)).all() == [
        "booking.called", "booking.recalled", "booking.transferred", "booking.called", "booking.served",
        "booking.called", "booking.no_show"]


def test_another_offices_staff_get_403_and_bad_input_a_4xx(client: FlaskClient, db: Session,
                                                            offices: tuple[int, int]) -> None:
    mine, other = offices
    (one, _two), _people = _arrange(db, mine, 1)
    theirs = queue.save_desk(db, office_id=other, number=1, name="").id
    db.commit()
    signed_in(client, "hoa")
    token = csrf(client, f"/console/offices/{mine}/desks/{one}")
    for path in (f"/console/offices/{other}/desks", f"/console/offices/{other}/desks/{theirs}"):
        assert client.get(path).status_code == 403
    for path, data in ((f"/console/offices/{other}/desks/{theirs}/call", {}),
                       (f"/console/offices/{other}/walk-ins", {}),
                       (f"/console/offices/{other}/desks", {"number": "5", "name": "x", "active": "y"}),
                       (f"/console/offices/{other}/nearly-turn", {"ahead": "2"})):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert client.get(f"/console/offices/{mine}/desks/{theirs}").status_code == 404  # not this office's desk
    assert client.post(f"/console/offices/{mine}/desks/{one}/explode", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/console/offices/{mine}/desks/{one}/transfer",
                       data={"csrf_token": token, "to_desk": "x"}).status_code == 400
    assert client.get(f"/console/offices/{mine}/tickets/nonsense").status_code == 404
    operator = signed_in(client.application.test_client(), "lan")
    assert operator.get(f"/console/offices/{mine}/desks/{one}").status_code == 403


def test_a_walk_in_ticket_is_printed_with_its_number_and_qr(client: FlaskClient, db: Session,
                                                            offices: tuple[int, int]) -> None:
    mine, _other = offices
    (one, _two), _people = _arrange(db, mine, 0)
    signed_in(client, "hoa")
    page = f"/console/offices/{mine}/desks/{one}"
    response = client.post(f"/console/offices/{mine}/walk-ins",
                           data={"csrf_token": csrf(client, page), "desk_id": one, "phone": "", "name": ""})
    assert response.status_code == 302 and "/tickets/" in response.location
    ticket = client.get(response.location).get_data(as_text=True)
    db.rollback()
    walk_in = db.scalars(select(Booking).where(Booking.channel == Channel.WALKIN)).one()
    assert walk_in.status is BookingStatus.CHECKED_IN and walk_in.session_code == "S"  # 09:00: the morning
    assert f'class="ticket__queue">{walk_in.queue_label}<' in ticket and "<svg" in ticket
    assert "/display/NAMCAN" in ticket and "09:00 01/03/2027" in ticket
    roster = client.get(f"/console/offices/{mine}/roster?date=2027-03-01").get_data(as_text=True)
    assert walk_in.queue_label in roster
    assert re.search(r'id="waiting">1<', client.get(page).get_data(as_text=True))


def test_the_desks_page_adds_desks_and_sets_nearly_your_turn(client: FlaskClient, db: Session,
                                                              offices: tuple[int, int]) -> None:
    mine, _other = offices
    signed_in(client, "hoa")
    listing = f"/console/offices/{mine}/desks"
    assert "No desks yet" in client.get(listing).get_data(as_text=True)
    client.post(listing, data={"csrf_token": csrf(client, listing), "number": "4", "name": " Đất đai ", "active": "y"})
    client.post(f"/console/offices/{mine}/nearly-turn", data={"csrf_token": csrf(client, listing), "ahead": "5"})
    page = client.get(listing).get_data(as_text=True)
    assert "Open desk 4" in page and 'value="Đất đai"' in page and 'value="5"' in page
    db.rollback()
    (added_id,) = [d.id for d in queue.desks(db, mine)]
    db.rollback()
    assert f'name="d{added_id}-csrf_token"' in page and f'form="desk-{added_id}"' in page
    token = re.search(rf'name="d{added_id}-csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    edited = client.post(listing, data={f"d{added_id}-csrf_token": token.group(1), "desk_id": added_id,
                                        f"d{added_id}-number": "6", f"d{added_id}-name": "Đất đai, xây dựng"})
    assert edited.status_code == 302
    page = client.get(listing).get_data(as_text=True)
    assert "Desk 6 saved." in page and "Not in use" in page and "Open desk" not in page
    bad = client.post(f"/console/offices/{mine}/nearly-turn", data={"csrf_token": csrf(client, listing), "ahead": "99"})
    assert bad.status_code == 302
    db.rollback()
    assert [(d.number, d.name, d.active) for d in queue.desks(db, mine)] == [(6, "Đất đai, xây dựng", False)]
    assert db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all() == ["desk.saved", "office.nearly_turn",
                                                                                "desk.saved"]


def test_the_hall_screen_shows_numbers_and_desks_and_nothing_personal(client: FlaskClient, db: Session,
                                                                      offices: tuple[int, int]) -> None:
    mine, _other = offices
    (one, _two), people = _arrange(db, mine)
    queue.call_next(db, office_id=mine, desk_id=one, actor=OPERATOR, now=NOW)
    db.commit()
    response = client.get("/display/NAMCAN/board.json")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    board = response.get_json()
    assert board == {"desks": [{"number": 1, "name": "Hộ tịch 1", "queue": people[0].queue_label, "calls": 1},
                               {"number": 2, "name": "Hộ tịch 2", "queue": None, "calls": 0}],
                     "next": [p.queue_label for p in people[1:]], "waiting": 2, "time": "09:00"}
    text = json.dumps(board, ensure_ascii=False) + client.get("/display/NAMCAN").get_data(as_text=True)
    for person in people:
        assert person.phone not in text and person.phone[3:] not in text and person.code not in text
        assert person.name is not None and person.name not in text
    page = client.get("/display/NAMCAN?lang=vi").get_data(as_text=True)
    assert "Đang phục vụ" in page and "Quầy 1" in page and people[0].queue_label in page
    assert '<meta http-equiv="refresh"' in page and "display.js" in page and "<style" not in page
    assert 'data-board="/display/NAMCAN/board.json"' in page
    english = client.get("/display/NAMCAN?lang=en").get_data(as_text=True)
    assert "Now serving" in english and "Desk 1" in english
    assert client.get("/display/NOPE").status_code == 404
    assert client.get("/display/NOPE/board.json").status_code == 404


def test_the_settings_page_says_walk_in_seats_stand_until_the_session_ends(client: FlaskClient, db: Session,
                                                                           offices: tuple[int, int]) -> None:
    mine, _other = offices
    office_settings.set_channel_reserve(db, office_id=mine, session_code="S", channel=Channel.WALKIN, seats_kept=2,
                                        release_minutes_before=120)
    db.commit()
    signed_in(client, "hoa")
    response = client.get(f"/console/offices/{mine}/settings")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Seats kept for walk-ins stand until the session ends" in page and "<td>At the session" in page
