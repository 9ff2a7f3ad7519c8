"""Creating and editing offices (an administrator's work), and a short account of their usual week.

The weekly sessions themselves belong to `office_settings` (managers change them); an office
created here may be given its weekday hours at once, so it takes bookings from the start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking import office_settings
from booking.errors import InvalidSettings
from booking.lookup import get_or_not_found
from booking.models import Office, OfficeLevel
from booking.models.offices import spoken_name_of
from booking.phones import parse_phone

OFFICE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
HOURS = re.compile(r"^\s*(\d{1,2})[:hH.](\d{2})\s*[-–—]\s*(\d{1,2})[:hH.](\d{2})\s*$")
KEYPAD_MAX = 999  # the IVR reads the office menu as numbers a caller types and ends with #


@dataclass(frozen=True)
class OfficeDetails:
    """What an administrator sets about an office; limits and sessions are the manager's."""

    code: str
    name: str
    level: OfficeLevel
    name_en: str | None = None
    keypad_number: int | None = None
    address: str = ""
    phone: str | None = None
    active: bool = True


@dataclass(frozen=True)
class WeeklyHours:
    """One session held Monday to Friday, e.g. S 07:00-11:30 for 40 dossiers."""

    code: str
    start: time
    end: time
    capacity: int


@dataclass(frozen=True)
class WeekRow:
    """Sessions with the same hours and capacity on several weekdays, for a one-line summary."""

    weekdays: tuple[int, ...]
    code: str
    start: time
    end: time
    capacity: int


def parse_hours(text: str) -> tuple[time, time]:
    """Opening hours as people write them: "07:00-11:30", "7h00 - 11h30"."""
    found = HOURS.match(text)
    if found is None:
        raise InvalidSettings(detail=f"hours must look like 07:00-11:30, not “{text}”")
    h1, m1, h2, m2 = (int(part) for part in found.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise InvalidSettings(detail=f"“{text}” is not a time of day") from exc
    if start >= end:
        raise InvalidSettings(detail="a session must start before it ends")
    return start, end


def _check(session: Session, details: OfficeDetails, *, office_id: int | None) -> OfficeDetails:
    """Tidy and check the details; codes and keypad numbers must stay unique among offices."""
    code = details.code.strip().upper()
    if not OFFICE_CODE.match(code):
        raise InvalidSettings(detail="an office code is 2-32 capital letters, digits, '-' or '_'")
    name = details.name.strip()
    if not name:
        raise InvalidSettings(detail="an office needs a name")
    keypad = details.keypad_number
    if keypad is not None and not 1 <= keypad <= KEYPAD_MAX:
        raise InvalidSettings(detail=f"the keypad number is 1-{KEYPAD_MAX}")
    taken = select(Office.id).where(Office.code == code)
    if office_id is not None:
        taken = taken.where(Office.id != office_id)
    if session.scalar(taken) is not None:
        raise InvalidSettings(detail=f"another office has the code {code}")
    if keypad is not None:
        used = select(Office.code).where(Office.keypad_number == keypad)
        if office_id is not None:
            used = used.where(Office.id != office_id)
        other = session.scalar(used)
        if other is not None:
            raise InvalidSettings(detail=f"keypad number {keypad} already picks office {other}")
    phone = parse_phone(details.phone).number if details.phone and details.phone.strip() else None
    return OfficeDetails(code=code, name=name, level=details.level, name_en=(details.name_en or "").strip() or None,
                         keypad_number=keypad, address=details.address.strip(), phone=phone, active=details.active)


def _apply(office: Office, details: OfficeDetails, *, new: bool = False) -> None:
    # A spoken name that merely followed the old name follows the new one; one set on purpose stays.
    if new or office.spoken_name in ("", spoken_name_of(office.name)):
        office.spoken_name = spoken_name_of(details.name)
    office.code, office.name, office.name_en, office.level = details.code, details.name, details.name_en, details.level
    office.keypad_number, office.address, office.phone = details.keypad_number, details.address, details.phone
    office.active = details.active


def _flush(session: Session) -> None:
    """Two administrators saving the same code at once: the unique index decides, the loser is told."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise InvalidSettings(detail="another office has this code or keypad number") from exc


def create_office(session: Session, *, details: OfficeDetails, week: tuple[WeeklyHours, ...] = ()) -> Office:
    """A new office, with its weekday sessions when given (else it plans no session until a manager adds some)."""
    details = _check(session, details, office_id=None)
    if any(hours.capacity < 1 for hours in week):
        raise InvalidSettings(detail="a session needs at least one seat")
    office = Office(crowd_limit=10, window_minutes=30, horizon_days=14, cutoff_minutes=60,
                    timezone="Asia/Ho_Chi_Minh")
    _apply(office, details, new=True)
    session.add(office)
    _flush(session)
    for hours in week:
        for weekday in range(5):
            office_settings.set_template(session, office_id=office.id, weekday=weekday, code=hours.code,
                                         start=hours.start, end=hours.end, capacity=hours.capacity)
    return office


def update_office(session: Session, *, office_id: int, details: OfficeDetails) -> Office:
    """Change an office's name, code, keypad number, level, address, phone or whether it takes bookings.

    Deactivating keeps every booking: the office simply takes no new ones (booking checks `active`).
    """
    office = get_or_not_found(session, Office, office_id)
    details = _check(session, details, office_id=office_id)
    _apply(office, details)
    _flush(session)
    return office


def week_summary(office: Office) -> list[WeekRow]:
    """The office's usual week, weekdays with the same session folded together (needs `templates` loaded)."""
    grouped: dict[tuple[str, time, time, int], list[int]] = {}
    for t in sorted(office.templates, key=lambda t: (t.start_time, t.code, t.weekday)):
        grouped.setdefault((t.code, t.start_time, t.end_time, t.capacity), []).append(t.weekday)
    rows = [WeekRow(tuple(sorted(days)), code, start, end, capacity)
            for (code, start, end, capacity), days in grouped.items()]
    return sorted(rows, key=lambda r: (r.weekdays[0], r.start))
