"""Fixtures of the fault tests: the PostgreSQL test database, emptied before and after each test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from actions.demo import load_demo
from database.engine import make_engine, make_session_factory

from tests.conftest import _truncate_postgres


@pytest.fixture
def pg_engine(postgres_engine: Engine) -> Iterator[Engine]:
    """For faults that need PostgreSQL itself (advisory locks, SKIP LOCKED, a TCP connection to cut)."""
    _truncate_postgres(postgres_engine)
    yield postgres_engine
    _truncate_postgres(postgres_engine)


@pytest.fixture
def demo_database(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[str, Session]]:
    """A migrated SQLite file with the demo offices: the fault is in the web tier, any engine will do."""
    path = tmp_path / "hotline.sqlite3"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with make_session_factory(engine)() as db:
        load_demo(db)
        db.commit()
        yield f"sqlite:///{path}", db
    engine.dispose()
