"""Statements built once, compiled once per dialect, and sent as their SQL on every call.

SQLAlchemy caches compiled SQL, but it still walks a statement to compute its cache key on every
execution, and the ORM adds its own bookkeeping: for a big statement that runs on every booking
that is most of the client's CPU. A `Compiled` statement is built by ordinary Core code (so the
conditions it states are the ones the rest of the domain uses), compiled the first time a dialect
asks for it, and sent with `exec_driver_sql`: the engine's events still see it, the driver
(psycopg) prepares it on the server after a few runs, and no Python object is built per call but
the parameters.

The parameters are passed as the database stores them: `db_params` turns aware datetimes into
naive UTC (as `database.base.UTCDateTime` does) and enums into their values.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable


def db_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters in their stored form, for SQL that bypasses SQLAlchemy's type processing."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the database; pass an aware one")
            value = value.astimezone(UTC).replace(tzinfo=None)
        elif isinstance(value, enum.Enum):
            value = value.value
        out[key] = value
    return out


class Compiled:
    """One statement, built by `build` on first use and compiled once for each dialect that runs it."""

    def __init__(self, build: Callable[[], Executable]) -> None:
        self._build = build
        self._sql: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def sql(self, dialect: Any) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """The SQL for `dialect`, the order of its parameters where the driver takes them by position,
        and the values of the constants the statement carries as parameters (a status, a LIMIT)."""
        found = self._sql.get(dialect.name)
        if found is None:
            compiled: Any = self._build().compile(dialect=dialect)  # type: ignore[attr-defined]
            order = tuple(compiled.positiontup) if compiled.positiontup else None
            constants = db_params({name: bind.effective_value for bind, name in compiled.bind_names.items()
                                   if not bind.required})
            found = self._sql[dialect.name] = (str(compiled), order, constants)
        return found

    def execute(self, session: Session, params: Mapping[str, Any]) -> CursorResult[Any]:
        connection = session.connection()
        text, order, constants = self.sql(connection.dialect)
        values = {**constants, **db_params(params)}
        if order is None:
            return connection.exec_driver_sql(text, values)
        return connection.exec_driver_sql(text, tuple(values[name] for name in order))


__all__ = ["Compiled", "db_params"]
