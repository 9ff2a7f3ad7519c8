"""Engines for SQLite and PostgreSQL, and sessions on them.

The rules that keep two callers off the last seat are conditional UPDATEs and unique indexes,
so they hold on any number of processes sharing one database. On SQLite every transaction starts
with BEGIN IMMEDIATE: a deferred transaction that reads first and writes later fails at once with
SQLITE_BUSY_SNAPSHOT when another writer got in between, whereas IMMEDIATE waits its turn for
`busy_timeout`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Work that only reads (pages, availability) opts out with the `read_only` execution
        # option, so it never queues behind a writer for the write lock it does not need.
        conn.exec_driver_sql("BEGIN DEFERRED" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`, with the per-engine settings the booking rules rely on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # Connections are kept: opening one (and setting its pragmas) and closing it again cost
        # more CPU than the rest of a booking. A checked-out connection is one thread's alone,
        # and a checked-in one has been rolled back, so it holds no lock while it waits; the
        # overflow is unbounded, as with one connection per checkout, so nobody waits for one.
        kwargs.setdefault("poolclass", QueuePool)
        if kwargs["poolclass"] is QueuePool:
            kwargs.setdefault("pool_size", 5)
            kwargs.setdefault("max_overflow", -1)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; `read_only` ones must not write (on SQLite they take no write lock)."""
    bind = engine.execution_options(read_only=True) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits when the block ends, rolls back on any exception."""
    with factory.begin() as session:
        yield session
