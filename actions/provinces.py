"""Importing a province's offices from the official register, with an audit entry for each office it makes or changes.

Not yet an action of a person (the command line and the demo run it as the system), so it takes the
session, the actor's name and the clock rather than a `Context`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from actions import audit
from booking import provinces
from booking.provinces import Change, ImportResult, Local


def import_province(session: Session, *, province_code: int | str, actor: str, now: datetime,
                    dry_run: bool = False, code_prefix: str | None = None,
                    local: Mapping[str, Local] | None = None) -> ImportResult:
    """`booking.provinces.import_province`, audited: one entry per office created, adopted, renamed or deactivated."""
    result = provinces.import_province(session, province_code=province_code, dry_run=dry_run,
                                       code_prefix=code_prefix, local=local)
    if dry_run:
        return result
    for step in result.steps:
        audit.record(session, actor=actor, action="office.create" if step.change is Change.CREATE else "office.update",
                     target_type="office", target_id=step.office.id, office_id=step.office.id, now=now,
                     before=step.before, after=step.after | {"import": step.change.value})
    session.flush()
    return result
