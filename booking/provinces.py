"""A province's public administration service centres from the official register, and keeping its offices in line.

Since 1 July 2025 every province and every ward, commune and special zone has its own Trung tâm
Phục vụ hành chính công. The `vietnam-provinces` package lists them by official code (names repeat
across provinces, so everything here is keyed on codes). `import_province` creates an office for
each unit the database lacks, renames the offices the register has renamed and deactivates (never
deletes: bookings and the audit log point at them) those it no longer lists. Running it again
changes nothing. The register owns an imported office's names and level; everything else (hours,
capacities, address, keypad number) is the province's, set once when the office is created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from vietnam_provinces import Province, ProvinceCode, VietNamDivisionType, Ward

from booking.errors import InvalidSettings
from booking.models import Channel, ChannelReserve, Office, OfficeLevel, SessionTemplate
from booking.offices import KEYPAD_MAX, OFFICE_CODE

CENTRE = "Trung tâm Phục vụ hành chính công"
CENTRE_EN = "Public Administration Service Centre"

# How each kind of unit is spoken, named in English, and spelt at the start of its codename.
_DIVISIONS: dict[VietNamDivisionType, tuple[str, str, str]] = {
    VietNamDivisionType.TINH: ("tỉnh", "Provincial", ""),
    VietNamDivisionType.THANH_PHO_TRUNG_UONG: ("thành phố", "City", ""),
    VietNamDivisionType.PHUONG: ("phường", "Ward", "phuong_"),
    VietNamDivisionType.XA: ("xã", "Commune", "xa_"),
    VietNamDivisionType.DAC_KHU: ("đặc khu", "Special Zone", "dac_khu_"),
}

AUDITED = ("code", "name", "name_en", "spoken_name", "level", "official_code", "province_code", "keypad_number",
           "address", "phone", "active")
REGISTER_OWNS = ("name", "name_en", "spoken_name", "level", "province_code")


@dataclass(frozen=True)
class Unit:
    """The province itself, or one of its wards, communes or special zones, as the register has it."""

    official_code: str  # 2 digits for a province, 5 for a ward: the register's own spelling
    province_code: str
    level: OfficeLevel
    kind: str  # "tỉnh", "phường", "xã"…
    spoken_name: str  # "xã Năm Căn": what the IVR says
    name_en: str
    slug: str  # "NAMCAN": the ASCII name, for office codes

    @property
    def name(self) -> str:
        return f"{CENTRE} {self.spoken_name}"


@dataclass(frozen=True)
class Week:
    """An office's usual week when it is created: Monday to Friday morning and afternoon, perhaps Saturday morning."""

    morning: int
    afternoon: int
    crowd_limit: int
    saturday_morning: int = 0
    morning_hours: tuple[time, time] = (time(7, 0), time(11, 30))
    afternoon_hours: tuple[time, time] = (time(13, 30), time(17, 0))
    saturday_hours: tuple[time, time] = (time(7, 30), time(11, 0))
    operator_seats: int = 3  # of each weekday session, for callers who cannot use the keypad; released a day before

    def templates(self) -> list[SessionTemplate]:
        sessions = []
        for weekday in range(5):
            for code, (start, end), seats in (("S", self.morning_hours, self.morning),
                                              ("C", self.afternoon_hours, self.afternoon)):
                sessions.append(SessionTemplate(weekday=weekday, code=code, start_time=start, end_time=end,
                                                capacity=seats))
        if self.saturday_morning:
            start, end = self.saturday_hours
            sessions.append(SessionTemplate(weekday=5, code="S", start_time=start, end_time=end,
                                            capacity=self.saturday_morning))
        return sessions


# Illustrative, not official: a province centre serves the most people, a ward more than a rural commune.
DEFAULT_WEEKS: dict[str, Week] = {
    "tỉnh": Week(60, 50, 10, saturday_morning=30),
    "thành phố": Week(60, 50, 10, saturday_morning=30),
    "phường": Week(30, 25, 8),
    "xã": Week(20, 15, 5),
    "đặc khu": Week(20, 15, 5),
}


