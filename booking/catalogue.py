"""What the public catalogue reads: an office or a procedure by its code, the procedures an office
takes and the offices that take a procedure (a procedure is taken at every active office of its level).

Codes come from anyone (a URL, a scanned QR code): `office_code` and `procedure_code` say which text
can be a code at all, so that anything else is not found before the database is asked.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from booking.models import Office, OfficeLevel, Procedure
from booking.offices import OFFICE_CODE
from booking.procedures import PROCEDURE_CODE


def office_code(text: str) -> str | None:
    """An office code as it is stored ("cm-namcan " → "CM-NAMCAN"), or None if `text` cannot be one.

    Only ASCII text: some other letters become ASCII capitals ("ß" → "SS", dotless "ı" → "I"), and a code
    that is not typed as it is printed should not open a page.
    """
    code = text.strip().upper()
    return code if text.isascii() and OFFICE_CODE.match(code) else None


def procedure_code(text: str) -> str | None:
    """A procedure code as it is stored ("ht-khaisinh" → "HT-KHAISINH"), or None if `text` cannot be one."""
    code = text.strip().upper()
    return code if text.isascii() and PROCEDURE_CODE.match(code) else None


def public_office(session: Session, code: str) -> Office | None:
    """The active office with this stored code (its weekly sessions loaded), or None."""
    return session.scalar(select(Office).where(Office.code == code, Office.active.is_(True))
                          .options(selectinload(Office.templates)))


def public_procedure(session: Session, code: str) -> Procedure | None:
    """The active procedure with this stored code, or None."""
    return session.scalar(select(Procedure).where(Procedure.code == code, Procedure.active.is_(True)))


def vietnamese_order(text: str) -> str:
    """A sort key that puts Vietnamese words in dictionary order near enough for a list: letters without their
    tone and vowel marks, "đ" after every other "d" ("Đất đai" after "Dân cư", not after "Xây dựng"), numbers
    by their value."""
    text = unicodedata.normalize("NFD", text.casefold().replace("đ", "d\x7f"))
    plain = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\d+", lambda number: number.group().zfill(9), plain)  # "số 2" before "số 10"


def procedures_at(session: Session, office: Office) -> list[Procedure]:
    """The active procedures an office takes, by field then name (in Vietnamese dictionary order)."""
    taken = Procedure.at_province if office.level is OfficeLevel.PROVINCE else Procedure.at_commune
    found = session.scalars(select(Procedure).where(taken.is_(True), Procedure.active.is_(True)))
    return sorted(found, key=lambda p: (vietnamese_order(p.field), vietnamese_order(p.name), p.code))


def offices_taking(session: Session, procedure: Procedure) -> list[Office]:
    """The active offices that take a procedure: the province's centre first, then by keypad number (those
    without one last, on either engine)."""
    levels = [level for level in OfficeLevel if procedure.offered_at(level)]
    return list(session.scalars(select(Office).where(Office.active.is_(True), Office.level.in_(levels))
                                .order_by(Office.level.desc(), Office.keypad_number.is_(None), Office.keypad_number,
                                          Office.name, Office.id)))
