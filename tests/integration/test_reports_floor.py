"""The office floor in the reports (issue 14): desks serving, no-shows at a desk, walk-ins, waits, on both engines.

The scenario (Monday 1 March 2027 from 09:00, two desks), minutes after 09:00:
  0  A, B, C check in;  1  a walk-in ticket W
  2  desk 1 calls A;  7  A served                        (wait 2, service 5)
  4  desk 2 calls B;  6  recalls B;  9  B served          (wait 4 to the first call, service 3 from the recall)
  10 desk 1 calls C;  12 C did not come up               (wait 10)
  11 desk 2 calls W;  21 W served                        (wait 10, service 10)
"""

from __future__ import annotations

from datetime import datetime, timedelta

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from booking import bookings, queue
from booking.bookings import Actor
from booking.models import Channel
from booking.reports import DeskLine, Period, floor_report
from notifications.models import MessageKind, MessageStatus, OutboxMessage
from tests.console import app as app
from tests.console import login, make_staff, signed_in
from tests.factories import NOW, OPERATOR, POLICY, make_office, phone

DESK_STAFF = Actor("user:mai", Channel.OPERATOR)


def _at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def scenario(db: Session) -> int:
    office = make_office(db)
    other = make_office(db)
    one, two = (queue.save_desk(db, office_id=office.id, number=n, name=f"Quầy {n}").id for n in (1, 2))
    for i in range(1, 4):
        booking = bookings.book(db, office_id=office.id, day=NOW.date(), code="S", phone=phone(i), actor=OPERATOR,
                                now=NOW - timedelta(days=1), policy=POLICY)
        bookings.check_in(db, code=booking.code, actor=OPERATOR, now=NOW, office_id=office.id)
    queue.issue_walk_in(db, office_id=office.id, actor=OPERATOR, now=_at(1), policy=POLICY)
    queue.issue_walk_in(db, office_id=other.id, actor=OPERATOR, now=_at(1), policy=POLICY)  # another office's
    a = queue.call_next(db, office_id=office.id, desk_id=one, actor=DESK_STAFF, now=_at(2))
    b = queue.call_next(db, office_id=office.id, desk_id=two, actor=DESK_STAFF, now=_at(4))
    queue.recall(db, office_id=office.id, desk_id=two, actor=DESK_STAFF, now=_at(6))
    assert a and b
    bookings.mark_served(db, booking_id=a.id, actor=DESK_STAFF, now=_at(7))
    bookings.mark_served(db, booking_id=b.id, actor=DESK_STAFF, now=_at(9))
    queue.call_next(db, office_id=office.id, desk_id=one, actor=DESK_STAFF, now=_at(10))
    w = queue.call_next(db, office_id=office.id, desk_id=two, actor=DESK_STAFF, now=_at(11))
    queue.not_at_counter(db, office_id=office.id, desk_id=one, actor=DESK_STAFF, now=_at(12))
    assert w
    bookings.mark_served(db, booking_id=w.id, actor=DESK_STAFF, now=_at(21))
    db.flush()
    return office.id


def test_the_floor_figures_of_a_day_at_two_desks(db: Session) -> None:
    office_id = scenario(db)
    day = Period(NOW.date(), NOW.date())
    floor = floor_report(db, office_ids=[office_id], period=day)
    here = floor.total
    assert (here.served_at_desk, here.no_shows_at_desk, here.walk_ins, here.walk_ins_served) == (3, 1, 1, 1)
    assert here.mean_wait == 390  # (2 + 4 + 10 + 10) / 4 minutes
    assert floor.desks == [DeskLine(office_id, 1, "Quầy 1", 1, 300, 300), DeskLine(office_id, 2, "Quầy 2", 2, 390, 600)]
    province = floor_report(db, office_ids=None, period=day)
    assert (province.total.walk_ins, province.total.walk_ins_served, len(province.desks)) == (2, 1, 2)
    assert province.offices[office_id] == here and province.offices[office_id].waits == here.waits
    assert [(line.walk_ins, line.served_at_desk, line.mean_wait) for line in province.offices.values()
            if line is not province.offices[office_id]] == [(1, 0, None)]
    before = floor_report(db, office_ids=[office_id], period=Period(NOW.date() - timedelta(days=7),
                                                                    NOW.date() - timedelta(days=1)))
    assert (before.total.served_at_desk, before.total.walk_ins, before.total.mean_wait, before.desks) == (0, 0, None, [])