@dataclass(frozen=True)
class Local:
    """What the province knows of one centre that the register does not; used when the office is created."""

    code: str | None = None
    keypad_number: int | None = None
    address: str | None = None
    phone: str | None = None
    week: Week | None = None


class Change(StrEnum):
    CREATE = "create"
    ADOPT = "adopt"  # an office made before it had an official code (matched by its code) gets one
    RENAME = "rename"  # the register changed the unit's name or kind
    DEACTIVATE = "deactivate"  # the register no longer lists the unit


@dataclass(frozen=True)
class Step:
    change: Change
    official_code: str
    code: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    office: Office = field(compare=False, repr=False)  # the office it changes or (a creation) makes


@dataclass(frozen=True)
class ImportResult:
    """What an import did, or (dry run) would do."""

    province: Unit
    units: int
    steps: tuple[Step, ...] = field(default=())
    dry_run: bool = False

    def count(self, change: Change) -> int:
        return sum(1 for step in self.steps if step.change is change)


def _proper(codename: str, prefix: str) -> str:
    return " ".join(word.capitalize() for word in codename.removeprefix(prefix).split("_"))


def _unit(name: str, codename: str, division: VietNamDivisionType, *, official_code: str,
          province_code: str) -> Unit:
    kind, english, prefix = _DIVISIONS[division]
    proper = name[len(kind):].strip() if name.lower().startswith(kind + " ") else name
    level = OfficeLevel.PROVINCE if not prefix else OfficeLevel.COMMUNE
    ascii_name = _proper(codename, prefix)
    return Unit(official_code=official_code, province_code=province_code, level=level, kind=kind,
                spoken_name=f"{kind} {proper}", name_en=f"{ascii_name} {english} {CENTRE_EN}",
                slug=ascii_name.replace(" ", "").upper())


def register(province_code: int | str) -> tuple[Unit, list[Unit]]:
    """The province and its wards, communes and special zones (in the order of their codes)."""
    try:
        province = Province.from_code(ProvinceCode(int(province_code)))
    except ValueError as exc:
        raise InvalidSettings(detail=f"no province has the code {province_code}") from exc
    code = f"{int(province.code):02d}"
    wards = sorted(Ward.iter_by_province(province.code), key=lambda ward: int(ward.code))
    return (_unit(province.name, province.codename, province.division_type, official_code=code, province_code=code),
            [_unit(ward.name, ward.codename, ward.division_type, official_code=f"{int(ward.code):05d}",
                   province_code=code) for ward in wards])


def _codes(province: Unit, units: list[Unit], prefix: str, local: Mapping[str, Local]) -> dict[str, str]:
    """The office code each unit would get: the local one, else PREFIX-NAME, else PREFIX-OFFICIALCODE where two
    units of the province share an ASCII name (phường Tân Thành and xã Tân Thành)."""
    slugs = [unit.slug for unit in units]
    codes = {}
    for unit in [province, *units]:
        given = local.get(unit.official_code, Local()).code
        readable = f"{prefix}-{unit.slug}" if unit is not province else f"{prefix}-TTHCC"
        if given:
            codes[unit.official_code] = given
        elif (unit is province or slugs.count(unit.slug) == 1) and OFFICE_CODE.match(readable):
            codes[unit.official_code] = readable
        else:
            codes[unit.official_code] = f"{prefix}-{unit.official_code}"
    return codes


