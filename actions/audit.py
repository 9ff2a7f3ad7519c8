"""Writing the audit log: one entry per action, with JSON-safe copies of the state before and after."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from actions.models import AuditEntry


def plain(value: Any) -> Any:
    """A JSON-safe copy of a value (dates as ISO text, enums as their value)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def snapshot(obj: object, *fields: str) -> dict[str, Any]:
    return {name: plain(getattr(obj, name)) for name in fields}


def record(session: Session, *, actor: str, action: str, target_type: str, target_id: object, now: datetime,
           office_id: int | None = None, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           ip: str | None = None) -> AuditEntry:
    entry = AuditEntry(at=now, actor=actor, action=action, target_type=target_type, target_id=str(target_id),
                       office_id=office_id, before=plain(before), after=plain(after), ip=ip)
    session.add(entry)
    return entry
