"""Enumerations shared by the models, stored as their string values."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Enum


class OfficeLevel(enum.StrEnum):
    PROVINCE = "province"  # Trung tâm Phục vụ hành chính công tỉnh
    COMMUNE = "commune"  # Bộ phận Một cửa / Trung tâm cấp xã, phường, đặc khu


class Channel(enum.StrEnum):
    IVR = "ivr"
    OPERATOR = "operator"
    WEB = "web"
    API = "api"
    WALKIN = "walkin"  # seats kept for people who turn up at the counter


class BookingStatus(enum.StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"
    SERVED = "served"
    NO_SHOW = "no_show"


class CalendarDayKind(enum.StrEnum):
    DAY_OFF = "day_off"  # an extra day off announced by the government or the province
    WORKING_DAY = "working_day"  # a make-up working day (often a Saturday)


class Role(enum.StrEnum):
    OPERATOR = "operator"
    MANAGER = "manager"
    ADMIN = "admin"


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
