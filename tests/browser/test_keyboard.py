"""The console by keyboard alone: a skip link past the navigation, and a focus that can be seen."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.driving import Browsing, sign_in

FOCUS_YELLOW = "rgb(255, 221, 0)"


def test_the_first_tab_offers_a_skip_link_that_lands_past_the_navigation(browsing: Browsing,
                                                                         offices: tuple[int, int]) -> None:
    """Guards issue 12: a keyboard user had to tab through every link of the console's navigation on each page.

    The skip link is the first stop, hidden until focused and then shown in the focus colours; following it
    puts the focus on the page's main content, so the next Tab reaches the page's own first field.
    """
    page = browsing.page()
    sign_in(page, "lan")
    expect(page.get_by_role("heading", name="Seats in the next seven days")).to_be_visible()
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).not_to_be_in_viewport()

    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    expect(skip).to_have_css("background-color", FOCUS_YELLOW)
    browsing.shoot(page, "keyboard-skip-link")

    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    office_filter = page.locator("main input[name=q]")
    expect(office_filter).to_be_focused()  # not the navigation's first link
    # A focused field is ringed in yellow, a focused link turns yellow: neither looks like the rest of the page.
    expect(office_filter).to_have_css("outline-color", FOCUS_YELLOW)
    page.keyboard.press("Shift+Tab")  # back to the language switch, the last link before the main content
    focused_link = page.locator("a:focus")
    expect(focused_link).to_have_count(1)
    expect(focused_link).to_have_css("background-color", FOCUS_YELLOW)
