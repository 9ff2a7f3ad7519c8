"""Test data with sensible defaults; tests override only what they are about."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from booking.bookings import Actor
from booking.models import Channel, Office, OfficeLevel, Procedure, SessionTemplate
from booking.policy import BookingPolicy

VN = ZoneInfo("Asia/Ho_Chi_Minh")
# Monday 1 March 2027, 09:00 in Vietnam: an ordinary working week with no holiday in sight.
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=VN).astimezone(UTC)
POLICY = BookingPolicy()
OPERATOR = Actor("user:lan", Channel.OPERATOR)
IVR = Actor("ivr", Channel.IVR)

_codes = itertools.count(1)


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """An instant given in Vietnamese local time."""
    return datetime(year, month, day, hour, minute, tzinfo=VN).astimezone(UTC)


def make_office(session: Session, *, morning: int = 40, afternoon: int = 35, weekdays: range = range(5),
                **fields: Any) -> Office:
    n = next(_codes)
    values: dict[str, Any] = dict(
        code=f"OFF{n:03d}", name=f"Bộ phận Một cửa số {n}", level=OfficeLevel.COMMUNE, address="Cà Mau",
        crowd_limit=10, window_minutes=30, horizon_days=14, cutoff_minutes=60, active=True,
        timezone="Asia/Ho_Chi_Minh",
    )
    values.update(fields)
    office = Office(**values)
    for weekday in weekdays:
        office.templates.append(SessionTemplate(weekday=weekday, code="S", start_time=time(7, 30),
                                                end_time=time(11, 30), capacity=morning))
        office.templates.append(SessionTemplate(weekday=weekday, code="C", start_time=time(13, 30),
                                                end_time=time(17, 0), capacity=afternoon))
    session.add(office)
    session.flush()
    return office


def make_procedure(session: Session, **fields: Any) -> Procedure:
    n = next(_codes)
    values: dict[str, Any] = dict(code=f"P{n:04d}", name="Đăng ký khai sinh", field="Hộ tịch",
                                  at_province=False, at_commune=True)
    values.update(fields)
    procedure = Procedure(**values)
    session.add(procedure)
    session.flush()
    return procedure


def phone(n: int) -> str:
    """A distinct valid Viettel mobile in E.164 for each n."""
    return f"+8498{n:07d}"
