"""The catalogue of procedures: administrators add and edit the entries a booking may name."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking.errors import InvalidSettings
from booking.lookup import get_or_not_found
from booking.models import Procedure
from booking.plain_text import TextRefused, clean

PROCEDURE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,39}$")
# The national procedure code (mã TTHC) as the national database writes it: "1.001193", "2.000908.000.00.00.H12".
NATIONAL_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$")
HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
DOCUMENTS_LIMIT = 4000  # as much as a form field may carry (hotline.errors.FIELD_LIMIT)
MAX_PROCESSING_DAYS = 365
MAX_FEE_VND = 1_000_000_000  # well above any fee, well within a 32-bit integer


@dataclass(frozen=True)
class ProcedureDetails:
    code: str
    name: str
    field: str
    name_en: str | None = None
    field_en: str | None = None
    at_province: bool = False
    at_commune: bool = False
    active: bool = True
    documents: str = ""  # one document a line
    documents_en: str | None = None
    documents_short: str = ""  # what the hotline says and the SMS carries
    documents_short_en: str | None = None
    fee_vnd: int | None = None  # None: not stated; 0: free
    fee_note: str | None = None
    processing_days: int | None = None  # working days; 0: the same day
    online_url: str | None = None
    by_post: bool = False
    national_code: str | None = None


def _text(value: str | None, *, limit: int, what: str, multiline: bool = False) -> str:
    """`value` through the plain-text gate, stripped; InvalidSettings names the field it refuses."""
    try:
        cleaned = clean(value or "", limit=limit, multiline=multiline)
    except TextRefused as refused:
        raise InvalidSettings(detail=f"{what}: {refused}") from None
    if multiline:
        # One document a line: blank lines and the spaces around each go.
        return "\n".join(line.strip() for line in cleaned.split("\n") if line.strip())
    return cleaned.strip()


def _optional(value: str | None, *, limit: int, what: str, multiline: bool = False) -> str | None:
    return _text(value, limit=limit, what=what, multiline=multiline) or None


def online_address(value: str | None) -> str | None:
    """An https:// address where the procedure can be filed, or None; InvalidSettings for anything else."""
    url = _optional(value, limit=300, what="online address")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not HOST.match((parts.hostname or "").lower()) or any(
            c.isspace() for c in url) or parts.username is not None or parts.password is not None:
        raise InvalidSettings(detail="the online address is an https:// address, e.g. https://dichvucong.gov.vn")
    return url


def _numbers(details: ProcedureDetails) -> None:
    if details.fee_vnd is not None and not 0 <= details.fee_vnd <= MAX_FEE_VND:
        raise InvalidSettings(detail="the fee is 0 (free) or more dong")
    if details.processing_days is not None and not 0 <= details.processing_days <= MAX_PROCESSING_DAYS:
        raise InvalidSettings(detail=f"processing takes 0 to {MAX_PROCESSING_DAYS} working days")


def _check(session: Session, details: ProcedureDetails, *, procedure_id: int | None) -> ProcedureDetails:
    code = _text(details.code, limit=40, what="code").upper()
    if not PROCEDURE_CODE.match(code):
        raise InvalidSettings(detail="a procedure code is 2-40 capital letters, digits, '.', '-' or '_'")
    name, field = _text(details.name, limit=300, what="name"), _text(details.field, limit=120, what="field")
    if not name or not field:
        raise InvalidSettings(detail="a procedure needs a name and a field")
    if not (details.at_province or details.at_commune):
        # Booking offers a procedure only where it is handled; one handled nowhere could never be chosen.
        raise InvalidSettings(detail="a procedure is handled at the province, at communes, or both")
    _numbers(details)
    national_code = _optional(details.national_code, limit=40, what="national code")
    if national_code is not None and not NATIONAL_CODE.match(national_code):
        raise InvalidSettings(detail="a national procedure code is digits and dots, e.g. 1.001193")
    taken = select(Procedure.id).where(Procedure.code == code)
    if procedure_id is not None:
        taken = taken.where(Procedure.id != procedure_id)
    if session.scalar(taken) is not None:
        raise InvalidSettings(detail=f"another procedure has the code {code}")
    return ProcedureDetails(
        code=code, name=name, field=field, name_en=_optional(details.name_en, limit=300, what="name in English"),
        field_en=_optional(details.field_en, limit=120, what="field in English"), at_province=details.at_province,
        at_commune=details.at_commune, active=details.active,
        documents=_text(details.documents, limit=DOCUMENTS_LIMIT, what="documents", multiline=True),
        documents_en=_optional(details.documents_en, limit=DOCUMENTS_LIMIT, what="documents in English",
                               multiline=True),
        documents_short=_text(details.documents_short, limit=120, what="documents in short"),
        documents_short_en=_optional(details.documents_short_en, limit=120, what="documents in short in English"),
        fee_vnd=details.fee_vnd, fee_note=_optional(details.fee_note, limit=200, what="fee note"),
        processing_days=details.processing_days, online_url=online_address(details.online_url),
        by_post=details.by_post, national_code=national_code)


def _apply(procedure: Procedure, details: ProcedureDetails) -> None:
    for name in (f.name for f in fields(ProcedureDetails)):
        setattr(procedure, name, getattr(details, name))


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise InvalidSettings(detail="another procedure has this code") from exc


def create_procedure(session: Session, *, details: ProcedureDetails) -> Procedure:
    details = _check(session, details, procedure_id=None)
    procedure = Procedure()
    _apply(procedure, details)
    session.add(procedure)
    _flush(session)
    return procedure


def update_procedure(session: Session, *, procedure_id: int, details: ProcedureDetails) -> Procedure:
    """Change a catalogue entry; bookings that named it keep pointing at it (deactivate, never delete)."""
    procedure = get_or_not_found(session, Procedure, procedure_id)
    details = _check(session, details, procedure_id=procedure_id)
    _apply(procedure, details)
    _flush(session)
    return procedure
