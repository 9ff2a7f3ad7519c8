"""The console as staff use it, in a real Chromium: booking for a caller, closing an office, check-in, language.

Every step is a click or typing on the served pages (the keyboard where a person would use it);
the outcome is checked on the page and in the database, including the SMS left in the outbox.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.models import AuditEntry
from booking import bookings
from booking.models import Booking, BookingStatus
from notifications.models import MessageKind, OutboxMessage
from tests.browser.driving import Browsing, reread, sign_in
from tests.factories import NOW, OPERATOR, POLICY, at

TUESDAY = at(2027, 3, 2).date()


def test_operator_books_a_caller_from_the_grid(browsing: Browsing, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    page = browsing.page()
    sign_in(page, "lan")
    expect(page.get_by_role("heading", name="Seats in the next seven days")).to_be_visible()
    browsing.shoot(page, "02-grid")
    # Today's morning is past its cut-off, so the first "3 of 3" at Năm Căn is Tuesday morning.
    namcan = page.get_by_role("row").filter(has_text="xã Năm Căn")
    namcan.get_by_role("link", name="3 of 3").first.click()
    expect(page).to_have_url(re.compile(rf"/console/book/{mine}/2027-03-02/S$"))
    expect(page.get_by_role("heading", name="Book for a caller")).to_be_visible()

    phone = page.get_by_label("Caller's phone")
    expect(phone).to_be_focused()  # autofocus: the operator types the number straight away
    page.keyboard.type("0912 345 678")
    page.keyboard.press("Tab")
    page.keyboard.type("Phạm Thị Dung")
    browsing.shoot(page, "03-book-form")
    page.keyboard.press("Enter")  # submits the form, as a person finishing the last field would

    expect(page.get_by_role("status")).to_contain_text("Booked: code")
    reread(db)
    booking = db.scalars(select(Booking)).one()
    assert (booking.phone, booking.name, booking.date, booking.session_code) == (
        "+84912345678", "Phạm Thị Dung", TUESDAY, "S")
    assert booking.created_by == "user:lan"
    expect(page.get_by_role("status")).to_have_text(f"Booked: code {booking.code}.")
    browsing.shoot(page, "04-after-booking")
    sms = db.scalars(select(OutboxMessage)).one()
    assert (sms.kind, sms.recipient) == (MessageKind.CONFIRMATION, "+84912345678")
    assert booking.code in sms.body
    assert "booking.create" in db.scalars(select(AuditEntry.action)).all()
    db.rollback()  # the browser goes on: no read transaction of ours may stand in the app's way

    # The caller rings again: the operator finds them by the number as they say it.
    page.get_by_role("link", name="Caller lookup").click()
    page.get_by_label("Phone number").fill("0912.345.678")
    page.keyboard.press("Enter")
    expect(page.get_by_role("cell", name=booking.code, exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=sms.body, exact=True)).to_be_visible()  # the text the caller was sent
    browsing.shoot(page, "05-lookup")


def test_manager_closes_a_day_and_everyone_booked_is_texted(browsing: Browsing, offices: tuple[int, int],
                                                           db: Session) -> None:
    mine, _ = offices
    phones = ["+84981000001", "+84981000002"]
    for n, number in enumerate(phones):
        bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone=number, actor=OPERATOR, now=NOW,
                      policy=POLICY, name=f"Người {n}")
    db.commit()

    page = browsing.page()
    sign_in(page, "hoa")  # a manager of one office lands on its roster
    expect(page).to_have_url(re.compile(rf"/console/offices/{mine}/roster"))
    expect(page.get_by_role("heading", name="Close the office")).to_be_visible()
    page.get_by_label("From", exact=True).fill("2027-03-02")
    page.get_by_label("To", exact=True).fill("2027-03-02")
    page.get_by_label("Reason", exact=True).fill("Mưa bão")
    page.get_by_label("Cancel the appointments and send everyone affected an SMS").check()
    browsing.shoot(page, "06-roster-closure-form")
    page.get_by_role("button", name="Close", exact=True).click()
    # The preview: who is affected and what becomes of them, before anything changes.
    expect(page.get_by_role("heading", name=re.compile("^Close .*Năm Căn"))).to_be_visible()
    browsing.shoot(page, "06b-closure-preview")
    page.get_by_role("button", name="Close the office", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Closed; 2 appointments affected.")
    reread(db)
    assert set(db.scalars(select(Booking.status))) == {BookingStatus.CANCELLED}
    texts = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.CLOSURE)).all()
    assert sorted(m.recipient for m in texts) == phones
    assert all("Mưa bão" in m.body for m in texts)
    assert "office.close" in db.scalars(select(AuditEntry.action)).all()


def test_manager_checks_in_by_typing_the_code_and_enter(browsing: Browsing, offices: tuple[int, int],
                                                       db: Session) -> None:
    mine, _ = offices
    today = NOW.astimezone(at(2027, 3, 1).tzinfo).date()
    arriving = bookings.book(db, office_id=mine, day=today, code="C", phone="+84981000003", actor=OPERATOR,
                             now=NOW, policy=POLICY, name="Trần Văn Bình")
    code, queue = arriving.code, arriving.queue_label
    db.commit()

    page = browsing.page()
    sign_in(page, "hoa")
    status = page.get_by_role("row").filter(has_text=code).get_by_role("cell").last
    expect(status).to_have_text(re.compile(r"^\s*booked\s*$", re.IGNORECASE))
    field = page.get_by_label("Booking code")
    expect(field).to_be_focused()  # a handheld reader types into whatever has the focus
    page.keyboard.type(code)
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_have_text(f"Checked in: {queue}.")
    expect(status).to_have_text(re.compile(r"checked.in", re.IGNORECASE))
    browsing.shoot(page, "07-roster-after-check-in")
    reread(db)
    checked = db.scalars(select(Booking).where(Booking.code == code)).one()
    assert checked.status is BookingStatus.CHECKED_IN and checked.checked_in_at is not None
    assert db.scalars(select(AuditEntry.action)).all() == ["booking.check_in"]


def test_english_is_chosen_once_and_kept_on_the_next_pages(browsing: Browsing, offices: tuple[int, int],
                                                           db: Session) -> None:
    page = browsing.page()
    page.goto("/console/login")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    browsing.shoot(page, "01-login")
    page.get_by_role("link", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, "lan", lang=None)  # no ?lang= from here on: the choice is remembered
    expect(page.get_by_role("heading", name="Seats in the next seven days")).to_be_visible()
    page.get_by_role("link", name="Caller lookup").click()
    expect(page.get_by_role("heading", name="Caller lookup")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_label("Phone number")).to_be_visible()

    page.get_by_role("link", name="Tiếng Việt").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("link", name="English")).to_be_visible()
    expect(page.get_by_role("heading", name="Caller lookup")).to_have_count(0)
