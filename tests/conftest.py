"""Fixtures shared by every test: databases on both engines, a fixed clock, factories.

Every test that asks for `engine` runs twice, on SQLite and on PostgreSQL. The PostgreSQL server
is the one on 127.0.0.1:5432 (override with HOTLINE_TEST_POSTGRES_URL); each test run creates a
database of its own there and drops it at the end. When the server cannot be reached the
PostgreSQL half is skipped, unless HOTLINE_TEST_REQUIRE_POSTGRES=1 (as in CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Every module that maps tables onto Base, for truncation (migrations/env.py lists the same ones).
import accounts.models  # noqa: F401
import actions.models  # noqa: F401
import booking.models  # noqa: F401
import hotline.heartbeats
import hotline.ivr.models  # noqa: F401
import notifications.models  # noqa: F401
from config import Settings
from database.base import Base
from database.engine import make_engine, make_session_factory
from database.schema import upgrade

POSTGRES_URL = os.environ.get("HOTLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("HOTLINE_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: migrating once keeps the suite fast."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"hotline_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is not there: skip or fail as configured
        admin.dispose()
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_size=20, max_overflow=20)
    yield engine
    engine.dispose()


def _truncate_postgres(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database on each engine; tests may commit freely."""
    if request.param == "sqlite":
        path = tmp_path / "hotline.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("postgres_engine")
    _truncate_postgres(engine)
    yield engine
    _truncate_postgres(engine)


@pytest.fixture
def make_app(engine: Engine, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Builds the app on the test's database, at the fixed test time unless `clock` is given.

    Settings are the test ones plus whatever the caller overrides; every app made is disposed
    of when the test ends.
    """
    made: list[Flask] = []

    def make(clock: Callable[[], datetime] | None = None, **overrides: Any) -> Flask:
        from hotline import create_app
        from tests.factories import NOW

        values: dict[str, Any] = dict(env="testing", database_url=engine.url.render_as_string(hide_password=False),
                                      instance_path=tmp_path / "instance", secret_key="t" * 32,
                                      twilio_auth_token="x" * 32)
        values.update(overrides)
        app = create_app(Settings(**values))
        app.extensions["hotline"].clock = clock or (lambda: NOW)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["hotline"].engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


class ArrangingSession(Session):
    """The tests' own session: a rollback always forgets what was loaded.

    Sessions keep objects after commit (expire_on_commit=False), and SQLAlchemy's rollback expires
    nothing when no transaction is open, so a test that commits, lets the app write, rolls back and
    reads again could be handed its own stale object, or a fresh row, depending on whether the
    garbage collector had dropped the object from the weak identity map in between.
    """

    def rollback(self) -> None:
        super().rollback()
        self.expire_all()


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and checking; call `db.commit()` to make rows visible to others,
    and `db.rollback()` before reading what the app wrote."""
    with ArrangingSession(bind=sessions.kw["bind"], expire_on_commit=False) as session:
        yield session