@pytest.fixture
def client(app: Flask, db: Session) -> FlaskClient:
    make_staff(db)
    scenario(db)
    db.add(OutboxMessage(kind=MessageKind.NEARLY_TURN, recipient=phone(3), body="Sắp đến lượt", language="vi",
                         encoding="ucs2", segments=1, urgent=True, status=MessageStatus.DELIVERED, due_at=_at(4),
                         attempts=1, created_at=_at(4), updated_at=_at(4)))
    db.commit()
    return app.test_client()


def _floor(page: str) -> str:
    return page.split('id="floor-heading"')[1].split("</section>")[0]


def test_the_reports_page_shows_the_counters_in_english_and_vietnamese(client: FlaskClient) -> None:
    signed_in(client, "admin")
    english = _floor(client.get("/console/reports?start=2027-03-01&end=2027-03-01").get_data(as_text=True))
    for shown in ("<dt>Served at a desk</dt><dd>3</dd>", "<dt>Did not come up when called</dt><dd>1</dd>",
                  "<dt>Walk-in tickets</dt><dd>2</dd>", "1 served", "<dt>Average wait to the first call</dt><dd>6 min 30 s</dd>",
                  "<dt>“Nearly your turn” SMS</dt><dd>1</dd>",
                  "Desk 1 (Quầy 1)</th><td>1</td><td>5 min 00 s</td><td>5 min 00 s</td>",
                  "Desk 2 (Quầy 2)</th><td>2</td><td>6 min 30 s</td><td>10 min 00 s</td>"):
        assert shown in english, shown
    vietnamese = _floor(client.get("/console/reports?start=2027-03-01&end=2027-03-01&lang=vi").get_data(as_text=True))
    for shown in ("<dt>Được phục vụ tại quầy</dt><dd>3</dd>", "<dt>Phiếu lấy số tại chỗ</dt><dd>2</dd>",
                  "Quầy 2 (Quầy 2)</th><td>2</td><td>6 phút 30 giây</td><td>10 phút 00 giây</td>"):
        assert shown in vietnamese, shown
    quiet = _floor(client.get("/console/reports?start=2027-02-01&end=2027-02-28&lang=en").get_data(as_text=True))
    assert "<dt>Served at a desk</dt><dd>0</dd>" in quiet and "No desk served anybody in this period." in quiet


def test_the_quarterly_csv_has_the_counters_per_office(client: FlaskClient) -> None:
    assert login(client, "admin") == 302
    raw = client.get("/console/reports/quarterly.csv?year=2027&quarter=1").get_data().decode("utf-8-sig")
    heading, *rows = csv.reader(io.StringIO(raw))
    assert heading[-5:] == ["Được phục vụ tại quầy", "Không lên khi được gọi", "Phiếu lấy số tại chỗ",
                            "Người lấy số tại chỗ được phục vụ", "Thời gian chờ trung bình đến lần gọi đầu (giây)"]
    floor = {row[2]: row[-5:] for row in rows}
    assert floor["PROVINCE"] == ["3", "1", "2", "1", "390"] and floor["NAMCAN"] == ["0", "0", "0", "0", ""]
    assert sorted(v for code, v in floor.items() if code not in ("PROVINCE", "NAMCAN", "DAMDOI")) == [
        ["0", "0", "1", "0", ""], ["3", "1", "1", "1", "390"]]
