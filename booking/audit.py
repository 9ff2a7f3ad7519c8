"""Writing the audit log and issuing API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, time
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.db import get_or_not_found
from booking.errors import InvalidSettings
from booking.models import ApiToken, AuditEntry, Role


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


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, *, name: str, role: Role, created_by: str, now: datetime) -> tuple[ApiToken, str]:
    """A new token for an integration; the returned text is shown once and never stored."""
    if not name.strip():
        raise InvalidSettings(detail="a token needs a name")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name.strip())) is not None:
        raise InvalidSettings(detail=f"a token named {name} exists")
    text = "hl_" + secrets.token_urlsafe(32)
    token = ApiToken(name=name.strip(), token_hash=_digest(text), prefix=text[:10], role=role,
                     created_by=created_by, created_at=now)
    session.add(token)
    session.flush()
    return token, text


def token_for(session: Session, presented: str, *, now: datetime) -> ApiToken | None:
    """The live token matching `presented`, or None; looked up by hash, so timing reveals nothing."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(presented),
                                                  ApiToken.revoked_at.is_(None)))
    if token is not None and (token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60):
        token.last_used_at = now
    return token


def revoke_token(session: Session, *, token_id: int, now: datetime) -> ApiToken:
    """Stop a token at once; the row stays, so the audit log and the list still name it."""
    token = get_or_not_found(session, ApiToken, token_id)
    if token.revoked_at is None:
        token.revoked_at = now
        session.flush()
    return token
