"""The console: sign-in, CSRF, roles and office boundaries, booking, roster, check-in, closures, audit."""

from __future__ import annotations

import csv
import io
import re

import segno
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.models import AuditEntry
from booking import bookings
from booking.bookings import Actor
from booking.models import Booking, BookingStatus, Channel, OfficeLevel, OfficeSession
from notifications.models import MessageKind, OutboxMessage
from tests.closure_pages import close_through_preview
from tests.console import PASSWORD, csrf, login
from tests.console import app as app, client as client, offices as offices
from tests.factories import NOW, OPERATOR, POLICY, at, make_office, phone

TUESDAY = "2027-03-02"


def test_the_console_requires_signing_in(client: FlaskClient, offices: tuple[int, int]) -> None:
    response = client.get("/console/grid")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]
    assert "Đăng nhập" in client.get("/console/login").get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, offices: tuple[int, int]) -> None:
    response = client.post("/console/login", data={"username": "lan", "password": PASSWORD})
    assert response.status_code == 400
    assert login(client, "lan") == 302
    assert client.post("/console/bookings/123456789/cancel").status_code == 400


def test_repeated_wrong_passwords_are_throttled(client: FlaskClient, offices: tuple[int, int]) -> None:
    for _ in range(5):
        assert login(client, "lan", "sai mật khẩu") == 200
    assert login(client, "lan") == 429  # even the right password waits now
    assert login(client, "hoa") == 302  # another user from the same address is not locked out yet


def test_session_cookie_is_http_only_and_expires(client: FlaskClient, offices: tuple[int, int],
                                                 app: Flask) -> None:
    login(client, "lan")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.expires is not None
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() == 8 * 3600


