"""The manager's numbers (issue 12): seats left the same on every page and never negative, the notice after a
capacity below what is booked, reserves in hours, a second check-in, offices named in the menu."""

from __future__ import annotations

import re
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.audit import record
from booking import bookings
from booking.models import ChannelReserve, Office, SessionTemplate
from tests.console import app as app, client as client, offices as offices
from tests.console import csrf, login, signed_in
from config.settings import Settings
from tests.factories import IVR, NOW, OPERATOR, POLICY, at
from tests.integration.test_console_broadcasts import compose, fact

TUESDAY = date(2027, 3, 2)


def _big_mornings(db: Session, office_id: int, *, capacity: int, crowd_limit: int) -> None:
    """Năm Căn's mornings get `capacity` seats; its 8 half-hour windows hold `crowd_limit` each."""
    office = db.get(Office, office_id)
    assert office is not None
    office.crowd_limit = crowd_limit
    for template in db.scalars(select(SessionTemplate).where(SessionTemplate.office_id == office_id,
                                                             SessionTemplate.code == "S")):
        template.capacity = capacity
    db.commit()


def _tuesday_morning_public(client: FlaskClient) -> str:
    """The public page's cell of Tuesday morning at Năm Căn (Monday, today, comes first)."""
    page = client.get("/?lang=en").get_data(as_text=True)
    section = page.split("Năm Căn", 1)[1]
    cells = re.findall(r"07:30–11:30</td>\s*<td>(.*?)</td>", section, re.S)
    return re.sub(r"<[^>]+>|\s+", " ", cells[1]).strip()


def _settings_cells(client: FlaskClient, office_id: int) -> list[str]:
    page = client.get(f"/console/offices/{office_id}/settings").get_data(as_text=True)
    return re.findall(r'<td class="seats-left">(.*?)</td>', page)


def test_every_page_shows_the_seats_the_crowd_limit_allows_and_never_a_negative_number(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Guards the "45/60" public page and the "-5 / 2" window: one effective capacity, never below zero."""
    mine, _ = offices
    _big_mornings(db, mine, capacity=60, crowd_limit=5)  # 8 windows × 5 = 40 seats, not 60
    db.rollback()
    assert _tuesday_morning_public(client) == "40 of 40"
    signed_in(client, "hoa")
    # Monday (today, morning past the cut-off), Monday afternoon, then Tuesday morning.
    assert _settings_cells(client, mine)[2] == "40 of 40"
    for n in range(3):
        bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone=f"+8498000000{n}", actor=OPERATOR,
                      now=NOW, policy=POLICY)
    db.commit()
    assert _tuesday_morning_public(client) == "37 of 40" == _settings_cells(client, mine)[2]
    grid = client.get("/console/grid").get_data(as_text=True)  # the operators' grid and booking page say the same
    booking_page = client.get(f"/console/book/{mine}/{TUESDAY.isoformat()}/S").get_data(as_text=True)
    assert "37 of 40" in grid and "37 of 60" not in grid and "37 of 40" in booking_page
    token = csrf(client, f"/console/offices/{mine}/roster")
    client.post(f"/console/offices/{mine}/capacity", data={"csrf_token": token, "day": TUESDAY, "session": "S",
                                                           "capacity": "2"})
    client.post(f"/console/offices/{mine}/settings/crowd", data={"csrf_token": token, "crowd_limit": "1"})
    public, settings = _tuesday_morning_public(client), _settings_cells(client, mine)[2]
    assert settings == "0 of 2" and public == "Full"
    for page in (client.get("/?lang=en").get_data(as_text=True),
                 client.get(f"/console/offices/{mine}/settings").get_data(as_text=True),
                 client.get(f"/console/book/{mine}/{TUESDAY.isoformat()}/S").get_data(as_text=True)):
        assert not re.search(r"-\d+ (of|/) ", page)


def test_a_capacity_below_what_is_booked_says_how_many_are_over_and_links_to_moving_them(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Guards the bare "Saved." after lowering a capacity below the bookings: the count, and the way to act."""
    mine, _ = offices
    for n in range(3):
        bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone=f"+8498000000{n}", actor=OPERATOR,
                      now=NOW, policy=POLICY)
    db.commit()
    token = csrf(signed_in(client, "hoa"), f"/console/offices/{mine}/roster")
    answer = client.post(f"/console/offices/{mine}/capacity", data={
        "csrf_token": token, "day": TUESDAY, "session": "S", "capacity": "1"}, follow_redirects=True)
    page = answer.get_data(as_text=True)
    assert "Saved. 2 people are booked beyond what the session now holds and keep their seats for now." in page
    link = f'/console/offices/{mine}/settings#over'
    assert link in page
    settings = client.get(link).get_data(as_text=True)
    assert 'id="over-2027-03-02-S"' in settings and "2 people over" in settings
    db.rollback()
    answer = client.post(f"/console/offices/{mine}/settings/date", data={
        "csrf_token": token, "day": TUESDAY.isoformat(), "code": "S", "capacity": "2"}, follow_redirects=True)
    assert "Saved. 1 person is booked beyond what the session now holds and keeps the seat for now." in \
        answer.get_data(as_text=True)
    answer = client.post(f"/console/offices/{mine}/settings/date", data={
        "csrf_token": token, "day": TUESDAY.isoformat(), "code": "S", "capacity": "5"}, follow_redirects=True)
    assert "Saved." in answer.get_data(as_text=True) and "beyond" not in answer.get_data(as_text=True)