def import_province(session: Session, *, province_code: int | str, dry_run: bool = False,
                    code_prefix: str | None = None, local: Mapping[str, Local] | None = None) -> ImportResult:
    """Bring the offices of one province in line with the register; with `dry_run`, only say what would change.

    Audit entries for the steps are the caller's to write (`actions.provinces`), once they are flushed.

    `local` gives, by official code, what a new office should have besides the register's names;
    `code_prefix` starts the codes of new offices (default: the province's ASCII name, e.g. CAMAU).
    """
    local = local or {}
    province, units = register(province_code)
    prefix = (code_prefix or province.slug).upper()
    wanted = _codes(province, units, prefix, local)
    offices = list(session.scalars(select(Office)))
    by_official = {o.official_code: o for o in offices if o.official_code}
    by_code = {o.code: o for o in offices}
    taken = {o.keypad_number for o in offices if o.keypad_number is not None}
    promised = {spec.keypad_number for spec in local.values() if spec.keypad_number is not None}
    free_keypads = (n for n in range(1, KEYPAD_MAX + 1) if n not in taken | promised)
    steps: list[Step] = []
    new: list[Office] = []
    changed: list[tuple[Step, Office]] = []
    for unit in [province, *units]:
        register_says = {"name": unit.name, "name_en": unit.name_en, "spoken_name": unit.spoken_name,
                         "level": unit.level, "province_code": unit.province_code}
        office = by_official.get(unit.official_code)
        if office is None:
            code = wanted[unit.official_code]
            same_code = by_code.get(code)
            if same_code is not None and same_code.official_code is None:
                office = same_code  # made by hand, or by an older demo, before offices had official codes
                after = register_says | {"official_code": unit.official_code}
                step = Step(Change.ADOPT, unit.official_code, code, _values(office, after), after, office)
                steps.append(step)
                changed.append((step, office))
                continue
            if same_code is not None:
                code = f"{prefix}-{unit.official_code}"
                if code in by_code:
                    raise InvalidSettings(detail=f"the office code {code} is taken: give the unit another")
            spec = local.get(unit.official_code, Local())
            keypad = spec.keypad_number
            if keypad is None or keypad in taken:  # another office has it already: the next free one
                keypad = next(free_keypads, None)
            created = _new_office(unit, province, code=code, keypad=keypad, spec=spec)
            by_code[code] = created
            steps.append(Step(Change.CREATE, unit.official_code, code, None, _values(created, AUDITED), created))
            new.append(created)
            continue
        before = _values(office, REGISTER_OWNS)
        if before != register_says:
            step = Step(Change.RENAME, unit.official_code, office.code, before, register_says, office)
            steps.append(step)
            changed.append((step, office))
    listed = {unit.official_code for unit in [province, *units]}
    for office in offices:
        if office.province_code == province.official_code and office.official_code not in listed and office.active:
            step = Step(Change.DEACTIVATE, office.official_code or "", office.code, {"active": True}, {"active": False},
                        office)
            steps.append(step)
            changed.append((step, office))
    result = ImportResult(province=province, units=1 + len(units), steps=tuple(steps), dry_run=dry_run)
    if dry_run:
        return result
    for step, office in changed:
        for name, value in step.after.items():
            setattr(office, name, value)
    session.add_all(new)
    session.flush()
    return result


def _values(office: Office, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(office, name) for name in names}


def _new_office(unit: Unit, province: Unit, *, code: str, keypad: int | None, spec: Local) -> Office:
    week = spec.week or DEFAULT_WEEKS[unit.kind]
    address = spec.address if spec.address is not None else (
        unit.spoken_name if unit is province else f"{unit.spoken_name}, {province.spoken_name}")
    office = Office(code=code, keypad_number=keypad, name=unit.name, name_en=unit.name_en,
                    spoken_name=unit.spoken_name, official_code=unit.official_code,
                    province_code=unit.province_code, level=unit.level, address=address, phone=spec.phone,
                    crowd_limit=week.crowd_limit, window_minutes=30, horizon_days=14, cutoff_minutes=60,
                    active=True, timezone="Asia/Ho_Chi_Minh")
    office.templates.extend(week.templates())
    if week.operator_seats:
        office.reserves.extend(ChannelReserve(session_code=session, channel=Channel.OPERATOR,
                                              seats=week.operator_seats, release_minutes_before=24 * 60)
                               for session in ("S", "C"))
    return office
