"""On a phone-sized screen the console scrolls sideways only inside its wide tables, never as a whole page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.driving import PHONE, Browsing, page_overflow, sign_in


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
