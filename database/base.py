"""The declarative base every model maps onto, its naming convention, and the portable column types."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import DateTime, Enum, MetaData, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

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


def str_enum(cls: type[enum.StrEnum], length: int = 16, name: str | None = None) -> Any:
    """A portable column type that stores the enum's value, checked by a CHECK constraint.

    `name` names the constraint where a table has two columns of the same enum.
    """
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        name=name or cls.__name__.lower(),
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