def test_grid_filters_by_level_and_the_booking_page_shows_the_arrival_windows(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    make_office(db, code="TINH", name="Trung tâm Phục vụ hành chính công tỉnh Cà Mau", level=OfficeLevel.PROVINCE)
    db.commit()
    db.rollback()
    login(client, "lan")
    provincial = client.get("/console/grid?level=province&lang=en").get_data(as_text=True)
    assert "tỉnh Cà Mau" in provincial and "xã Năm Căn" not in provincial
    communes = client.get("/console/grid?level=commune").get_data(as_text=True)
    assert "xã Năm Căn" in communes and "tỉnh Cà Mau" not in communes
    assert "tỉnh Cà Mau" in client.get("/console/grid?level=nonsense").get_data(as_text=True)
    # Năm Căn's morning: 3 seats from 07:30 spread over 30-minute windows of at most 10 people.
    page = client.get(f"/console/book/{mine}/{TUESDAY}/S").get_data(as_text=True)
    assert "Arrival windows" in page and "07:30–08:00" in page and "3 of 3 seats left" in page
    assert "còn 3/3 chỗ" in client.get(f"/console/book/{mine}/{TUESDAY}/S?lang=vi").get_data(as_text=True)


def test_operator_books_for_a_caller(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    login(client, "lan")
    grid = client.get("/console/grid").get_data(as_text=True)
    assert "xã Năm Căn" in grid and f"/console/book/{mine}/{TUESDAY}/S" in grid
    token = csrf(client, f"/console/book/{mine}/{TUESDAY}/S")
    response = client.post(f"/console/book/{mine}/{TUESDAY}/S", data={
        "csrf_token": token, "office_id": mine, "day": TUESDAY, "session": "S", "phone": "0912 345 678",
        "name": "Phạm Thị Dung", "procedure_id": "0", "language": "vi"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    db.rollback()
    booking = db.scalars(select(Booking)).one()
    assert booking.code in page and booking.channel.value == "operator" and booking.created_by == "user:lan"
    assert db.scalars(select(OutboxMessage.kind)).one() is MessageKind.CONFIRMATION
    entry = db.scalars(select(AuditEntry)).one()
    assert (entry.actor, entry.action) == ("user:lan", "booking.create")


def test_operator_sees_the_rule_message_when_the_session_is_full(client: FlaskClient, offices: tuple[int, int],
                                                                db: Session) -> None:
    mine, _ = offices
    for n in range(3):
        bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=f"+8498000000{n}",
                      actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    login(client, "lan")
    token = csrf(client, f"/console/book/{mine}/{TUESDAY}/S")
    page = client.post(f"/console/book/{mine}/{TUESDAY}/S", data={
        "csrf_token": token, "office_id": mine, "day": TUESDAY, "session": "S", "phone": "0912345678",
        "procedure_id": "0", "language": "vi"}).get_data(as_text=True)
    assert "Buổi làm việc này đã hết chỗ." in page


def test_operator_cannot_open_a_managers_pages(client: FlaskClient, offices: tuple[int, int]) -> None:
    mine, _ = offices
    login(client, "lan")
    assert client.get(f"/console/offices/{mine}/roster").status_code == 403
    assert client.get("/console/audit").status_code == 403


def test_manager_cannot_touch_another_office(client: FlaskClient, offices: tuple[int, int]) -> None:
    mine, other = offices
    login(client, "hoa")
    assert client.get(f"/console/offices/{mine}/roster").status_code == 200
    assert client.get(f"/console/offices/{other}/roster").status_code == 403
    token = csrf(client, f"/console/offices/{mine}/roster")
    refused = client.post(f"/console/offices/{other}/capacity", data={
        "csrf_token": token, "day": TUESDAY, "session": "S", "capacity": "99"})
    assert refused.status_code == 403


def test_roster_in_queue_order_as_csv_and_check_in(client: FlaskClient, offices: tuple[int, int],
                                                   db: Session, app: Flask) -> None:
    mine, _ = offices
    made = [bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=f"+8498000000{n}",
                          actor=OPERATOR, now=NOW, policy=POLICY, name=f"Người {n}") for n in range(2)]
    db.commit()
    codes = [b.code for b in made]
    login(client, "hoa")
    csv_text = client.get(f"/console/offices/{mine}/roster?date={TUESDAY}&format=csv").get_data(as_text=True)
    lines = csv_text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("Số thứ tự,Mã,") and [line.split(",")[0] for line in lines[1:]] == ["S-001", "S-002"]
    app.extensions["hotline"].clock = lambda: at(2027, 3, 2, 7, 40)
    token = csrf(client, f"/console/offices/{mine}/roster?date={TUESDAY}")
    client.post(f"/console/offices/{mine}/checkin", data={"csrf_token": token, "code": codes[1],
                                                          "date": TUESDAY})
    db.rollback()
    assert db.scalars(select(Booking.status).where(Booking.code == codes[1])).one() is BookingStatus.CHECKED_IN
    assert db.scalars(select(AuditEntry.action)).all() == ["booking.check_in"]


def test_manager_closes_the_office_and_everyone_affected_is_texted(client: FlaskClient, offices: tuple[int, int],
                                                                   db: Session) -> None:
    mine, _ = offices
    bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone="+84912345678",
                  actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    login(client, "hoa")
    token = csrf(client, f"/console/offices/{mine}/roster")
    close_through_preview(client, f"/console/offices/{mine}/closures", {
        "csrf_token": token, "start": TUESDAY, "end": TUESDAY, "reason": "Mưa bão",
        "disposition": "cancel_and_notify"})
    db.rollback()
    assert db.scalars(select(Booking.status)).one() is BookingStatus.CANCELLED
    closure = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.CLOSURE)).one()
    assert closure.recipient == "+84912345678" and "Mưa bão" in closure.body


def test_manager_closes_a_day_and_moves_everyone_to_the_soonest_later_session(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Guards the move that went backwards: Tuesday's people were put on Monday afternoon, before their own
    appointment (Monday 13:30 was the soonest session with room); now they go to Wednesday morning."""
    mine, _ = offices
    codes = {bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=phone(n),
                           actor=OPERATOR, now=NOW, policy=POLICY).code for n in (1, 2)}
    db.commit()
    login(client, "hoa")
    token = csrf(client, f"/console/offices/{mine}/roster")
    close_through_preview(client, f"/console/offices/{mine}/closures", {
        "csrf_token": token, "start": TUESDAY, "end": TUESDAY, "reason": "Mưa bão", "disposition": "move"})
    db.rollback()
    moved = list(db.scalars(select(Booking)))
    assert {b.code for b in moved} == codes  # the codes stay the same
    assert all(b.status is BookingStatus.BOOKED and (b.date, b.session_code) == (at(2027, 3, 3).date(), "S")
               for b in moved)
    kinds = list(db.scalars(select(OutboxMessage.kind)))
    assert kinds == [MessageKind.MOVE, MessageKind.MOVE]  # one each; nobody is left to cancel or notify
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "office.close")).one()
    assert entry.after is not None
    assert sorted(f["code"] for f in entry.after["bookings"] if f["outcome"] == "moved") == sorted(codes)


def test_a_manager_handles_only_their_own_offices_bookings_in_the_console_and_the_api(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, other = offices
    theirs = bookings.book(db, office_id=other, day=at(2027, 3, 2).date(), code="S", phone=phone(7),
                           actor=OPERATOR, now=NOW, policy=POLICY).code
    db.commit()
    db.rollback()
    login(client, "hoa")
    assert client.get(f"/console/book/{other}/{TUESDAY}/S").status_code == 403
    assert client.get(f"/console/book/{mine}/{TUESDAY}/S").status_code == 200
    # The API accepts the console session: the same office boundary holds there.
    assert client.get(f"/api/v1/bookings/{theirs}").status_code == 403
    assert client.post(f"/api/v1/bookings/{theirs}/cancel", json={}).status_code == 403
    assert client.post(f"/api/v1/bookings/{theirs}/move", json={
        "office_id": mine, "date": TUESDAY, "session": "S"}).status_code == 403
    assert client.post("/api/v1/bookings", json={"office_id": other, "date": TUESDAY, "session": "S",
                                                 "phone": "0912 345 678"}).status_code == 403
    db.rollback()
    assert list(db.scalars(select(Booking.status))) == [BookingStatus.BOOKED]
    assert db.scalars(select(OutboxMessage)).all() == []


def test_api_writes_on_the_console_cookie_must_be_json(client: FlaskClient, offices: tuple[int, int],
                                                      db: Session) -> None:
    """What a cross-site form could send (the cookie, a form body) cancels nothing; JSON does."""
    mine, _ = offices
    code = bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=phone(3),
                         actor=OPERATOR, now=NOW, policy=POLICY).code
    db.commit()
    db.rollback()
    login(client, "hoa")
    for body in ({"data": {"reason": "x"}}, {}, {"data": "{}", "content_type": "text/plain"}):
        refused = client.post(f"/api/v1/bookings/{code}/cancel", **body)
        assert refused.status_code == 415 and refused.get_json()["error"]["code"] == "json_required"
    refused = client.post("/api/v1/bookings", data={"office_id": mine, "date": TUESDAY, "session": "S",
                                                    "phone": "0912 345 678"})
    assert refused.status_code == 415
    assert refused.get_json()["error"]["message"] == {
        "vi": "Yêu cầu gửi qua phiên đăng nhập bảng điều khiển phải có nội dung JSON (Content-Type: "
              "application/json).",
        "en": "A request signed in through the console must send its body as JSON (Content-Type: "
              "application/json)."}
    db.rollback()
    assert list(db.scalars(select(Booking.status))) == [BookingStatus.BOOKED]
    db.rollback()
    assert client.post(f"/api/v1/bookings/{code}/cancel", json={}).status_code == 200
    db.rollback()
    assert list(db.scalars(select(Booking.status))) == [BookingStatus.CANCELLED]


def test_roster_csv_keeps_a_callers_name_from_running_as_a_spreadsheet_formula(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone="+84980000001", actor=OPERATOR,
                  now=NOW, policy=POLICY, name='=HYPERLINK("http://x","y")')
    db.commit()
    login(client, "hoa")
    csv_text = client.get(f"/console/offices/{mine}/roster?date={TUESDAY}&format=csv").get_data(as_text=True)
    row = next(csv.reader(io.StringIO(csv_text.lstrip("\ufeff").splitlines()[1])))
    assert row[4] == "'=HYPERLINK(\"http://x\",\"y\")" and row[5] == "+84980000001"


def test_admin_reads_the_audit_log(client: FlaskClient, offices: tuple[int, int]) -> None:
    mine, _ = offices
    login(client, "hoa")
    token = csrf(client, f"/console/offices/{mine}/roster")
    client.post(f"/console/offices/{mine}/capacity", data={"csrf_token": token, "day": TUESDAY, "session": "S",
                                                           "capacity": "7"})
    client.get("/console/login")
    admin = client.application.test_client()
    login(admin, "admin")
    page = admin.get("/console/audit").get_data(as_text=True)
    assert "user:hoa" in page and "Đổi buổi làm việc của một ngày" in page and "sức chứa: 7" in page
    assert "ngày: 02/03/2027" in page and "buổi: Buổi sáng" in page  # not "capacity: 7", "2027-03-02", "S"


def _session_counts(db: Session) -> dict[tuple[int, str, str], int]:
    db.rollback()
    db.expire_all()
    counts = {(s.office_id, s.date.isoformat(), s.code): s.booked for s in db.scalars(select(OfficeSession))}
    db.rollback()
    return counts


def test_operator_moves_a_booking_and_the_caller_is_texted(client: FlaskClient, offices: tuple[int, int],
                                                           db: Session) -> None:
    mine, other = offices
    made = [bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=phone(n), actor=OPERATOR,
                          now=NOW, policy=POLICY) for n in (1, 2)]
    db.commit()
    code, untouched = made[0].code, made[1].code
    login(client, "lan")
    lookup = client.get(f"/console/lookup?phone={phone(1)}&lang=en").get_data(as_text=True)
    assert f"/console/bookings/{code}/move" in lookup and f"/console/bookings/{untouched}/move" not in lookup
    page = client.get(f"/console/bookings/{code}/move").get_data(as_text=True)
    offered = re.findall(r'/move/confirm\?office_id=(\d+)&amp;day=([\d-]+)&amp;session=(\w)"', page)
    assert (str(mine), "2027-03-02", "C") in offered and (str(mine), "2027-03-03", "S") in offered
    assert (str(mine), "2027-03-02", "S") not in offered  # not the session it already has
    elsewhere = client.get(f"/console/bookings/{code}/move?office_id={other}").get_data(as_text=True)
    assert f"/move/confirm?office_id={other}&amp;" in elsewhere
    token = csrf(client, f"/console/bookings/{code}/move")
    response = client.post(f"/console/bookings/{code}/move", data={
        "csrf_token": token, "office_id": other, "day": "2027-03-03", "session": "C"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/console/bookings/{code}")
    db.rollback()
    db.expire_all()  # the booking made above is still in this session's identity map
    moved = db.scalars(select(Booking).where(Booking.code == code)).one()
    assert (moved.office_id, moved.date.isoformat(), moved.session_code, moved.status) == (
        other, "2027-03-03", "C", BookingStatus.BOOKED)
    assert db.scalars(select(Booking.status).where(Booking.code == untouched)).one() is BookingStatus.BOOKED
    assert _session_counts(db) == {(mine, "2027-03-02", "S"): 1, (other, "2027-03-03", "C"): 1}
    sms = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.MOVE)).one()
    assert sms.recipient == phone(1) and moved.queue_label in sms.body
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "booking.move")).one()
    assert entry.actor == "user:lan" and entry.target_id == code and entry.office_id == other
    assert entry.before is not None and entry.after is not None
    assert (entry.before["office_id"], entry.before["date"], entry.before["queue"]) == (mine, "2027-03-02", "S-001")
    assert (entry.after["office_id"], entry.after["date"], entry.after["session"]) == (other, "2027-03-03", "C")
    db.rollback()
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Moved" in detail and "02/03/2027 S-001 → 03/03/2027 C-001" in detail


def test_a_move_the_rules_refuse_is_flashed_and_nothing_changes(client: FlaskClient, offices: tuple[int, int],
                                                                db: Session) -> None:
    mine, _ = offices
    booking = bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=phone(1),
                            actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    code = booking.code
    login(client, "lan")
    token = csrf(client, f"/console/bookings/{code}/move?lang=en")
    sunday = client.post(f"/console/bookings/{code}/move", data={
        "csrf_token": token, "office_id": mine, "day": "2027-03-07", "session": "S"})
    assert sunday.status_code == 200 and 'class="flash error"' in sunday.get_data(as_text=True)
    garbage = client.post(f"/console/bookings/{code}/move", data={
        "csrf_token": token, "office_id": "x", "day": "tomorrow", "session": "SS"})
    assert garbage.status_code == 200 and 'class="flash error"' in garbage.get_data(as_text=True)
    assert client.post(f"/console/bookings/{code}/move", data={
        "office_id": mine, "day": "2027-03-03", "session": "S"}).status_code == 400  # no CSRF token
    assert client.get("/console/bookings/123456780/move").status_code in (404, 422)
    db.rollback()
    db.expire_all()
    assert db.scalars(select(Booking.date)).one().isoformat() == "2027-03-02"
    assert db.scalars(select(OutboxMessage)).all() == [] and db.scalars(select(AuditEntry)).all() == []


def test_a_manager_moves_only_within_their_offices(client: FlaskClient, offices: tuple[int, int],
                                                   db: Session) -> None:
    mine, other = offices
    theirs = bookings.book(db, office_id=other, day=at(2027, 3, 2).date(), code="S", phone=phone(1),
                           actor=OPERATOR, now=NOW, policy=POLICY)
    ours = bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=phone(2),
                         actor=OPERATOR, now=NOW, policy=POLICY)
    db.commit()
    theirs_code, ours_code = theirs.code, ours.code
    login(client, "hoa")
    assert client.get(f"/console/bookings/{theirs_code}").status_code == 403
    assert client.get(f"/console/bookings/{theirs_code}/move").status_code == 403
    assert client.get(f"/console/bookings/{ours_code}/move?office_id={other}").status_code == 403
    token = csrf(client, f"/console/bookings/{ours_code}/move")
    assert client.post(f"/console/bookings/{ours_code}/move", data={
        "csrf_token": token, "office_id": other, "day": "2027-03-03", "session": "S"}).status_code == 403
    assert client.post(f"/console/bookings/{ours_code}/move", data={
        "csrf_token": token, "office_id": mine, "day": "2027-03-03", "session": "S"}).status_code == 302
    db.rollback()
    db.expire_all()
    assert db.scalars(select(Booking.date).where(Booking.code == ours_code)).one().isoformat() == "2027-03-03"
    assert db.scalars(select(Booking.office_id).where(Booking.code == theirs_code)).one() == other


def test_booking_ends_on_a_printable_confirmation_with_a_qr_code(client: FlaskClient, offices: tuple[int, int],
                                                                  db: Session) -> None:
    mine, _ = offices
    login(client, "lan")
    token = csrf(client, f"/console/book/{mine}/{TUESDAY}/S?lang=en")
    response = client.post(f"/console/book/{mine}/{TUESDAY}/S", data={
        "csrf_token": token, "office_id": mine, "day": TUESDAY, "session": "S", "phone": "0912 345 678",
        "name": "Phạm Thị Dung", "procedure_id": "0", "language": "vi"})
    db.rollback()
    booking = db.scalars(select(Booking)).one()
    code, queue, start, end = (booking.code, booking.queue_label, booking.arrival_start.strftime("%H:%M"),
                               booking.arrival_end.strftime("%H:%M"))
    db.rollback()
    assert response.headers["Location"].endswith(f"/console/bookings/{code}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"{code[:3]} {code[3:6]} {code[6:]}" in page and queue in page and f"{start}–{end}" in page
    assert "xã Năm Căn" in page and "Booked" in page and "Tuesday" in page and "Phạm Thị Dung" in page
    qr = segno.make(code, micro=False)
    assert qr.mode == "numeric"  # the nine digits, nothing else, for the desk reader to type
    assert qr.svg_inline(scale=5, title=code, svgclass="qr", omitsize=True, light="#fff") in page
    assert "<script" not in page and "onclick" not in page and "style=" not in page
    mistyped = code[:8] + str((int(code[8]) + 1) % 10)  # the check digit catches it
    assert client.get(f"/console/bookings/{mistyped}").status_code == 422
    login(client, "hoa")
    assert client.get(f"/console/bookings/{code}").status_code == 200  # the manager of Năm Căn


def test_roster_shows_translated_statuses_and_no_shows(client: FlaskClient, offices: tuple[int, int],
                                                       db: Session, app: Flask) -> None:
    mine, _ = offices
    made = [bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=phone(n), actor=OPERATOR,
                          now=NOW, policy=POLICY) for n in (1, 2)]
    bookings.check_in(db, code=made[0].code, actor=OPERATOR, now=at(2027, 3, 2, 7, 40))
    assert bookings.mark_no_shows(db, now=at(2027, 3, 2, 12, 30), actor=Actor("system", Channel.OPERATOR),
                                  policy=POLICY) == 1
    db.commit()
    login(client, "hoa")
    page = client.get(f"/console/offices/{mine}/roster?date={TUESDAY}&lang=en").get_data(as_text=True)
    assert 'class="status status-no_show">Did not come<' in page
    assert 'class="status status-checked_in">Checked in<' in page
    assert "Did not come: 1" in page and "no_show<" not in page and "onclick" not in page


def test_roster_statuses_are_in_vietnamese_by_default(client: FlaskClient, offices: tuple[int, int],
                                                      db: Session) -> None:
    mine, _ = offices
    bookings.book(db, office_id=mine, day=at(2027, 3, 2).date(), code="S", phone=phone(1), actor=OPERATOR,
                  now=NOW, policy=POLICY)
    db.commit()
    login(client, "hoa")
    page = client.get(f"/console/offices/{mine}/roster?date={TUESDAY}").get_data(as_text=True)
    assert 'class="status status-booked">booked<' not in page
