"""The database: declarative base, engine set-up for SQLite and PostgreSQL, and sessions.

The rules that keep two callers off the last seat are conditional UPDATEs and unique indexes,
so they hold on any number of processes sharing one database. On SQLite every transaction starts
with BEGIN IMMEDIATE: a deferred transaction that reads first and writes later fails at once with
SQLITE_BUSY_SNAPSHOT when another writer got in between, whereas IMMEDIATE waits its turn for
`busy_timeout`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, Table, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # Every model maps one Table (none maps a join or a select), so Core's insert() and
        # update() on `Model.__table__` are there; SQLAlchemy declares the wider FromClause.
        __table__: ClassVar[Table]


class UTCDateTime(TypeDecorator[datetime]):
    """An instant, stored as UTC and always returned timezone-aware.

    SQLite has no time zone type; storing naive UTC on both engines keeps comparisons in SQL
    identical and makes a naive datetime from anywhere in our code a loud error.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


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
        # One connection per checkout: SQLite connections are cheap, and a pool shared across
        # threads would hand a connection mid-transaction to another thread's BEGIN.
        kwargs.setdefault("poolclass", NullPool)
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


def utcnow() -> datetime:
    return datetime.now(UTC)


def get_or_not_found(session: Session, model: type[T], key: Any, **options: Any) -> T:
    """The row with this primary key; `booking.errors.NotFound` (a 404 at every edge) when there is none."""
    from booking.errors import NotFound

    row = session.get(model, key, **options)
    if row is None:
        raise NotFound()
    return row
