"""Driving the console in tests: two offices, one user of each role, CSRF tokens read off the pages.

The fixtures `app`, `client` and `offices` serve every console test module, which takes them by
importing them under their own names (`from tests.console import app as app`): pytest finds a
fixture by the name it has in the test's module.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from accounts.models import Role
from accounts.users import create_user
from tests.factories import NOW, make_office

PASSWORD = "mật khẩu rất dài"


def make_staff(db: Session) -> tuple[int, int]:
    """Năm Căn (managed by `hoa`, 3 morning seats) and Đầm Dơi (nobody's); `lan` operates, `admin` administers."""
    mine = make_office(db, code="NAMCAN", name="Trung tâm Phục vụ hành chính công xã Năm Căn", morning=3)
    other = make_office(db, code="DAMDOI", name="Trung tâm Phục vụ hành chính công xã Đầm Dơi")
    hash_ = generate_password_hash(PASSWORD)
    create_user(db, username="lan", password_hash=hash_, role=Role.OPERATOR, now=NOW)
    create_user(db, username="hoa", password_hash=hash_, role=Role.MANAGER, now=NOW, office_codes=("NAMCAN",))
    create_user(db, username="admin", password_hash=hash_, role=Role.ADMIN, now=NOW)
    db.commit()
    return mine.id, other.id


def csrf(client: FlaskClient, path: str) -> str:
    """The CSRF token of the first form on the page at `path`."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> int:
    token = csrf(client, "/console/login")
    return client.post("/console/login", data={"username": username, "password": password,
                                               "csrf_token": token}).status_code


def signed_in(client: FlaskClient, username: str) -> FlaskClient:
    """`client`, signed in as `username` and reading English pages from then on (the source texts tests look for)."""
    assert login(client, username) == 302
    client.get("/console/login?lang=en")  # the choice is remembered in the session
    return client


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def offices(db: Session) -> tuple[int, int]:
    """The ids of Năm Căn and Đầm Dơi, with the staff of `make_staff`."""
    return make_staff(db)


@pytest.fixture
def client(app: Flask, db: Session) -> FlaskClient:
    db.rollback()  # the arranging session's read transaction would keep the app from writing on SQLite
    return app.test_client()
