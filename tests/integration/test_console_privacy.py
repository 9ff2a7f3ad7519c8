"""The administrators' pages for a citizen's data: see it (page, JSON), erase it after a confirmation; nobody else may."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import date, time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from actions.models import AuditEntry
from actions.retention import Retention, purge
from booking import bookings, queue
from booking.models import (Booking, BookingStatus, Campaign, CampaignStatus, CampaignTarget, Channel, TargetStatus,
                            WaitlistEntry, WaitlistStatus)
from hotline.ivr.models import Call, CallOutcome
from notifications.models import MessageKind, MessageStatus, OutboxMessage
from tests.console import csrf, signed_in
from tests.console import app as app, client as client, offices as offices
from tests.factories import NOW, OPERATOR, POLICY, VN, at, phone

START = "/console/admin/privacy"


@pytest.fixture
def booked(db: Session, offices: tuple[int, int]) -> int:
    """An appointment tomorrow for phone(1), Nguyễn Văn An, at Năm Căn."""
    booking = bookings.book(db, office_id=offices[0], day=date(2027, 3, 2), code="S", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY, name="Nguyễn Văn An")
    db.commit()
    return booking.id


def _audit(db: Session, action: str) -> list[AuditEntry]:
    db.rollback()
    found = list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))
    db.rollback()
    return found


def test_an_administrator_sees_a_numbers_data_on_a_page_and_as_json(client: FlaskClient, db: Session,
                                                                     booked: int) -> None:
    admin = signed_in(client, "admin")
    token = csrf(admin, START)
    page = admin.post(START, data={"csrf_token": token, "phone": "098 000 0001"})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "Nguyễn Văn An" in text and "NAMCAN" not in text and "Trung tâm Phục vụ hành chính công xã Năm Căn" in text
    assert "Erase this number" in text
    download = admin.post(f"{START}/export", data={"csrf_token": token, "phone": "+84980000001"})
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    data = json.loads(download.get_data(as_text=True))
    assert data["phone"] == phone(1) and [b["name"] for b in data["bookings"]] == ["Nguyễn Văn An"]
    entries = _audit(db, "privacy.export")
    assert [e.target_id for e in entries] == ["…001", "…001"] and all(e.actor == "user:admin" for e in entries)


def test_the_data_page_lists_the_numbers_waitlists_and_call_campaigns(client: FlaskClient, db: Session,
                                                                       booked: int, offices: tuple[int, int]) -> None:
    booking = db.get(Booking, booked)
    assert booking is not None
    db.add(WaitlistEntry(office_id=offices[0], session_id=booking.session_id, date=booking.date, session_code="S",
                         phone=phone(1), name="Hồ Văn Giàu", channel=Channel.IVR, created_by="ivr:CA1",
                         status=WaitlistStatus.EXPIRED, created_at=at(2027, 2, 1), updated_at=at(2027, 2, 1)))
    campaign = Campaign(office_id=offices[0], title="Mời làm căn cước", status=CampaignStatus.DONE, hours_start=time(8),
                        hours_end=time(17), created_by="user:hoa", created_at=at(2027, 2, 1), updated_at=at(2027, 2, 2))
    db.add(campaign)
    db.flush()
    db.add(CampaignTarget(campaign_id=campaign.id, phone=phone(1), name="Lý Thị Hoa", status=TargetStatus.DECLINED,
                          attempts=1, last_attempt_at=at(2027, 2, 2, 9)))
    db.commit()
    admin = signed_in(client, "admin")
    page = admin.post(START, data={"csrf_token": csrf(admin, START), "phone": "0980000001"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Hồ Văn Giàu" in text and "expired" in text
    assert "Mời làm căn cước" in text and "Lý Thị Hoa" in text and "declined" in text


def test_a_wrong_number_is_a_422_not_a_500(client: FlaskClient, offices: tuple[int, int]) -> None:
    admin = signed_in(client, "admin")
    token = csrf(admin, START)
    for url in (START, f"{START}/export"):
        assert admin.post(url, data={"csrf_token": token, "phone": "not a number"}).status_code == 422
        assert admin.post(url, data={"csrf_token": token, "phone": ""}).status_code == 422
    assert admin.post(f"{START}/erase", data={"csrf_token": token, "phone": "12", "confirmed": "yes"}).status_code == 422


def test_erasure_asks_first_refuses_upcoming_appointments_then_cancels_and_erases(
        client: FlaskClient, db: Session, booked: int) -> None:
    admin = signed_in(client, "admin")
    token = csrf(admin, START)
    asked = admin.post(f"{START}/erase", data={"csrf_token": token, "phone": phone(1)})
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "This number has upcoming appointments" in text and 'value="yes"' in text
    db.rollback()
    assert db.get(Booking, booked).phone == phone(1)  # type: ignore[union-attr]  # nothing yet
    db.rollback()
    refused = admin.post(f"{START}/erase", data={"csrf_token": token, "phone": phone(1), "confirmed": "yes"})
    assert refused.status_code == 409 and "upcoming appointment" in refused.get_data(as_text=True)
    done = admin.post(f"{START}/erase", data={"csrf_token": token, "phone": phone(1), "confirmed": "yes",
                                               "cancel_upcoming": "y"})
    assert done.status_code == 302 and done.headers["Location"].endswith(START)
    db.rollback()
    booking = db.get(Booking, booked)
    assert booking and booking.status is BookingStatus.CANCELLED and booking.name is None
    assert booking.phone.startswith("erased:")
    db.rollback()
    [entry] = _audit(db, "privacy.erase")
    assert entry.target_id == "…001" and entry.after and entry.after["cancelled"] == 1
    assert "erased" in admin.get(START).get_data(as_text=True)


@pytest.mark.parametrize("username", ["lan", "hoa"])
def test_only_administrators_reach_a_citizens_data(client: FlaskClient, db: Session, booked: int,
                                                   username: str) -> None:
    staff = signed_in(client, username)
    token = csrf(staff, "/console/lookup")
    assert staff.get(START).status_code == 403
    for url in (START, f"{START}/export", f"{START}/erase"):
        assert staff.post(url, data={"csrf_token": token, "phone": phone(1), "confirmed": "yes",
                                     "cancel_upcoming": "y"}).status_code == 403
    db.rollback()
    assert db.get(Booking, booked).phone == phone(1)  # type: ignore[union-attr]
    assert _audit(db, "privacy.export") == [] and _audit(db, "privacy.erase") == []


def test_the_privacy_page_says_what_is_kept_and_for_how_long_in_vietnamese_and_english(
        make_app: Callable[..., Flask]) -> None:
    app = make_app(retention_booking_days=400, retention_sms_days=60, retention_call_days=20, hotline_number="0290 1022")
    public = app.test_client()
    vi = public.get("/privacy?lang=vi")
    text = vi.get_data(as_text=True)
    assert vi.status_code == 200 and '<html lang="vi">' in text
    assert "Dữ liệu cá nhân của quý vị" in text and "Chúng tôi không ghi âm cuộc gọi" in text
    assert "400 ngày sau ngày hẹn" in text and "60 ngày" in text and "20 ngày" in text and "0290 1022" in text
    assert "91/2025/QH15" in text and "bạn" not in text.lower()
    en = public.get("/privacy?lang=en").get_data(as_text=True)
    assert "We do not record calls" in en and "400 days after the appointment date" in en and "0290 1022" in en
    # Every page links to it: the public pages and the console's.
    for page in ("/", "/console/login"):
        assert 'href="/privacy"' in public.get(page).get_data(as_text=True), page


def test_the_reports_pages_count_the_same_after_the_nightly_purge(client: FlaskClient, db: Session,
                                                                   sessions: sessionmaker[Session],
                                                                   offices: tuple[int, int]) -> None:
    """A year on, the bookings, SMS and calls of February 2026 are anonymised: the page and the CSV do not change."""
    day = date(2026, 2, 3)
    made = [bookings.book(db, office_id=offices[n % 2], day=day, code="S", phone=phone(n), actor=OPERATOR,
                          now=at(2026, 2, 2), policy=POLICY, name="Nguyễn Văn An") for n in range(1, 5)]
    bookings.cancel(db, booking_id=made[0].id, actor=OPERATOR, now=at(2026, 2, 2, 10), policy=POLICY)
    for n, booking in enumerate(made[1:], start=1):
        bookings.check_in(db, code=booking.code, actor=OPERATOR, now=at(2026, 2, 3, 8))
        db.add(OutboxMessage(kind=MessageKind.CONFIRMATION, recipient=booking.phone, body="Lịch hẹn", language="vi",
                             encoding="ucs2", segments=n, status=MessageStatus.DELIVERED, due_at=at(2026, 2, 2),
                             booking_id=booking.id, created_at=at(2026, 2, 2), updated_at=at(2026, 2, 2)))
        db.add(Call(sid=f"CA{n}", caller=booking.phone, state="goodbye", context={"office": "Năm Căn"},
                    status="ended", started_at=at(2026, 2, 2, 8), updated_at=at(2026, 2, 2, 8, 2),
                    ended_at=at(2026, 2, 2, 8, 2), outcome=CallOutcome.BOOKED, booked_at=at(2026, 2, 2, 8, 1),
                    ended_in="goodbye", duration_seconds=60 * n))
    # The counters: a desk calls and serves one person, then calls one who does not come up (kept by the purge).
    here = offices[0]
    desk = queue.save_desk(db, office_id=here, number=1, name="Quầy 1").id
    served = queue.call_next(db, office_id=here, desk_id=desk, actor=OPERATOR, now=at(2026, 2, 3, 8, 10))
    assert served is not None
    bookings.mark_served(db, booking_id=served.id, actor=OPERATOR, now=at(2026, 2, 3, 8, 25))
    queue.call_next(db, office_id=here, desk_id=desk, actor=OPERATOR, now=at(2026, 2, 3, 8, 30))
    queue.not_at_counter(db, office_id=here, desk_id=desk, actor=OPERATOR, now=at(2026, 2, 3, 8, 31))
    db.commit()
    admin = signed_in(client, "admin")
    urls = ["/console/reports?start=2026-02-01&end=2026-02-28", "/console/reports/quarterly.csv?year=2026&quarter=1",
            f"/console/reports?start=2026-02-01&end=2026-02-28&office_id={offices[0]}"]

    def pages() -> list[str]:
        return [re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", admin.get(url).get_data(as_text=True))
                for url in urls]

    before = pages()
    assert "<dt>Served at a desk</dt><dd>1</dd>" in before[0] and "<dt>Did not come up when called</dt><dd>1</dd>" in before[0]
    assert "Desk 1 (Quầy 1)</th><td>1</td><td>15 min 00 s</td>" in before[0]
    rows = list(csv.reader(io.StringIO(before[1].lstrip("\ufeff"))))
    assert [row[2] for row in rows[1:]] == ["DAMDOI", "NAMCAN", "PROVINCE"] and "4" in rows[-1]  # the province: 4 bookings
    counts = purge(sessions.begin, now=NOW, tz=VN, retention=Retention())
    assert counts["bookings"] == 4 and counts["messages"] == 3 and counts["calls"] == 3
    assert pages() == before


def test_the_number_is_read_from_post_bodies_only_kept_from_caches_and_named_in_no_log_or_audit_entry(
        client: FlaskClient, db: Session, booked: int, caplog: pytest.LogCaptureFixture) -> None:
    admin = signed_in(client, "admin")
    token = csrf(admin, START)
    digits = phone(1)[3:]  # 980000001: the number however it is written, without the country code
    caplog.set_level("DEBUG")
    for url in (f"{START}?phone={phone(1)}", f"{START}/export?phone={phone(1)}"):
        response = admin.get(url)
        assert response.status_code in (200, 405) and "Nguyễn Văn An" not in response.get_data(as_text=True), url
    assert _audit(db, "privacy.export") == []  # a number in a URL reads nothing
    for url in (START, f"{START}/export", f"{START}/erase"):
        response = admin.post(url, data={"csrf_token": token, "phone": phone(1)})
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", url
    refused = admin.post(START, data={"csrf_token": token, "phone": "0980 000 00x"})  # shown again in its field
    assert refused.status_code == 422 and refused.headers["Cache-Control"] == "no-store"
    admin.post(f"{START}/erase", data={"csrf_token": token, "phone": phone(1), "confirmed": "yes",
                                       "cancel_upcoming": "y"})
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert digits not in logged
    entries = _audit(db, "privacy.export") + _audit(db, "privacy.erase")
    assert [e.target_id for e in entries] == ["…001", "…001", "…001"]
    db.rollback()
    every = [(e.action, e.target_id, e.before, e.after) for e in db.scalars(select(AuditEntry))]
    assert every and digits not in json.dumps(every, ensure_ascii=False, default=str)
