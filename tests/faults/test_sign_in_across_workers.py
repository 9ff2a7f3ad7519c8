"""Signing in to the console holds whichever worker serves the next page (as under `run.sh`).

`run.sh` starts gunicorn with two workers and no SECRET_KEY. Each worker builds its own settings;
when each made its own random key, a page load that reached the other worker found the session
cookie unsigned for it and bounced to the login page, or refused the form with "The CSRF session
token is missing". Here two gunicorn servers, one worker each, share one instance folder as the
two workers of `run.sh` do, and the test alternates between them deliberately, so that every
other request is served by the process that did not sign the cookie.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from accounts.models import Role
from accounts.users import create_user
from tests.factories import NOW
from tests.faults.processes import Children, server_env, wait_healthy

pytestmark = pytest.mark.slow

PASSWORD = "mật khẩu rất dài"
PAGES = ["/console/grid", "/console/lookup", "/console/callbacks", "/console/audit", "/console/admin/offices"]


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_signing_in_holds_across_two_workers_without_a_secret_key(demo_database: tuple[str, Session],
                                                                  tmp_path: Path) -> None:
    database, db = demo_database
    create_user(db, username="admin", password_hash=generate_password_hash(PASSWORD), role=Role.ADMIN, now=NOW)
    db.commit()
    # Development, as run.sh: no SECRET_KEY in the environment, one instance folder for both.
    env = server_env(database, tmp_path / "instance", env="development", secret_key="")
    assert "SECRET_KEY" not in {k for k, v in env.items() if v}
    with Children(tmp_path) as children:
        servers = [children.gunicorn(f"worker{n}", env, workers=1) for n in (1, 2)]
        for server in servers:
            wait_healthy(server, children)
        one, two = (server.base_url for server in servers)
        browser = requests.Session()  # cookies are per host, not per port: both servers get them

        login = browser.get(f"{one}/console/login", timeout=10)
        signed = browser.post(f"{two}/console/login", data={"username": "admin", "password": PASSWORD,
                                                             "csrf_token": _token(login.text)},
                              allow_redirects=False, timeout=10)
        assert signed.status_code == 302 and "/console/login" not in signed.headers["Location"]

        for n, path in enumerate(PAGES * 2):
            base = (one, two)[n % 2]
            page = browser.get(base + path, allow_redirects=False, timeout=10)
            assert page.status_code == 200, (base, path, page.status_code, page.headers.get("Location"))

        # A form served by one worker is accepted by the other: the CSRF token is signed with the same key.
        form = browser.get(f"{one}/console/lookup", timeout=10)
        signed_out = browser.post(f"{two}/console/logout", data={"csrf_token": _token(form.text)},
                                  allow_redirects=False, timeout=10)
        assert signed_out.status_code == 302
        assert browser.get(f"{one}/console/", allow_redirects=False, timeout=10).status_code == 302

        # A form without its token is refused in the page's language (Vietnamese by default), not Flask-WTF's English.
        refused = requests.post(f"{one}/console/login", data={"username": "admin", "password": PASSWORD}, timeout=10)
        assert refused.status_code == 400
        assert "Biểu mẫu đã hết hạn" in refused.text and "CSRF" not in refused.text
