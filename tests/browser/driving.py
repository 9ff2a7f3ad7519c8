"""Driving Chromium through the console: contexts per test, signing in, screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize
from sqlalchemy.orm import Session

from tests.console import PASSWORD

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# Long enough for a slow, shared CI machine; short enough that a missing element fails in seconds.
TIMEOUT_MS = 10_000


def chromium_path() -> str | None:
    """Debian's Chromium: we launch it ourselves and never download Playwright's builds."""
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if os.access(found, os.X_OK) else None


class Browsing:
    """Opens pages for one test and saves screenshots, on the SQLite run only (they look the same on both)."""

    def __init__(self, browser: Browser, base_url: str, *, screenshots: bool) -> None:
        self._browser = browser
        self.base_url = base_url
        self._screenshots = screenshots
        self._contexts: list[BrowserContext] = []

    def page(self, viewport: ViewportSize = DESKTOP) -> Page:
        """A page in a fresh context: no cookies, so no sign-in or language choice from another test."""
        context = self._browser.new_context(base_url=self.base_url, viewport=viewport, locale="vi-VN",
                                            timezone_id="Asia/Ho_Chi_Minh")
        context.set_default_timeout(TIMEOUT_MS)
        self._contexts.append(context)
        return context.new_page()

    def shoot(self, page: Page, name: str) -> None:
        if self._screenshots:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    def shoot_part(self, part: Locator, name: str) -> None:
        """One part of a long page (a section, a form), at the size a person sees it."""
        if self._screenshots:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            part.screenshot(path=SCREENSHOTS / f"{name}.png")

    def close(self) -> None:
        for context in self._contexts:
            context.close()


def sign_in(page: Page, username: str, *, lang: str | None = "en") -> None:
    """Sign in through the form as a person would: type, then Enter; `lang` is asked for on the way in.

    Fields are found by name rather than by label so that this works in either language.
    """
    page.goto("/console/login" + (f"?lang={lang}" if lang else ""))
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(lambda url: "/console/login" not in url)


def page_overflow(page: Page) -> int:
    """How many pixels the page is wider than the viewport: > 0 means the whole page scrolls sideways."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def reread(db: Session) -> None:
    """End the arranging transaction and forget loaded rows, so that assertions read what the app wrote.

    The test sessions keep objects after commit (expire_on_commit=False), and a rollback with no
    transaction open expires nothing: without this a query would hand back the stale objects.
    """
    db.rollback()
    db.expunge_all()
