"""Fixtures of the fault tests: the PostgreSQL test database, emptied before and after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.conftest import _truncate_postgres


@pytest.fixture
def pg_engine(postgres_engine: Engine) -> Iterator[Engine]:
    """For faults that need PostgreSQL itself (advisory locks, SKIP LOCKED, a TCP connection to cut)."""
    _truncate_postgres(postgres_engine)
    yield postgres_engine
    _truncate_postgres(postgres_engine)
