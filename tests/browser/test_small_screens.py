"""On a phone-sized screen the console scrolls sideways only inside its wide tables, never as a whole page."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking import queue
from booking.models import Booking
from notifications.models import MessageKind, MessageStatus, OutboxMessage
from tests.browser.driving import PHONE, Browsing, page_overflow, sign_in
from tests.browser.test_console_pages import arrange
from tests.factories import NOW, make_procedure


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


def test_the_pages_added_for_desks_privacy_and_procedures_fit_a_phone_screen(
        browsing: Browsing, offices: tuple[int, int], db: Session) -> None:
    """The desks page, a counter and a walk-in's ticket (a manager on a phone), the hall's screen as a citizen who
    scanned the ticket's code opens it, the public privacy page, and the administrators' privacy and procedure
    pages: in Vietnamese at 390 px, the document never wider than the screen."""
    mine, _other = offices
    arrange(db, mine)
    desk = queue.save_desk(db, office_id=mine, number=1, name="Hộ tịch, chứng thực").id
    procedure = make_procedure(db, name="Đăng ký khai sinh, đăng ký nhận cha, mẹ, con và cấp bản sao trích lục",
                               documents="Tờ khai đăng ký khai sinh theo mẫu\nGiấy chứng sinh bản chính").id
    db.commit()
    db.rollback()  # no read transaction of ours may stand in the app's way (SQLite)
    manager = browsing.page(PHONE)
    sign_in(manager, "hoa", lang=None)
    counter = f"/console/offices/{mine}/desks/{desk}"
    manager.goto(counter)
    manager.get_by_role("button", name="Cấp số thứ tự").click()  # a walk-in ticket, printed from the counter
    expect(manager.locator(".ticket__queue")).to_be_visible()
    ticket = manager.url
    admin = browsing.page(PHONE)
    sign_in(admin, "admin", lang=None)
    citizen = browsing.page(PHONE)
    for name, page, path in (("desks", manager, f"/console/offices/{mine}/desks"), ("counter", manager, counter),
                             ("ticket", manager, ticket), ("hall-screen", citizen, "/display/NAMCAN"),
                             ("privacy", citizen, "/privacy"), ("admin-privacy", admin, "/console/admin/privacy"),
                             ("admin-procedures", admin, "/console/admin/procedures"),
                             ("admin-procedure", admin, f"/console/admin/procedures/{procedure}")):
        response = page.goto(path)
        assert response is not None and response.status == 200, name
        browsing.shoot(page, f"phone-{name}")
        width = int(page.evaluate("document.documentElement.scrollWidth"))
        assert width <= PHONE["width"], f"{name} is {width} px wide on a {PHONE['width']} px screen"
    admin.goto("/console/admin/privacy")
    admin.locator("input[name=phone]").fill("0981 000 010")  # Nguyễn Thị Hương, booked by `arrange`
    admin.locator("input[name=phone]").press("Enter")  # the number's data, on a page
    expect(admin.get_by_text("Nguyễn Thị Hương").first).to_be_visible()
    browsing.shoot(admin, "phone-admin-privacy-data")
    assert page_overflow(admin) <= 1, "a number's data scrolls sideways on a phone"
