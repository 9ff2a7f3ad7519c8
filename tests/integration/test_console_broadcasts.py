"""Broadcast pages of the console: compose, preview, send or schedule, steer, uploads, roles and offices."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from actions.models import AuditEntry
from booking import bookings
from booking.models import Citizen
from notifications import broadcasts
from notifications.models import (
    AudienceKind, Broadcast, BroadcastNumber, BroadcastStatus, MessageKind, MessageStatus, OutboxMessage,
)
from notifications.sms import size_of
from tests.console import csrf, make_staff, signed_in
from tests.console import app as app, client as client
from tests.factories import NOW, OPERATOR, POLICY, at, phone
from tests.outbox import fetch_all

TUESDAY = "2027-03-02"
BODY = ("Kính gửi bà con " * 6).strip()  # 95 letters, some outside GSM-7: UCS-2, two segments
LANDLINE = "0290 3831 234"
NEW = "/console/broadcasts/new"


@pytest.fixture
def offices(db: Session) -> tuple[int, int]:
    """Năm Căn on Tuesday: three mobiles in the morning (one opted out), a mobile and a landline after lunch;
    one more on Wednesday and one at Đầm Dơi on Tuesday, neither of them in a Tuesday audience at Năm Căn."""
    mine, other = make_staff(db)
    tuesday, wednesday = at(2027, 3, 2).date(), at(2027, 3, 3).date()
    for n in (1, 2, 3):
        book(db, mine, tuesday, "S", phone(n))
    book(db, mine, tuesday, "C", phone(4))
    book(db, mine, tuesday, "C", LANDLINE)
    book(db, mine, wednesday, "S", phone(5))
    book(db, other, tuesday, "S", phone(6))
    db.scalars(select(Citizen).where(Citizen.phone == phone(3))).one().broadcast_opt_out = True
    db.commit()
    return mine, other


def book(db: Session, office_id: int, day: Any, session: str, number: str) -> None:
    bookings.book(db, office_id=office_id, day=day, code=session, phone=number, actor=OPERATOR, now=NOW,
                  policy=POLICY)


def compose(client: FlaskClient, office: object, *, action: str = "create", **fields: Any) -> Any:
    data: dict[str, Any] = {"csrf_token": csrf(client, NEW), "title": "", "body": BODY,
                            "audience": "office_dates", "office": str(office), "start": TUESDAY, "end": "",
                            "session": "", "days": "", "action": action}
    data.update(fields)
    return client.post(NEW, data=data, content_type="multipart/form-data")


def steer(client: FlaskClient, broadcast_id: int, action: str, **fields: Any) -> Any:
    token = csrf(client, f"/console/broadcasts/{broadcast_id}")
    return client.post(f"/console/broadcasts/{broadcast_id}/{action}", data={"csrf_token": token, **fields})


def fact(page: str, label: str) -> str:
    found = re.search(rf'<th scope="row">{re.escape(label)}</th><td>([^<]*)</td>', page)
    assert found, (label, page)
    return found.group(1).strip()


def created_id(response: Any) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)
    found = re.search(r"/console/broadcasts/(\d+)$", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def outbox_of(sessions: sessionmaker[Session], broadcast_id: int) -> dict[str, MessageStatus]:
    return {m.recipient: m.status for m in fetch_all(sessions) if m.broadcast_id == broadcast_id}


def read(db: Session, query: Any) -> list[Any]:
    """Rows as others committed them; the transaction ends at once, since on SQLite it would block the app."""
    db.rollback()
    try:
        return [tuple(row) for row in db.execute(query)]
    finally:
        db.rollback()


def broadcast_count(db: Session) -> int:
    return int(read(db, select(func.count()).select_from(Broadcast))[0][0])


def audit_actions(db: Session) -> list[tuple[str, str, Any, Any]]:
    return read(db, select(AuditEntry.actor, AuditEntry.action, AuditEntry.before, AuditEntry.after)
                .where(AuditEntry.target_type == "broadcast").order_by(AuditEntry.id))


def test_manager_previews_then_sends_to_the_people_booked_at_their_office(
        client: FlaskClient, offices: tuple[int, int], db: Session, sessions: sessionmaker[Session]) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    preview = compose(client, mine, action="preview")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    size = size_of(BODY)
    assert (size.encoding, size.segments) == ("ucs2", 2)
    # Five booked on Tuesday: four mobiles, one of them opted out, and a landline.
    assert fact(page, "Recipients") == "3" and fact(page, "Segments per message") == "2"
    assert fact(page, "Left out: opted out of broadcasts") == "1"
    assert fact(page, "Left out: not a mobile number") == "1"
    assert fact(page, "Segments in all") == "6" and fact(page, "Estimated cost") == "₫4,800"
    assert broadcast_count(db) == 0  # a preview saves nothing

    broadcast_id = created_id(compose(client, mine))
    detail = client.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "Draft saved" in detail and fact(detail, "Recipients") == "3" and BODY in detail
    assert fact(detail, "Encoding").startswith("UCS-2")
    assert outbox_of(sessions, broadcast_id) == {}

    sent = client.get(steer(client, broadcast_id, "send").headers["Location"]).get_data(as_text=True)
    assert "3 messages put in the outbox." in sent
    rows = [m for m in fetch_all(sessions) if m.broadcast_id == broadcast_id]
    assert sorted(m.recipient for m in rows) == sorted([phone(1), phone(2), phone(4)])
    assert {(m.kind, m.status, m.body, m.segments) for m in rows} == {
        (MessageKind.BROADCAST, MessageStatus.QUEUED, BODY, 2)}
    listing = client.get("/console/broadcasts").get_data(as_text=True)
    assert f"/console/broadcasts/{broadcast_id}" in listing and "Queued: 3" in listing and "Sending" in listing
    actions = audit_actions(db)
    assert [(actor, action) for actor, action, _, _ in actions] == [
        ("user:hoa", "broadcast.create"), ("user:hoa", "broadcast.send")]
    assert actions[0][3]["audience_spec"] == {"office_id": mine, "start": TUESDAY, "end": TUESDAY,
                                              "session_code": None}
    assert actions[1][2]["status"] == "draft" and actions[1][3]["messages"] == 3
    assert actions[1][3]["status"] == "sending"


def test_one_session_only_narrows_the_audience(client: FlaskClient, offices: tuple[int, int],
                                               sessions: sessionmaker[Session]) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    broadcast_id = created_id(compose(client, mine, session="C"))
    steer(client, broadcast_id, "send")
    assert outbox_of(sessions, broadcast_id) == {phone(4): MessageStatus.QUEUED}


def test_a_scheduled_broadcast_waits_for_its_time(client: FlaskClient, offices: tuple[int, int], app: Flask,
                                                  sessions: sessionmaker[Session], db: Session) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    broadcast_id = created_id(compose(client, mine))
    refused = client.get(steer(client, broadcast_id, "schedule", send_at="2027-03-01T08:00").headers["Location"])
    assert "Choose a time in the future" in refused.get_data(as_text=True)
    steer(client, broadcast_id, "schedule", send_at="2027-03-01T14:00")
    assert read(db, select(Broadcast.status, Broadcast.send_at)) == [
        (BroadcastStatus.SCHEDULED, at(2027, 3, 1, 14, 0))]  # read as Vietnamese time
    assert "14:00 01/03/2027" in client.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert outbox_of(sessions, broadcast_id) == {}
    policy = app.extensions["hotline"].sms
    with sessions.begin() as job:
        assert broadcasts.enqueue_due(job, now=at(2027, 3, 1, 13, 59), policy=policy) == 0
    assert outbox_of(sessions, broadcast_id) == {}
    with sessions.begin() as job:
        assert broadcasts.enqueue_due(job, now=at(2027, 3, 1, 14, 0), policy=policy) == 3
    assert set(outbox_of(sessions, broadcast_id)) == {phone(1), phone(2), phone(4)}
    assert [a for _, a, _, _ in audit_actions(db)] == ["broadcast.create", "broadcast.schedule"]


def test_pause_resume_and_cancel_move_the_outbox_rows(client: FlaskClient, offices: tuple[int, int], db: Session,
                                                      sessions: sessionmaker[Session]) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    broadcast_id = created_id(compose(client, mine))
    steer(client, broadcast_id, "send")
    steer(client, broadcast_id, "pause")
    assert set(outbox_of(sessions, broadcast_id).values()) == {MessageStatus.HELD}
    page = client.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "Held (paused)" in page and "/resume" in page and "/pause" not in page
    steer(client, broadcast_id, "resume")
    assert set(outbox_of(sessions, broadcast_id).values()) == {MessageStatus.QUEUED}
    with sessions.begin() as dispatcher:  # one message already went to the provider
        dispatcher.scalars(select(OutboxMessage).where(OutboxMessage.recipient == phone(1))).one().status = (
            MessageStatus.SENT)
    steer(client, broadcast_id, "cancel")
    assert outbox_of(sessions, broadcast_id) == {phone(1): MessageStatus.SENT, phone(2): MessageStatus.CANCELLED,
                                                 phone(4): MessageStatus.CANCELLED}
    again = client.get(steer(client, broadcast_id, "pause").headers["Location"]).get_data(as_text=True)
    assert "only a broadcast being sent can be paused" in again
    actions = audit_actions(db)
    assert [(a, before["status"], after["status"], after["messages"]) for _, a, before, after in actions[2:]] == [
        ("broadcast.pause", "sending", "paused", 3), ("broadcast.resume", "paused", "sending", 3),
        ("broadcast.cancel", "sending", "cancelled", 2)]


def test_an_uploaded_list_reports_the_lines_it_refused(client: FlaskClient, offices: tuple[int, int],
                                                       db: Session, sessions: sessionmaker[Session]) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    listing = "SĐT\n0912 345 678\nkhông có số\n0290 3831 234\n+84912345678\n".encode()
    response = compose(client, mine, audience="upload", start="",
                       numbers=(io.BytesIO(listing), "danh-sach.csv"))
    broadcast_id = created_id(response)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "List: 1 numbers kept, 1 duplicates, 2 lines refused." in page
    assert "Line 3: “không có số” is not a valid phone number." in page
    assert "Line 4: “0290 3831 234” is not a mobile number." in page
    assert fact(page, "Recipients") == "1"
    token = csrf(client, f"/console/broadcasts/{broadcast_id}")
    more = client.post(f"/console/broadcasts/{broadcast_id}/numbers", content_type="multipart/form-data", data={
        "csrf_token": token, "numbers": (io.BytesIO(b"0987000001\n0912345678\n"), "them.txt")})
    assert "1 numbers added." in client.get(more.headers["Location"]).get_data(as_text=True)
    assert sorted(read(db, select(BroadcastNumber.phone).where(BroadcastNumber.broadcast_id == broadcast_id))) == [
        ("+84912345678",), ("+84987000001",)]
    steer(client, broadcast_id, "send")
    assert set(outbox_of(sessions, broadcast_id)) == {"+84912345678", "+84987000001"}
    actions = audit_actions(db)
    assert actions[0][3]["refused"] == 2 and actions[1][1] == "broadcast.upload" and actions[1][3]["messages"] == 1


def test_an_upload_without_a_file_or_too_large_is_refused(client: FlaskClient, offices: tuple[int, int],
                                                          app: Flask, db: Session) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    missing = compose(client, mine, audience="upload")
    assert missing.status_code == 422 and "Choose the file with the numbers." in missing.get_data(as_text=True)
    app.config["MAX_CONTENT_LENGTH"] = 4096
    token = csrf(client, NEW)
    too_big = client.post(NEW, content_type="multipart/form-data", data={
        "csrf_token": token, "body": BODY, "audience": "upload", "office": str(mine), "action": "create",
        "numbers": (io.BytesIO(b"0912345678\n" * 1000), "big.csv")})
    assert too_big.status_code == 413
    assert broadcast_count(db) == 0


def test_operators_are_refused_every_broadcast_page(client: FlaskClient, offices: tuple[int, int],
                                                    db: Session) -> None:
    mine, _ = offices
    broadcast = broadcasts.create(db, body=BODY, audience=AudienceKind.OFFICE_DATES, office_id=mine,
                                  spec={"office_id": mine, "start": TUESDAY, "end": TUESDAY}, created_by="cli",
                                  now=NOW)
    db.commit()
    signed_in(client, "lan")
    token = csrf(client, "/console/lookup")
    for path in ("/console/broadcasts", NEW, f"/console/broadcasts/{broadcast.id}"):
        assert client.get(path).status_code == 403
    assert client.post(NEW, data={"csrf_token": token, "body": BODY, "audience": "office_dates",
                                  "office": str(mine), "start": TUESDAY}).status_code == 403
    for action in ("send", "schedule", "pause", "resume", "cancel", "numbers"):
        assert client.post(f"/console/broadcasts/{broadcast.id}/{action}",
                           data={"csrf_token": token}).status_code == 403
    assert audit_actions(db) == []


def test_manager_cannot_see_or_steer_another_offices_broadcast(
        client: FlaskClient, offices: tuple[int, int], db: Session, sessions: sessionmaker[Session]) -> None:
    mine, other = offices
    theirs = broadcasts.create(db, body="Đầm Dơi", audience=AudienceKind.OFFICE_DATES, office_id=other,
                               spec={"office_id": other, "start": TUESDAY, "end": TUESDAY}, created_by="user:admin",
                               now=NOW)
    # Owned by Năm Căn in name, but drawing on Đầm Dơi's people too: not Năm Căn's manager's to see.
    mixed = broadcasts.create(db, body="Cả hai", audience=AudienceKind.RECENT_BOOKERS, office_id=mine,
                              spec={"office_ids": [mine, other], "days": 30}, created_by="user:admin", now=NOW)
    province = broadcasts.create(db, body="Toàn tỉnh", audience=AudienceKind.RECENT_BOOKERS,
                                 spec={"office_ids": [mine, other], "days": 30}, created_by="user:admin", now=NOW)
    # Made from the shell, so owned by no office, but only for people booked at Năm Căn: hoa's business.
    from_shell = broadcasts.create(db, body="Năm Căn", audience=AudienceKind.OFFICE_DATES, created_by="cli",
                                   spec={"office_id": mine, "start": TUESDAY, "end": TUESDAY}, now=NOW)
    ids = [theirs.id, mixed.id, province.id]
    db.commit()
    signed_in(client, "hoa")
    listing = client.get("/console/broadcasts").get_data(as_text=True)
    assert not any(f"/console/broadcasts/{i}\"" in listing for i in ids)
    assert f"/console/broadcasts/{from_shell.id}\"" in listing
    assert client.get(f"/console/broadcasts/{from_shell.id}").status_code == 200
    token = csrf(client, NEW)
    for broadcast_id in ids:
        assert client.get(f"/console/broadcasts/{broadcast_id}").status_code == 403
        for action in ("send", "cancel"):
            assert client.post(f"/console/broadcasts/{broadcast_id}/{action}",
                               data={"csrf_token": token}).status_code == 403
    assert compose(client, other).status_code == 403
    assert compose(client, "").status_code == 403  # the whole province
    assert compose(client, "", audience="recent_bookers", days="30").status_code == 403
    assert compose(client, mine, urgent="y").status_code == 403  # urgency is the province's call
    assert broadcast_count(db) == 4
    assert all(m.broadcast_id is None for m in fetch_all(sessions)) and audit_actions(db) == []


def test_admin_sends_a_province_wide_notice_that_managers_do_not_see(
        client: FlaskClient, offices: tuple[int, int], db: Session, sessions: sessionmaker[Session]) -> None:
    mine, other = offices
    signed_in(client, "admin")
    new = client.get(NEW).get_data(as_text=True)
    assert "Whole province" in new and "Urgent" in new
    broadcast_id = created_id(compose(client, "", audience="recent_bookers", start="", days="7"))
    [(office_id, spec)] = read(db, select(Broadcast.office_id, Broadcast.audience_spec))
    assert office_id is None and sorted(spec["office_ids"]) == sorted([mine, other])
    steer(client, broadcast_id, "send")
    # Everyone who booked in the week: every mobile at both offices but the one who opted out.
    assert set(outbox_of(sessions, broadcast_id)) == {phone(1), phone(2), phone(4), phone(5), phone(6)}
    manager = signed_in(client.application.test_client(), "hoa")
    assert manager.get(f"/console/broadcasts/{broadcast_id}").status_code == 403
    assert f"/console/broadcasts/{broadcast_id}\"" not in manager.get("/console/broadcasts").get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, offices: tuple[int, int],
                                                  db: Session) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    broadcast_id = created_id(compose(client, mine))
    assert client.post(NEW, data={"body": BODY, "audience": "office_dates", "office": str(mine),
                                  "start": TUESDAY}).status_code == 400
    for action in ("send", "schedule", "cancel"):
        assert client.post(f"/console/broadcasts/{broadcast_id}/{action}",
                           data={"send_at": "2027-03-01T14:00"}).status_code == 400
    assert read(db, select(Broadcast.status)) == [(BroadcastStatus.DRAFT,)]


@pytest.mark.parametrize(("fields", "message"), [
    ({"body": "   "}, "Text of the message: This field is required."),
    ({"audience": "everyone"}, "Who receives it: Not a valid choice."),
    ({"start": "2027-02-30"}, "From: Not a valid date value."),
    ({"start": ""}, "Choose the first date."),
    ({"start": "2027-03-03", "end": "2027-03-02"}, "The last date is before the first."),
    ({"audience": "recent_bookers", "days": "0"}, "Booked in the last N days: Number must be between 1 and 366."),
    ({"audience": "recent_bookers"}, "Give the number of days."),
])
def test_bad_input_is_flashed_and_saves_nothing(client: FlaskClient, offices: tuple[int, int], db: Session,
                                                fields: dict[str, str], message: str) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    response = compose(client, mine, **fields)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert broadcast_count(db) == 0 and audit_actions(db) == []


def test_bad_ids_and_times_are_client_errors(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    signed_in(client, "hoa")
    assert compose(client, "NAMCAN").status_code == 400
    assert client.get("/console/broadcasts/999999").status_code == 404
    broadcast_id = created_id(compose(client, mine))
    page = client.get(steer(client, broadcast_id, "schedule", send_at="ngày mai").headers["Location"])
    assert "Send at (Vietnam time): Not a valid datetime value." in page.get_data(as_text=True)
    assert read(db, select(Broadcast.status)) == [(BroadcastStatus.DRAFT,)]


def test_the_preview_shows_the_text_with_the_brandname_and_without_diacritics(
        make_app: Callable[..., Flask], offices: tuple[int, int], db: Session,
        sessions: sessionmaker[Session]) -> None:
    mine, _ = offices
    db.rollback()
    client = signed_in(make_app(sms_brandname="UBND CA MAU", sms_diacritics="strip").test_client(), "hoa")
    sent_as = "UBND CA MAU: " + ("Kinh gui ba con " * 6).strip()
    preview = compose(client, mine, action="preview").get_data(as_text=True)
    assert sent_as in preview and fact(preview, "Encoding").startswith("GSM-7")
    assert fact(preview, "Segments per message") == "1" and fact(preview, "Characters") == str(len(sent_as))
    broadcast_id = created_id(compose(client, mine))
    assert sent_as in client.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    steer(client, broadcast_id, "send")
    assert {m.body for m in fetch_all(sessions) if m.broadcast_id == broadcast_id} == {sent_as}


def test_in_quiet_hours_the_page_says_when_the_messages_will_leave(
        make_app: Callable[..., Flask], offices: tuple[int, int], db: Session,
        sessions: sessionmaker[Session]) -> None:
    mine, _ = offices
    db.rollback()
    client = signed_in(make_app(clock=lambda: at(2027, 3, 1, 22, 0)).test_client(), "hoa")
    broadcast_id = created_id(compose(client, mine))
    page = client.get(f"/console/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert "Sent now, they would leave at 07:00 02/03." in page
    steer(client, broadcast_id, "send")
    assert {m.due_at for m in fetch_all(sessions) if m.broadcast_id == broadcast_id} == {at(2027, 3, 2, 7, 0)}


def test_a_managers_list_pages_stay_full_past_broadcasts_they_may_not_see(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Province-wide broadcasts interleave with the office's own; each page still shows 50 of the manager's."""
    mine, other = offices
    visible: list[int] = []
    for n in range(180):
        if n % 3 == 2:
            broadcasts.create(db, body=f"Toàn tỉnh {n}", audience=AudienceKind.RECENT_BOOKERS, created_by="user:admin",
                              spec={"office_ids": [mine, other], "days": 30}, now=NOW)
        else:
            visible.append(broadcasts.create(db, body=f"Năm Căn {n}", audience=AudienceKind.OFFICE_DATES,
                                             office_id=mine, created_by="user:hoa", now=NOW,
                                             spec={"office_id": mine, "start": TUESDAY, "end": TUESDAY}).id)
    db.commit()
    signed_in(client, "hoa")
    steer(client, visible[-1], "send")  # the newest: to the three mobiles booked on Tuesday that did not opt out

    pages, path = [], "/console/broadcasts"
    while path:
        page = client.get(path).get_data(as_text=True)
        pages.append([int(i) for i in re.findall(r'<tr><td>(\d+)</td>', page)])
        older = re.search(r'href="(/console/broadcasts\?before=\d+)"', page)
        path = older.group(1) if older else ""
        if len(pages) == 1:
            assert "Queued: 3" in page  # the newest row counts its messages by state
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [i for p in pages for i in p] == sorted(visible, reverse=True)
