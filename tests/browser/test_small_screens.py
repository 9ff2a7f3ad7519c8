"""On a phone-sized screen the console scrolls sideways only inside its wide tables, never as a whole page."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.models import Booking
from notifications.models import MessageKind, MessageStatus, OutboxMessage
from tests.browser.driving import PHONE, Browsing, page_overflow, sign_in
from tests.browser.test_console_pages import arrange
from tests.factories import NOW


def test_grid_and_booking_form_fit_a_phone_screen(browsing: Browsing, offices: tuple[int, int]) -> None:
    page = browsing.page(PHONE)
    sign_in(page, "lan", lang=None)  # Vietnamese: its words are longer than the English ones
    table = page.locator(".scroll-x")
    expect(table).to_be_visible()
    # The seven days do not fit in 390 pixels: the table's container scrolls, the page does not.
    assert table.evaluate("e => e.scrollWidth > e.clientWidth")
    assert page_overflow(page) <= 1, "the grid page scrolls sideways on a phone"
    browsing.shoot(page, "phone-grid")

    page.get_by_role("row").filter(has_text="xã Năm Căn").get_by_role("link", name="3/3", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/console/book/\d+/2027-03-02/S$"))
    expect(page.locator("input[name=phone]")).to_be_focused()
    assert page_overflow(page) <= 1, "the booking form scrolls sideways on a phone"
    browsing.shoot(page, "phone-book-form")


def test_lookup_reports_and_settings_fit_a_phone_screen(browsing: Browsing, offices: tuple[int, int],
                                                        db: Session) -> None:
    """Guards issue 12: at 390 px the lookup, reports and office settings pages dragged sideways.

    Each page is opened as an administrator in Vietnamese (the longer words) with something in every
    table: a caller with appointments and a long text, a report over booked days, an office's week.
    Only the wrapper of a wide table may scroll; the document itself is never wider than the screen.
    """
    values = arrange(db, offices[0])
    booking = db.scalars(select(Booking).where(Booking.code == values["code"])).one()
    db.add(OutboxMessage(kind=MessageKind.CONFIRMATION, recipient=booking.phone, body=LONG_TEXT, language="vi",
                         encoding="ucs2", segments=3, urgent=False, status=MessageStatus.SENT, due_at=NOW,
                         attempts=1, booking_id=booking.id, created_at=NOW, updated_at=NOW))
    db.commit()
    db.rollback()  # no read transaction of ours may stand in the app's way (SQLite)
    page = browsing.page(PHONE)
    sign_in(page, "admin", lang=None)
    for name, path in (("lookup", f"/console/lookup?phone={booking.phone.replace('+84', '0')}"),
                       ("reports", "/console/reports"),
                       ("office-settings", f"/console/offices/{offices[0]}/settings")):
        response = page.goto(path)
        assert response is not None and response.status == 200, name
        expect(page.locator("main h2").first).to_be_visible()
        browsing.shoot(page, f"phone-{name}")
        width = int(page.evaluate("document.documentElement.scrollWidth"))
        assert width <= PHONE["width"], f"{name} is {width} px wide on a {PHONE['width']} px screen"


LONG_TEXT = ("Lịch hẹn của quý vị tại Trung tâm Phục vụ hành chính công xã Năm Căn: Thứ Hai 01/03/2027, buổi chiều, "
             "số thứ tự C002, xin đến trong khoảng 13:30–14:00. Mã lịch hẹn: 123456789. Để hủy, nhắn HUY 123456789.")
