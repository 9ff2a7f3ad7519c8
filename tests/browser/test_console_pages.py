"""Every console page an administrator can open renders in Chromium; on SQLite each is also photographed.

The pages are found in the app's URL map, not listed by hand, so a page added tomorrow is visited
(and photographed for review) without touching this file. Path parameters are filled from the
data arranged here; a page needing a parameter we cannot fill is left out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import User
from actions.audit import record
from booking import bookings
from booking.models import CallbackRequest
from tests.browser.driving import Browsing, sign_in
from tests.factories import NOW, OPERATOR, POLICY, at


def arrange(db: Session, namcan: int) -> dict[str, object]:
    """A day with something on every page: bookings, one checked in, a call-back waiting, audit entries."""
    today = at(2027, 3, 1).date()
    made = [bookings.book(db, office_id=namcan, day=today, code="C", phone=f"+8498100001{n}", actor=OPERATOR,
                          now=NOW, policy=POLICY, name=name)
            for n, name in enumerate(["Nguyễn Thị Hương", "Lê Văn Đức", "Võ Thị Ánh Tuyết"])]
    bookings.check_in(db, code=made[0].code, actor=OPERATOR, now=NOW)
    db.add(CallbackRequest(phone="+84981000020", language="vi", context={"intent": "book", "office": "NAMCAN"},
                           requested_at=NOW - timedelta(minutes=12)))
    record(db, actor="user:hoa", action="session.change", target_type="office", target_id=namcan,
           office_id=namcan, after={"date": "2027-03-02", "session": "S", "capacity": 5}, now=NOW)
    record(db, actor="user:lan", action="booking.create", target_type="booking", target_id=made[1].code,
           office_id=namcan, after={"queue": made[1].queue_label}, now=NOW)
    hoa = db.scalars(select(User).where(User.username == "hoa")).one()
    values: dict[str, object] = {"office_id": namcan, "code": made[1].code, "user_id": hoa.id}
    db.commit()
    return values


def console_pages(app: Flask, values: dict[str, Any]) -> list[tuple[str, str]]:
    """(endpoint, path) of every console GET page whose parameters we can fill, in URL order."""
    with app.test_request_context():
        from flask import url_for

        found = {rule.endpoint: url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})
                 for rule in app.url_map.iter_rules()
                 if rule.endpoint.startswith("console.") and "GET" in (rule.methods or ())
                 and rule.arguments <= values.keys()}
    return sorted(found.items(), key=lambda item: item[1])


def visit(page: Page, path: str) -> tuple[int, bool]:
    """Open `path` as a person would; return its status and whether it is a page (not a download)."""
    try:
        response = page.goto(path)
    except PlaywrightError as exc:  # an attachment (a CSV export): fetch it instead of navigating
        if "Download is starting" not in exc.message:
            raise
        return page.request.get(path).status, False
    assert response is not None
    return response.status, response.headers.get("content-type", "").startswith("text/html")


# On SQLite only: the pages are the same on both engines (the scenarios run on both), and this is the slow one.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_every_console_page_renders_for_an_administrator(browsing: Browsing, app: Flask,
                                                         offices: tuple[int, int], db: Session) -> None:
    values = arrange(db, offices[0])
    pages = console_pages(app, values)
    assert {"console.grid", "console.roster", "console.callbacks", "console.audit"} <= {e for e, _ in pages}

    page = browsing.page()
    sign_in(page, "admin", lang=None)  # Vietnamese, as staff see it: English text left in it stands out
    for endpoint, path in pages:
        status, html = visit(page, path)
        # 400: an export that needs a period in its query string; anything else is a broken page.
        assert status in (200, 400), f"{endpoint} ({path}) answered {status}"
        if status != 200 or not html:
            continue
        expect(page.locator("html"), endpoint).to_have_attribute("lang", "vi")
        expect(page.locator("main h2").first, endpoint).to_be_visible()
        browsing.shoot(page, "page-" + endpoint.removeprefix("console."))
    page.goto("/console/audit")
    # The entries are listed as words in the reader's language, not as their keys.
    expect(page.locator("main table")).to_contain_text("Đổi buổi làm việc của một ngày")
    expect(page.locator("main table")).not_to_contain_text("session.change")
