"""API tokens for integrations: issuing, checking and revoking them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import ApiToken, Role
from booking.errors import InvalidSettings
from booking.lookup import get_or_not_found


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
