"""The counter screen and the hall's screen in a real Chromium (issue 14), with screenshots.

The counter is worked from the keyboard alone: the likely next button has the focus, Enter presses it.
The hall's screen updates itself from its JSON under the 'self' policy (no CSP violation), at 1920×1080
and on a tablet.
"""

from __future__ import annotations

import re

from playwright.sync_api import ConsoleMessage, Page, ViewportSize, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking import bookings, queue
from booking.models import Booking, BookingStatus
from tests.browser.driving import Browsing, sign_in
from tests.factories import NOW, OPERATOR, POLICY, phone

TV: ViewportSize = {"width": 1920, "height": 1080}
TABLET: ViewportSize = {"width": 1024, "height": 768}
TABLET_PORTRAIT: ViewportSize = {"width": 768, "height": 1024}


# Counts the notes the screen's script plays, through a stand-in for the browser's WebAudio (headless has no sound).
CHIME_COUNTER = """
window.chimes = 0;
window.AudioContext = function () {
  this.state = "running"; this.currentTime = 0; this.destination = {};
  this.resume = function () {};
  this.createGain = function () {
    return {gain: {setValueAtTime: function () {}, exponentialRampToValueAtTime: function () {}},
            connect: function (next) { return next; }};
  };
  this.createOscillator = function () {
    return {frequency: {}, connect: function (next) { return next; },
            start: function () { window.chimes += 1; }, stop: function () {}};
  };
};
"""


def _arrange(db: Session, office_id: int, people: int = 4) -> tuple[list[int], list[str]]:
    desks = [queue.save_desk(db, office_id=office_id, number=n, name=name).id
             for n, name in ((1, "Hộ tịch"), (2, "Đất đai"), (3, "Chứng thực"))]
    labels = []
    for i in range(people):
        booking = bookings.book(db, office_id=office_id, day=NOW.date(), code="C", phone=phone(i + 1), actor=OPERATOR,
                                now=NOW, policy=POLICY, name=f"Trần Thị {i}")
        labels.append(bookings.check_in(db, code=booking.code, actor=OPERATOR, now=NOW,
                                        office_id=office_id).queue_label)
    db.commit()
    db.rollback()
    return desks, labels


def _errors(page: Page) -> list[str]:
    seen: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            seen.append(f"{message.text} {message.location.get('url')}")

    page.on("console", note)
    return seen


def test_a_desk_calls_the_next_person_and_serves_them_from_the_keyboard(
        browsing: Browsing, offices: tuple[int, int], db: Session) -> None:
    mine, _other = offices
    (one, _two, _three), labels = _arrange(db, mine)
    page = browsing.page()
    errors = _errors(page)
    sign_in(page, "hoa", lang="vi")
    page.goto(f"/console/offices/{mine}/desks/{one}")
    expect(page.get_by_role("button", name="Gọi số tiếp theo")).to_be_focused()
    expect(page.locator("#waiting")).to_have_text("4")
    page.keyboard.press("Enter")
    expect(page.locator("#serving")).to_have_text(labels[0])
    expect(page.locator("#waiting")).to_have_text("3")
    expect(page.get_by_text("Trần Thị 0")).to_be_visible()
    expect(page.get_by_role("button", name="Đã giải quyết")).to_be_focused()
    browsing.shoot(page, "desk-counter-serving")
    small = browsing.page(TABLET_PORTRAIT)  # a desk's tablet: the same screen in one column
    sign_in(small, "hoa", lang="vi")
    small.goto(f"/console/offices/{mine}/desks/{one}")
    expect(small.locator("#serving")).to_have_text(labels[0])
    assert small.evaluate("document.documentElement.scrollWidth") <= TABLET_PORTRAIT["width"]
    browsing.shoot(small, "desk-counter-tablet")
    page.keyboard.press("Enter")
    expect(page.locator("#serving")).to_have_text("—")
    expect(page.get_by_role("status").first).to_contain_text(f"Đã phục vụ: {labels[0]}.")
    browsing.shoot(page, "desk-counter-idle")
    page.get_by_role("button", name="Cấp số thứ tự").click()  # a walk-in, who gives no number
    expect(page.locator(".ticket__queue")).to_have_text(re.compile(r"^S-\d{3}$"))
    expect(page.locator(".ticket svg")).to_be_visible()
    browsing.shoot(page, "desk-walk-in-ticket")
    page.goto(f"/console/offices/{mine}/desks")
    expect(page.get_by_role("heading", name="Hôm nay tại các quầy")).to_be_visible()
    browsing.shoot(page, "desk-list")
    db.rollback()
    served = db.scalars(select(Booking).where(Booking.queue_number == 1, Booking.session_code == "C",
                                              Booking.office_id == mine)).one()
    assert served.status is BookingStatus.SERVED and served.desk_id == one
    assert errors == []


def test_the_hall_screen_follows_the_desks_at_1920_by_1080_and_on_a_tablet(
        browsing: Browsing, offices: tuple[int, int], db: Session) -> None:
    mine, _other = offices
    (one, two, _three), labels = _arrange(db, mine, 9)
    queue.call_next(db, office_id=mine, desk_id=one, actor=OPERATOR, now=NOW)
    db.commit()
    db.rollback()
    tv = browsing.page(TV)
    tv.add_init_script(CHIME_COUNTER)
    errors = _errors(tv)
    tv.goto("/display/NAMCAN?lang=vi")
    expect(tv.locator('#desks tr[data-desk="1"] .display__number')).to_have_text(labels[0])
    expect(tv.locator('#desks tr[data-desk="2"] .display__number')).to_have_text("—")
    expect(tv.locator("#next li").first).to_have_text(labels[1])
    queue.call_next(db, office_id=mine, desk_id=two, actor=OPERATOR, now=NOW)  # the screen polls and shows it
    db.commit()
    db.rollback()
    expect(tv.locator('#desks tr[data-desk="2"] .display__number')).to_have_text(labels[1])
    expect(tv.locator('#desks tr[data-desk="2"]')).to_have_class("is-serving is-new")
    assert tv.evaluate("window.chimes") == 2  # one "ding-dong" (two notes) for the new number, none before
    queue.recall(db, office_id=mine, desk_id=one, actor=OPERATOR, now=NOW)  # called again: the screen chimes again
    db.commit()
    db.rollback()
    expect(tv.locator('#desks tr[data-desk="1"]')).to_have_class("is-serving is-new")
    assert tv.evaluate("window.chimes") == 4
    expect(tv.locator("#waiting")).to_have_text("7")
    number = tv.locator('#desks tr[data-desk="2"] .display__number').bounding_box()
    assert number is not None and number["height"] >= 100  # readable across the hall
    browsing.shoot(tv, "display-1920x1080")
    height = tv.evaluate("document.documentElement.scrollHeight")
    assert height <= TV["height"]  # fits the TV without scrolling
    for size, name in ((TABLET, "display-tablet"), (TABLET_PORTRAIT, "display-tablet-portrait")):
        tablet = browsing.page(size)
        errors += _errors(tablet)
        tablet.goto("/display/NAMCAN?lang=vi")
        expect(tablet.locator('#desks tr[data-desk="2"] .display__number')).to_have_text(labels[1])
        width = tablet.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"]  # nothing runs off the side
        browsing.shoot(tablet, name)
    english = browsing.page(TV)
    english.goto("/display/NAMCAN?lang=en")
    expect(english.get_by_role("heading", name="Now serving")).to_be_visible()
    expect(english.locator('#desks tr[data-desk="1"] .display__desk-number')).to_have_text("Desk 1")
    assert errors == []
