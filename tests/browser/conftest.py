"""Browser tests: Debian's headless Chromium, driven by Playwright, against a live server of the app.

The browser is launched once per test run; each test gets a live server of its own (the `engine`
and `make_app` fixtures are per test, so every scenario runs on SQLite and on PostgreSQL) and a
fresh browser context, so no cookie or language choice leaks from one test into the next.

Without Debian's `chromium` the tests are skipped, unless HOTLINE_TEST_REQUIRE_BROWSER=1 (as in
CI) makes a missing browser a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Playwright, expect, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from tests.browser.driving import CHROMIUM_ARGS, TIMEOUT_MS, Browsing, chromium_path
from tests.console import make_staff

REQUIRE_BROWSER = os.environ.get("HOTLINE_TEST_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    # Package scope: Playwright's sync API keeps an event loop running in this thread while it is
    # open, which would stop later tests (tests/load) from starting one of their own.
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One Chromium for all the browser tests: starting it takes about a second, a new context milliseconds."""
    path = chromium_path()
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(message + ", and HOTLINE_TEST_REQUIRE_BROWSER=1 requires it")
        pytest.skip(message)
    browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def offices(db: Session) -> tuple[int, int]:
    """NAMCAN (managed by `hoa`, 3 morning seats) and DAMDOI; users lan, hoa and admin."""
    return make_staff(db)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app the live server serves, at the fixed test time (Monday 1 March 2027, 09:00 in Vietnam)."""
    return make_app()


@pytest.fixture
def live_server(app: Flask, db: Session, offices: tuple[int, int]) -> Iterator[str]:
    """The app served on a free loopback port by a thread; yields its base URL.

    The arranging session is rolled back first: on SQLite an open read transaction in the test
    would block the app's writers for the whole scenario.
    """
    db.rollback()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server",
                              daemon=True)  # a short poll: shutdown() waits up to one interval
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def browsing(browser: Browser, live_server: str, engine: Engine) -> Iterator[Browsing]:
    opened = Browsing(browser, live_server, screenshots=engine.dialect.name == "sqlite")
    yield opened
    opened.close()  # before the live server stops, so that no keep-alive connection outlives it


@pytest.fixture(scope="session", autouse=True)
def _expect_timeout() -> None:
    """`expect` waits 5 s by default; a loaded, shared CI machine needs the same margin as the actions."""
    expect.set_options(timeout=TIMEOUT_MS)
