"""Reports: exact figures from a known dataset, the quarterly CSV, the charts on the page, and who may see what.

The dataset (the test clock is Monday 1 March 2027, 09:00):

NAMCAN (hoa's; 3 morning + 35 afternoon seats, the afternoon of Friday 26 February cancelled)
  Thu 25/02  S: IVR served, operator no-show, API cancelled;  C: IVR checked in
  Fri 26/02  S: operator served, IVR no-show
  Mon 01/03  C: IVR booked (today: not yet a no-show, whatever happens)
DAMDOI (nobody's; 40 + 35 seats, the morning of Thursday 25 February cut to 10)
  Thu 25/02  S: IVR served
  Fri 26/02  C: operator no-show
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from booking import bookings, office_settings
from booking.bookings import Actor
from booking.models import Booking, Channel
from booking.reports import MAX_PERIOD_DAYS, InvalidPeriod, InvalidQuarter, Period, PeriodTooLong, booking_report
from hotline.console.reports import CSV_COLUMNS
from notifications.models import AudienceKind, Broadcast, MessageKind, MessageStatus, OutboxMessage
from notifications.reports import sms_report
from tests.console import login, make_staff, signed_in
from tests.console import app as app
from tests.factories import IVR, OPERATOR, POLICY, VN, at, phone

API = Actor("api:portal", Channel.API)
THU, FRI, TODAY = date(2027, 2, 25), date(2027, 2, 26), date(2027, 3, 1)
PERIOD = Period(THU, TODAY)
SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Dataset:
    namcan: int
    damdoi: int


def _book(db: Session, office_id: int, day: date, code: str, actor: Actor, n: int) -> Booking:
    return bookings.book(db, office_id=office_id, day=day, code=code, phone=phone(n), actor=actor,
                         now=at(2027, 2, 22), policy=POLICY)


def _serve(db: Session, booking: Booking) -> None:
    bookings.check_in(db, code=booking.code, actor=OPERATOR, now=at(booking.date.year, booking.date.month,
                                                                       booking.date.day, 8))
    bookings.mark_served(db, booking_id=booking.id, actor=OPERATOR, now=at(booking.date.year, booking.date.month,
                                                                            booking.date.day, 9))


def _absent(db: Session, booking: Booking) -> None:
    bookings.mark_no_show(db, booking_id=booking.id, actor=OPERATOR, policy=POLICY,
                          now=at(booking.date.year, booking.date.month, booking.date.day, 18))


def _sms(db: Session, kind: MessageKind, status: MessageStatus, *, booking: Booking | None = None,
         broadcast: Broadcast | None = None, created: datetime | None = None) -> None:
    created = created or at(2027, 2, 25, 10)
    db.add(OutboxMessage(kind=kind, recipient=phone(900), body="Tin nhắn", language="vi", encoding="ucs2",
                         segments=1, urgent=False, status=status, due_at=created, attempts=1,
                         booking_id=booking.id if booking else None,
                         broadcast_id=broadcast.id if broadcast else None, created_at=created, updated_at=created))


def _broadcast(db: Session, office_id: int | None) -> Broadcast:
    broadcast = Broadcast(body="Thông báo", audience=AudienceKind.UPLOAD, audience_spec={}, office_id=office_id,
                          created_by="user:admin", created_at=at(2027, 2, 24), updated_at=at(2027, 2, 24))
    db.add(broadcast)
    db.flush()
    return broadcast


@pytest.fixture
def data(db: Session) -> Dataset:
    namcan, damdoi = make_staff(db)
    office_settings.cancel_session_for_date(db, office_id=namcan, day=FRI, code="C")
    a = _book(db, namcan, THU, "S", IVR, 1)
    b = _book(db, namcan, THU, "S", OPERATOR, 2)
    c = _book(db, namcan, THU, "S", API, 3)
    d = _book(db, namcan, THU, "C", IVR, 4)
    e = _book(db, namcan, FRI, "S", OPERATOR, 5)
    f = _book(db, namcan, FRI, "S", IVR, 6)
    _book(db, namcan, TODAY, "C", IVR, 7)
    g = _book(db, damdoi, THU, "S", IVR, 8)
    h = _book(db, damdoi, FRI, "C", OPERATOR, 9)
    # The morning already has a booking (a session row): the cut must reach the row, not only the plan.
    office_settings.set_session_for_date(db, office_id=damdoi, day=THU, code="S", capacity=10)
    bookings.cancel(db, booking_id=c.id, actor=API, now=at(2027, 2, 23), policy=POLICY)
    for served in (a, e, g):
        _serve(db, served)
    for absent in (b, f, h):
        _absent(db, absent)
    bookings.check_in(db, code=d.code, actor=OPERATOR, now=at(2027, 2, 25, 13))

    for status in (MessageStatus.DELIVERED, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED,
                   MessageStatus.SENT, MessageStatus.QUEUED):
        _sms(db, MessageKind.CONFIRMATION, status, booking=a)
    _sms(db, MessageKind.REMINDER, MessageStatus.DELIVERED, booking=a, created=at(2027, 2, 25, 0, 0))  # first instant
    _sms(db, MessageKind.CONFIRMATION, MessageStatus.DELIVERED, booking=a, created=at(2027, 2, 24, 23, 59))  # before
    _sms(db, MessageKind.CONFIRMATION, MessageStatus.DELIVERED, booking=a, created=at(2027, 3, 2, 0, 0))  # after
    _sms(db, MessageKind.CONFIRMATION, MessageStatus.FAILED, booking=g)
    _sms(db, MessageKind.BROADCAST, MessageStatus.DELIVERED, broadcast=_broadcast(db, damdoi))
    _sms(db, MessageKind.CALLBACK_ACK, MessageStatus.DELIVERED)
    _sms(db, MessageKind.BROADCAST, MessageStatus.CANCELLED, broadcast=_broadcast(db, None))
    db.commit()
    return Dataset(namcan, damdoi)


# -- the figures --------------------------------------------------------------------------------------

def test_booking_figures_per_office_and_for_the_province(db: Session, data: Dataset) -> None:
    report = booking_report(db, office_ids=None, period=PERIOD, today=TODAY)
    damdoi, namcan = report.offices  # by code: DAMDOI first
    assert (damdoi.office_id, namcan.office_id) == (data.damdoi, data.namcan)

    assert namcan.bookings == {Channel.IVR: 4, Channel.OPERATOR: 2, Channel.API: 1}
    assert (namcan.total, namcan.cancelled, namcan.seats_booked) == (7, 1, 6)
    assert (namcan.booked, namcan.checked_in, namcan.served, namcan.no_shows) == (1, 1, 2, 2)
    assert (namcan.past_attended, namcan.past_no_shows, namcan.no_show_rate) == (3, 2, 2 / 5)
    assert namcan.capacity == 38 + 3 + 38  # Thursday, Friday without its afternoon, Monday; no weekend sessions
    assert namcan.utilisation == 6 / 79

    assert damdoi.bookings == {Channel.IVR: 1, Channel.OPERATOR: 1}
    assert (damdoi.served, damdoi.no_shows, damdoi.no_show_rate) == (1, 1, 1 / 2)
    assert damdoi.capacity == (10 + 35) + 75 + 75

    total = report.total
    assert (total.total, total.cancelled, total.served, total.no_shows, total.checked_in) == (9, 1, 3, 3, 1)
    assert total.no_show_rate == 3 / 7 and total.capacity == 79 + 195 and total.utilisation == 8 / 274
    assert report.channels == [Channel.IVR, Channel.OPERATOR, Channel.API]


def test_booking_figures_per_day_for_one_office(db: Session, data: Dataset) -> None:
    report = booking_report(db, office_ids=[data.namcan], period=PERIOD, today=TODAY)
    assert [line.office_id for line in report.offices] == [data.namcan]
    days = {line.day: line for line in report.days}
    assert list(days) == [THU, FRI, date(2027, 2, 27), date(2027, 2, 28), TODAY]
    assert days[THU].bookings == {Channel.IVR: 2, Channel.OPERATOR: 1, Channel.API: 1}
    assert (days[THU].cancelled, days[THU].seats_booked, days[THU].capacity) == (1, 3, 38)
    assert (days[FRI].seats_booked, days[FRI].capacity, days[FRI].utilisation) == (2, 3, 2 / 3)
    weekend = days[date(2027, 2, 27)]
    assert (weekend.total, weekend.capacity, weekend.utilisation) == (0, 0, None)
    assert (days[TODAY].seats_booked, days[TODAY].capacity) == (1, 38)


def test_sms_figures_by_kind_and_office(db: Session, data: Dataset) -> None:
    start, end = PERIOD.bounds(VN)
    report = sms_report(db, start=start, end=end, office_ids=None)
    namcan, damdoi, nobody = (report.for_office(i) for i in (data.namcan, data.damdoi, None))
    assert (namcan.sent, namcan.delivered, namcan.failed, namcan.awaiting_report, namcan.pending) == (6, 3, 2, 1, 1)
    assert namcan.delivery_rate == 3 / 5
    assert (damdoi.sent, damdoi.delivered, damdoi.failed, damdoi.delivery_rate) == (2, 1, 1, 1 / 2)
    assert (nobody.sent, nobody.delivered, nobody.cancelled) == (1, 1, 1)
    assert (report.total.total, report.total.sent, report.total.delivered, report.total.failed) == (11, 9, 5, 3)
    assert report.total.delivery_rate == 5 / 8
    assert list(report.by_kind) == [MessageKind.CONFIRMATION, MessageKind.REMINDER, MessageKind.CALLBACK_ACK,
                                    MessageKind.BROADCAST]
    confirmation = report.by_kind[MessageKind.CONFIRMATION]
    assert (confirmation.delivered, confirmation.failed, confirmation.delivery_rate) == (2, 3, 2 / 5)

    mine = sms_report(db, start=start, end=end, office_ids=[data.namcan])
    assert list(mine.by_office) == [data.namcan] and mine.total.sent == 6
    assert {k: c.delivery_rate for k, c in mine.by_kind.items()} == {MessageKind.CONFIRMATION: 2 / 4,
                                                                     MessageKind.REMINDER: 1.0}


def test_an_empty_period_has_no_rates_rather_than_a_division_by_zero(db: Session, data: Dataset) -> None:
    quiet = Period(date(2026, 7, 4), date(2026, 7, 5))  # a weekend long ago
    report = booking_report(db, office_ids=None, period=quiet, today=TODAY)
    assert report.total.total == 0 and report.total.capacity == 0
    assert (report.total.utilisation, report.total.no_show_rate) == (None, None)
    start, end = quiet.bounds(VN)
    assert sms_report(db, start=start, end=end, office_ids=None).total.delivery_rate is None


def test_periods_are_checked_and_quarters_computed() -> None:
    assert Period.quarter(2027, 1) == Period(date(2027, 1, 1), date(2027, 3, 31))
    assert Period.quarter(2028, 4) == Period(date(2028, 10, 1), date(2028, 12, 31))
    assert Period.checked(date(2028, 1, 1), date(2028, 12, 31)).length == MAX_PERIOD_DAYS
    with pytest.raises(InvalidPeriod):
        Period.checked(date(2027, 3, 2), date(2027, 3, 1))
    with pytest.raises(PeriodTooLong):
        Period.checked(date(2026, 1, 1), date(2027, 1, 2))
    for year, quarter in ((2027, 0), (2027, 5), (1999, 1)):
        with pytest.raises(InvalidQuarter):
            Period.quarter(year, quarter)


# -- the pages ----------------------------------------------------------------------------------------

@pytest.fixture
def client(app: Flask, db: Session, data: Dataset) -> FlaskClient:
    db.rollback()
    return app.test_client()


def _csv(client: FlaskClient, query: str) -> list[dict[str, str]]:
    response = client.get(f"/console/reports/quarterly.csv?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())  # a UTF-8 byte-order mark, for Excel
    heading, *rows = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    assert len(heading) == len(CSV_COLUMNS)  # the headings are in the reader's language: read columns by position
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows]


def test_quarterly_csv_for_an_administrator_ends_with_the_province(client: FlaskClient, data: Dataset) -> None:
    rows = _csv(signed_in(client, "admin"), "year=2027&quarter=1")
    assert [row["office_code"] for row in rows] == ["DAMDOI", "NAMCAN", "PROVINCE"]
    damdoi, namcan, province = rows
    assert namcan["office_name"] == "Trung tâm Phục vụ hành chính công xã Năm Căn"
    # 58 working days in the first quarter of 2027 (New Year and Tết off); the quarter also takes in the
    # two confirmations written just before and just after the short period of the other tests.
    assert namcan == namcan | {
        "year": "2027", "quarter": "1", "bookings_ivr": "4", "bookings_operator": "2", "bookings_api": "1",
        "bookings_web": "0", "bookings_walkin": "0", "bookings_total": "7", "cancelled": "1", "served": "2",
        "no_shows": "2", "no_show_rate": "0.4000", "capacity_offered": str(58 * 38 - 35), "seats_booked": "6",
        "utilisation": f"{6 / (58 * 38 - 35):.4f}", "sms_sent": "8", "sms_delivered": "5", "sms_failed": "2"}
    assert (damdoi["capacity_offered"], damdoi["no_show_rate"], damdoi["sms_sent"]) == (str(58 * 75 - 30), "0.5000",
                                                                                        "2")
    assert province == province | {
        "office_name": "Whole province", "bookings_total": "9", "served": "3", "no_shows": "3",
        "no_show_rate": f"{3 / 7:.4f}", "capacity_offered": str(58 * 113 - 65),
        "sms_sent": "11", "sms_delivered": "7", "sms_failed": "3"}  # the call-back SMS counts for the province only
    assert list(rows[0]) == ["year", "quarter", "office_code", "office_name", "bookings_ivr", "bookings_operator",
                             "bookings_web", "bookings_api", "bookings_walkin", "bookings_total", "cancelled",
                             "served", "no_shows", "no_show_rate", "capacity_offered", "seats_booked", "utilisation",
                             "sms_sent", "sms_delivered", "sms_failed", "served_at_desk", "no_shows_at_desk",
                             "walk_ins", "walk_ins_served", "mean_wait_seconds"]
    # Nobody here was called by a desk (tests/integration/test_reports_floor.py has the counters' figures).
    assert [province[k] for k in CSV_COLUMNS[-5:]] == ["0", "0", "0", "0", ""]


def test_quarterly_csv_of_an_empty_quarter_has_blank_rates(client: FlaskClient, data: Dataset) -> None:
    rows = _csv(signed_in(client, "admin"), f"year=2026&quarter=3&office_id={data.namcan}")
    assert [(row["office_code"], row["bookings_total"], row["no_show_rate"], row["sms_sent"]) for row in rows] == [
        ("NAMCAN", "0", "", "0")]
    assert rows[0]["capacity_offered"] != "0" and rows[0]["utilisation"] == "0.0000"


def test_a_manager_reports_on_his_own_offices_only(client: FlaskClient, data: Dataset) -> None:
    signed_in(client, "hoa")
    rows = _csv(client, "year=2027&quarter=1")
    assert [row["office_code"] for row in rows] == ["NAMCAN"]  # no province total for a manager
    assert client.get(f"/console/reports/quarterly.csv?year=2027&quarter=1&office_id={data.damdoi}").status_code == 403
    assert client.get(f"/console/reports?office_id={data.damdoi}").status_code == 403
    page = client.get("/console/reports?start=2027-02-25&end=2027-03-01").get_data(as_text=True)
    assert "NAMCAN – " in page and "DAMDOI" not in page


def test_operators_may_not_see_reports(client: FlaskClient, data: Dataset) -> None:
    signed_in(client, "lan")
    assert client.get("/console/reports").status_code == 403
    assert client.get("/console/reports/quarterly.csv?year=2027&quarter=1").status_code == 403


def _svgs(page: str) -> dict[str, ET.Element]:
    found = {}
    for markup in re.findall(r"<svg\b.*?</svg>", page, flags=re.S):
        svg = ET.fromstring(markup)  # well-formed XML, or this fails
        found[svg.attrib["id"]] = svg
    return found


def test_the_page_draws_each_chart_as_inline_svg_with_its_numbers(client: FlaskClient, data: Dataset) -> None:
    signed_in(client, "hoa")
    response = client.get(f"/console/reports?start=2027-02-25&end=2027-03-01&office_id={data.namcan}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert " style=" not in page and "<script" not in page and "<style" not in page
    svgs = _svgs(page)
    assert list(svgs) == ["chart-bookings", "chart-utilisation", "chart-sms"]
    for chart_id, svg in svgs.items():
        assert svg.attrib["role"] == "img" and svg.attrib["aria-labelledby"] == f"{chart_id}-title {chart_id}-desc"
        assert svg.findtext(f"{SVG}title") and svg.findtext(f"{SVG}desc")
    bars = [rect.findtext(f"{SVG}title") for rect in svgs["chart-bookings"].iter(f"{SVG}rect")
            if rect.find(f"{SVG}title") is not None]
    assert bars == ["Phone menu (IVR), 25/02: 2", "Operators, 25/02: 1", "Other systems (API), 25/02: 1",
                    "Phone menu (IVR), 26/02: 1", "Operators, 26/02: 1", "Phone menu (IVR), 01/03: 1"]
    points = [c.findtext(f"{SVG}title") for c in svgs["chart-utilisation"].iter(f"{SVG}circle")]
    assert points == ["Utilisation, 25/02: 7.9%", "Utilisation, 26/02: 66.7%", "Utilisation, 01/03: 2.6%"]
    legend = [t.text for t in svgs["chart-sms"].iter(f"{SVG}text") if t.text]
    assert "Delivered" in legend and "Confirmation" in legend and "Kind of message" in legend
    # The headline figures and the tables beside the charts.
    assert "40.0%" in page  # no-show rate 2 of 5
    assert "7.6%" in page  # utilisation 6 of 79 seats
    assert "60.0%" in page  # SMS delivery 3 of 5
    assert "<caption>Bookings per day and channel</caption>" in page


def test_numbers_follow_the_readers_locale(client: FlaskClient, data: Dataset) -> None:
    assert login(client, "admin") == 302
    page = client.get("/console/reports?start=2027-02-25&end=2027-03-01&lang=vi").get_data(as_text=True)
    assert "42,9%" in page  # the province's no-show rate, 3 of 7, with a decimal comma


def test_an_administrator_sees_the_province_and_any_office(client: FlaskClient, data: Dataset) -> None:
    signed_in(client, "admin")
    page = client.get("/console/reports?start=2027-02-25&end=2027-03-01").get_data(as_text=True)
    assert "DAMDOI – " in page and "NAMCAN – " in page and '<th scope="row">Whole province</th>' in page
    one = client.get(f"/console/reports?office_id={data.damdoi}&start=2027-02-25&end=2027-03-01")
    assert one.status_code == 200 and "NAMCAN – " not in one.get_data(as_text=True).split("<h3")[-1]


def test_the_default_period_is_this_month_to_today(client: FlaskClient, data: Dataset, app: Flask) -> None:
    """Guards the report opening on a period the manager did not ask for: it is the current month, to today."""
    page = signed_in(client, "hoa").get("/console/reports").get_data(as_text=True)
    assert 'value="2027-03-01"' in page and 'value="2027-01-31"' not in page
    assert "From 01/03/2027 to 01/03/2027" in page
    app.extensions["hotline"].clock = lambda: at(2027, 3, 17, 10)
    page = client.get("/console/reports").get_data(as_text=True)
    assert 'value="2027-03-01"' in page and 'value="2027-03-17"' in page
    assert "From 01/03/2027 to 17/03/2027" in page


@pytest.mark.parametrize("query, message", [
    ("start=2027-03-02&end=2027-03-01", "must end on or after"),
    ("start=2025-01-01&end=2027-03-01", "at most 366 days"),
    ("start=yesterday", "Not a valid date"),
])
def test_a_bad_period_is_refused_with_a_message(client: FlaskClient, data: Dataset, query: str,
                                                message: str) -> None:
    response = signed_in(client, "hoa").get(f"/console/reports?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page and 'class="flash error"' in page
    assert "<svg" not in page and "<form" in page  # the form stays, to correct the period


@pytest.mark.parametrize("query", ["year=2027&quarter=5", "year=2027&quarter=0", "year=abc&quarter=1",
                                   "quarter=1", "year=2027", "year=1999&quarter=1", "year=2027&quarter=x"])
def test_a_bad_quarter_is_a_400(client: FlaskClient, data: Dataset, query: str) -> None:
    response = signed_in(client, "admin").get(f"/console/reports/quarterly.csv?{query}")
    assert response.status_code == 400 and "quarter from 1 to 4" in response.get_data(as_text=True)


def test_an_empty_period_renders(client: FlaskClient, data: Dataset) -> None:
    response = signed_in(client, "admin").get("/console/reports?start=2026-07-04&end=2026-07-05")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and len(_svgs(page)) == 3
    assert "No bookings in this period." in page and "No SMS in this period." in page and "—" in page
