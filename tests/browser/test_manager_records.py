"""The manager's and the records' flows of issue 12 in Chromium: a closure from the settings page (preview,
then confirmation), a capacity lowered below the bookings and the extras moved, the audit log filtered and
paged, the reports opening on this month with the call figures. Screenshots on the SQLite run."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.audit import record
from actions.models import AuditEntry
from booking import bookings
from booking.models import Booking
from hotline.ivr.models import Call, CallOutcome
from notifications.models import MessageKind, OutboxMessage
from tests.browser.driving import DESKTOP, PHONE, Browsing, page_overflow, reread, sign_in
from tests.factories import NOW, OPERATOR, POLICY, at

TUESDAY = date(2027, 3, 2)
NAMES = ["Nguyễn Thị Hương", "Lê Văn Đức", "Võ Thị Ánh Tuyết"]


def _book_tuesday_morning(db: Session, office_id: int) -> list[str]:
    made = [bookings.book(db, office_id=office_id, day=TUESDAY, code="S", phone=f"+8498100000{n}", actor=OPERATOR,
                          now=NOW, policy=POLICY, name=name) for n, name in enumerate(NAMES)]
    codes = [b.code for b in made]
    db.commit()
    db.rollback()  # no read transaction of ours may stand in the app's way (SQLite)
    return codes


def _fits(page: Page, name: str) -> None:
    assert page_overflow(page) <= 1, f"{name} scrolls sideways at {page.viewport_size}"


def test_manager_closes_a_day_from_the_settings_page_after_a_preview(
        browsing: Browsing, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    codes = _book_tuesday_morning(db, mine)
    page = browsing.page()
    sign_in(page, "hoa")
    page.goto(f"/console/offices/{mine}/settings#closures")
    closures = page.locator("#closures")
    closures.get_by_label("From", exact=True).fill("2027-03-02")
    closures.get_by_label("To", exact=True).fill("2027-03-02")
    closures.get_by_label("Reason", exact=True).fill("Mất điện cả ngày")
    closures.get_by_label(re.compile("^Move each appointment")).check()
    closures.get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^Close .*Năm Căn"))).to_be_visible()
    rows = page.locator("table:not(.facts) tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Moved to Wed 03/03/2027 Morning")  # the whole day is closed
    reread(db)
    assert set(db.scalars(select(Booking.date))) == {TUESDAY}  # the preview changed nothing
    db.rollback()
    browsing.shoot(page, "manager-settings-closure-preview")
    page.get_by_role("button", name="Close the office", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Closed; 3 appointments affected, 3 moved.")
    expect(page).to_have_url(re.compile(rf"/console/offices/{mine}/settings#closures$"))
    expect(page.locator("#closures tbody")).to_contain_text("Mất điện cả ngày")
    browsing.shoot(page, "manager-settings-closed")
    browsing.shoot_part(page.locator("#closures"), "manager-settings-closures-section")
    reread(db)
    assert set(db.scalars(select(Booking.date).where(Booking.code.in_(codes)))) == {date(2027, 3, 3)}
    assert len(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.MOVE)).all()) == 3


def test_a_capacity_lowered_below_the_bookings_and_the_extras_moved_on_a_phone_in_vietnamese(
        browsing: Browsing, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    codes = _book_tuesday_morning(db, mine)
    page = browsing.page(PHONE)
    sign_in(page, "hoa", lang="vi")
    page.goto(f"/console/offices/{mine}/settings?day=2027-03-02&code=S#date-forms")
    page.locator("#date-capacity").fill("1")
    page.locator("#date-forms form").first.get_by_role("button").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Đã lưu. 2 người đã đặt vượt số chỗ buổi này nay nhận được và tạm thời vẫn giữ chỗ.")
    _fits(page, "the settings page with the notice")
    browsing.shoot(page, "manager-over-capacity-notice-phone")
    browsing.shoot_part(page.get_by_role("status"), "manager-over-capacity-notice-phone-top")
    browsing.shoot_part(page.locator("#dates"), "manager-over-capacity-dates-phone")
    page.get_by_role("link", name="Chuyển hoặc hủy các lịch hẹn này").click()
    over = page.locator("#over-2027-03-02-S")
    expect(over).to_contain_text("2 người vượt quá")
    expect(over.locator("input[value=move]")).to_be_checked()
    over.locator("input[name=reason]").fill("Thiếu cán bộ tiếp nhận")
    browsing.shoot(page, "manager-over-capacity-form-phone")
    browsing.shoot_part(page.locator("#over"), "manager-over-capacity-section-phone")
    over.get_by_role("button").click()
    expect(page.get_by_role("heading", name=re.compile("^Số người đặt vượt sức chứa"))).to_be_visible()
    rows = page.locator("table:not(.facts) tbody tr")
    expect(rows).to_have_count(2)
    for row, code in zip(rows.all(), codes[1:], strict=True):  # the last booked, never S-001
        expect(row).to_contain_text(code)
        expect(row).to_contain_text("02/03/2027 Buổi chiều")
    _fits(page, "the over-capacity preview")
    browsing.shoot(page, "manager-over-capacity-preview-phone")
    page.get_by_role("button", name="Chuyển các lịch hẹn này").click()
    expect(page.get_by_role("status")).to_have_text(
        "Đã xong: chuyển 2, hủy 0; mỗi người được gửi một tin nhắn SMS.")
    expect(page.locator("#over")).to_have_count(0)
    browsing.shoot(page, "manager-over-capacity-done-phone")
    reread(db)
    assert [db.scalars(select(Booking.session_code).where(Booking.code == c)).one()
            for c in codes] == ["S", "C", "C"]
    texts = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.MOVE)).all()
    assert len(texts) == 2 and all("Thiếu cán bộ tiếp nhận" in t.body for t in texts)
    assert "session.over_capacity" in db.scalars(select(AuditEntry.action)).all()


def test_the_audit_log_is_filtered_and_paged(browsing: Browsing, offices: tuple[int, int], db: Session) -> None:
    mine, other = offices
    for n in range(60):
        record(db, actor="user:hoa" if n % 2 else "user:lan", action="booking.create" if n % 3 else "booking.cancel",
               target_type="booking", target_id=n, office_id=mine if n < 50 else other,
               after={"queue": f"S-{n:03d}"}, now=at(2027, 2, 27, 8) + timedelta(minutes=n))
    db.commit()
    db.rollback()
    page = browsing.page()
    sign_in(page, "admin", lang="vi")
    page.goto("/console/audit")
    expect(page.get_by_text("60 mục")).to_be_visible()
    expect(page.get_by_text("Trang 1/2")).to_be_visible()
    browsing.shoot(page, "records-audit-log")
    page.get_by_role("link", name="Cũ hơn").click()
    expect(page.get_by_text("Trang 2/2")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(10)
    page.locator("input[name=actor]").fill("user:hoa")
    page.locator("select[name=action]").select_option("booking.cancel")
    page.get_by_role("button", name="Xem").click()
    expect(page.locator("tbody tr")).to_have_count(10)  # n odd and a multiple of 3: 3, 9, …, 57
    expect(page.locator("tbody tr").first).to_contain_text("27/02/2027 08:57")  # local time, newest first
    expect(page.locator("tbody tr").first).to_contain_text("Hủy lịch hẹn")
    expect(page.locator("tbody tr").first).to_contain_text("Lịch hẹn 57")  # what it is about, in words
    browsing.shoot(page, "records-audit-log-filtered")
    phone = browsing.page(PHONE)
    sign_in(phone, "admin", lang="vi")
    phone.goto("/console/audit?actor=user:hoa")
    _fits(phone, "the audit log")
    browsing.shoot(phone, "records-audit-log-phone")


def _calls(db: Session) -> None:
    """A morning of calls on 1 March 2027: two bookings, one transferred to an operator, two hang-ups."""
    started = at(2027, 3, 1, 8)
    for n, (outcome, ended_in) in enumerate([(CallOutcome.BOOKED, None), (CallOutcome.BOOKED, None),
                                             (CallOutcome.TRANSFERRED, None), (CallOutcome.HUNG_UP, "main_menu"),
                                             (CallOutcome.HUNG_UP, "book")]):
        at_ = started + timedelta(minutes=5 * n)
        db.add(Call(sid=f"CA{n:032d}", caller=f"+8498200000{n}", state="end", started_at=at_, updated_at=at_,
                    status="ended", ended_at=at_ + timedelta(minutes=2), outcome=outcome, outcome_at=at_,
                    booked_at=at_ + timedelta(seconds=70) if outcome is CallOutcome.BOOKED else None,
                    ended_in=ended_in, duration_seconds=120))
    db.commit()
    db.rollback()


def test_reports_open_on_this_month_with_the_call_figures(browsing: Browsing, offices: tuple[int, int],
                                                          db: Session) -> None:
    _book_tuesday_morning(db, offices[0])
    _calls(db)
    for viewport, lang, name in ((DESKTOP, "vi", "records-reports"), (PHONE, "vi", "records-reports-phone"),
                                 (DESKTOP, "en", "records-reports-en")):
        page = browsing.page(viewport)
        sign_in(page, "admin", lang=lang)
        page.goto("/console/reports")
        calls = page.locator("section[aria-labelledby=calls-heading]")
        if lang == "en":
            expect(page.get_by_text("From 01/03/2027 to 01/03/2027, by the day of the appointment.")).to_be_visible()
            expect(calls).to_contain_text("Calls to the hotline")
            expect(calls.locator("dt:text-is('Containment') + dd")).to_have_text("40.0%")
            expect(calls.locator("dt:text-is('Transferred to an operator') + dd")).to_have_text("1")
        else:
            expect(page.get_by_text("Từ 01/03/2027 đến 01/03/2027, tính theo ngày hẹn.")).to_be_visible()
            expect(calls).to_contain_text("Cuộc gọi đến tổng đài")
        _fits(page, name)
        browsing.shoot(page, name)
        browsing.shoot_part(calls, f"{name}-calls")