def test_reserves_are_set_and_shown_in_hours(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Guards "1440 phút": the form asks for hours, the table says "24 giờ", the database keeps minutes."""
    mine, _ = offices
    login(client, "hoa")
    token = csrf(client, f"/console/offices/{mine}/settings")
    db.rollback()
    client.post(f"/console/offices/{mine}/settings/reserve", data={
        "csrf_token": token, "code": "S", "channel": "operator", "seats": "1", "release_hours": "24"})
    db.rollback()
    assert db.scalars(select(ChannelReserve.release_minutes_before)).one() == 24 * 60
    db.rollback()
    page = client.get(f"/console/offices/{mine}/settings").get_data(as_text=True)
    assert "24 giờ" in page and "1440" not in page and "phút trước" not in page


def test_a_second_check_in_says_when_the_first_was(client: FlaskClient, offices: tuple[int, int], db: Session,
                                                   app: Flask) -> None:
    """Guards "not today's booking" on a second scan of the same code: it says the local time of the first."""
    mine, _ = offices
    made = bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone="+84980000001", actor=OPERATOR,
                         now=NOW, policy=POLICY)
    db.commit()
    login(client, "hoa")
    app.extensions["hotline"].clock = lambda: at(2027, 3, 2, 8, 12)
    token = csrf(client, f"/console/offices/{mine}/roster?date={TUESDAY}")
    data = {"csrf_token": token, "code": made.code, "date": TUESDAY.isoformat()}
    client.post(f"/console/offices/{mine}/checkin", data=data)
    app.extensions["hotline"].clock = lambda: at(2027, 3, 2, 9, 30)
    page = client.post(f"/console/offices/{mine}/checkin", data=data, follow_redirects=True).get_data(as_text=True)
    assert "Lịch hẹn này đã được tiếp nhận lúc 08:12." in page
    client.get("/console/login?lang=en")
    page = client.post(f"/console/offices/{mine}/checkin", data=data, follow_redirects=True).get_data(as_text=True)
    assert "This appointment was already checked in at 08:12." in page and "not for today" not in page


def test_the_menu_names_the_offices_not_their_ids(client: FlaskClient, offices: tuple[int, int]) -> None:
    """Guards "Danh sách hẹn #1": the manager's menu links read the office's name."""
    mine, _ = offices
    login(client, "hoa")
    page = client.get("/console/lookup").get_data(as_text=True)
    nav = page.split('class="console-nav__list"', 1)[1].split("</ul>", 1)[0]
    assert "Trung tâm Phục vụ hành chính công xã Năm Căn" in nav and f"#{mine}" not in nav
    assert f'href="/console/offices/{mine}/roster"' in nav


def _audit_rows(page: str) -> list[list[str]]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[re.sub(r"<[^>]+>", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def test_the_audit_log_reads_in_vietnamese_local_time_with_filters_and_pages(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Guards the raw log: action names as words, UTC times, 200 rows and no way to find one entry."""
    mine, other = offices
    for n in range(120):  # one a minute from 08:00 local on 1 March: entries 0-59 that day's 08:xx, then 09:xx
        record(db, actor="user:hoa" if n % 2 else "ivr:CA1", action="booking.create" if n % 3 else "booking.cancel",
               target_type="booking", target_id=n, office_id=mine if n < 100 else other,
               now=at(2027, 3, 1, 8) + timedelta(minutes=n))
    record(db, actor="user:admin", action="office.update", target_type="office", target_id=mine, office_id=mine,
           now=at(2027, 3, 5, 8, 12))
    db.commit()
    login(client, "admin")
    page = client.get("/console/audit").get_data(as_text=True)
    rows = _audit_rows(page)
    assert len(rows) == 50 and rows[0][:3] == ["05/03/2027 08:12", "user:admin", "Sửa thông tin cơ quan"]
    assert rows[1][:3] == ["01/03/2027 09:59", "user:hoa", "Đặt lịch"]  # entry 119, stored as 02:59 UTC
    assert "Trang 1/3" in page and "booking.create" not in "".join(r[2] for r in rows)
    last = _audit_rows(client.get("/console/audit?page=3").get_data(as_text=True))
    assert len(last) == 21 and last[-1][:3] == ["01/03/2027 08:00", "ivr:CA1", "Hủy lịch hẹn"]
    assert len(_audit_rows(client.get("/console/audit?page=99").get_data(as_text=True))) == 21  # the last page
    only = _audit_rows(client.get(f"/console/audit?actor=hoa&action=booking.create&office_id={mine}").get_data(
        as_text=True))
    assert len(only) == len([n for n in range(100) if n % 2 and n % 3])
    assert {(r[1], r[2]) for r in only} == {("user:hoa", "Đặt lịch")}
    assert [r[1] for r in _audit_rows(client.get("/console/audit?start=2027-03-02").get_data(as_text=True))] == [
        "user:admin"]
    assert len(_audit_rows(client.get("/console/audit?end=2027-03-04&office_id=" + str(other)).get_data(
        as_text=True))) == 20
    assert client.get("/console/audit?start=yesterday").status_code == 400
    assert client.get("/console/audit?page=x").status_code == 400


def test_csv_headings_are_in_the_readers_language(client: FlaskClient, offices: tuple[int, int],
                                                  db: Session) -> None:
    """Guards "queue,code,arrival_start" and "no_show_rate" heading the CSVs a Vietnamese manager opens."""
    mine, _ = offices
    login(client, "hoa")
    roster = client.get(f"/console/offices/{mine}/roster?date={TUESDAY}&format=csv").get_data(as_text=True)
    assert roster.lstrip("\ufeff").splitlines()[0] == (
        "Số thứ tự,Mã,Đến từ,Đến trước,Họ tên,Số điện thoại,Thủ tục,Lĩnh vực,Kênh,Trạng thái")
    quarterly = client.get("/console/reports/quarterly.csv?year=2027&quarter=1").get_data(as_text=True)
    heading = quarterly.lstrip("\ufeff").splitlines()[0].split(",")
    assert heading[:4] == ["Năm", "Quý", "Mã cơ quan", "Tên cơ quan"] and "Tỉ lệ không đến" in heading
    assert len([h for h in heading if h.startswith("Lịch hẹn: ")]) == 5  # one column per channel
    client.get("/console/login?lang=en")
    quarterly = client.get("/console/reports/quarterly.csv?year=2027&quarter=1").get_data(as_text=True)
    heading = quarterly.lstrip("\ufeff").splitlines()[0].split(",")
    assert heading[:4] == ["Year", "Quarter", "Office code", "Office name"]
    assert "Bookings: Phone menu (IVR)" in heading and "Share who did not come" in heading


def test_the_roster_csv_gives_channel_and_status_in_words(client: FlaskClient, offices: tuple[int, int],
                                                         db: Session) -> None:
    """Guards "ivr" and "booked" (stored codes) in the roster CSV a Vietnamese manager opens."""
    mine, _ = offices
    bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone="+84980000001", actor=IVR, now=NOW,
                  policy=POLICY)
    bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone="+84980000002", actor=OPERATOR, now=NOW,
                  policy=POLICY)
    db.commit()
    login(client, "hoa")
    rows = client.get(f"/console/offices/{mine}/roster?date={TUESDAY}&format=csv").get_data(as_text=True)
    assert [line.split(",")[-2:] for line in rows.lstrip("\ufeff").splitlines()[1:]] == [
        ["Tổng đài tự động (IVR)", "Đã đặt"], ["Tổng đài viên", "Đã đặt"]]
    client.get("/console/login?lang=en")
    rows = client.get(f"/console/offices/{mine}/roster?date={TUESDAY}&format=csv").get_data(as_text=True)
    assert rows.splitlines()[1].split(",")[-2:] == ["Phone menu (IVR)", "Booked"]


def test_the_broadcast_cost_is_in_dong_by_default(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Guards a cost estimate in dollars ("$0.50") for Vietnamese offices: 800 ₫ a segment, Vietnamese digits."""
    mine, _ = offices
    assert (Settings.from_env({}).sms_price_per_segment, Settings.from_env({}).sms_price_currency) == (800, "VND")
    for n in range(3):
        bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone=f"+8498000000{n}", actor=OPERATOR,
                      now=NOW, policy=POLICY)
    db.commit()
    login(client, "hoa")
    page = compose(client, mine, action="preview", body="Mat dien, xin quy vi den vao buoi chieu.").get_data(
        as_text=True)
    assert fact(page, "Chi phí ước tính") == "2.400\xa0₫"  # 3 people × 1 segment × 800 ₫, a Vietnamese thousands dot
