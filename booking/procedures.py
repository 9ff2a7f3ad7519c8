"""The catalogue of procedures: administrators add and edit the entries a booking may name."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from booking.errors import InvalidSettings
from booking.lookup import get_or_not_found
from booking.models import Procedure

PROCEDURE_CODE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{1,39}$")


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


def _check(session: Session, details: ProcedureDetails, *, procedure_id: int | None) -> ProcedureDetails:
    code = details.code.strip().upper()
    if not PROCEDURE_CODE.match(code):
        raise InvalidSettings(detail="a procedure code is 2-40 capital letters, digits, '.', '-' or '_'")
    name, field = details.name.strip(), details.field.strip()
    if not name or not field:
        raise InvalidSettings(detail="a procedure needs a name and a field")
    if not (details.at_province or details.at_commune):
        # Booking offers a procedure only where it is handled; one handled nowhere could never be chosen.
        raise InvalidSettings(detail="a procedure is handled at the province, at communes, or both")
    taken = select(Procedure.id).where(Procedure.code == code)
    if procedure_id is not None:
        taken = taken.where(Procedure.id != procedure_id)
    if session.scalar(taken) is not None:
        raise InvalidSettings(detail=f"another procedure has the code {code}")
    return ProcedureDetails(code=code, name=name, field=field, name_en=(details.name_en or "").strip() or None,
                            field_en=(details.field_en or "").strip() or None, at_province=details.at_province,
                            at_commune=details.at_commune, active=details.active)


def _apply(procedure: Procedure, details: ProcedureDetails) -> None:
    procedure.code, procedure.name, procedure.name_en = details.code, details.name, details.name_en
    procedure.field, procedure.field_en = details.field, details.field_en
    procedure.at_province, procedure.at_commune, procedure.active = details.at_province, details.at_commune, details.active


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
