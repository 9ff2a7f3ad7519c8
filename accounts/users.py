"""Staff accounts: creating them and assigning managers to their offices."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Role, User
from booking.errors import InvalidSettings, NotFound
from booking.lookup import get_or_not_found
from booking.models import Office

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def create_user(session: Session, *, username: str, password_hash: str, role: Role, now: datetime,
                display_name: str = "", office_codes: tuple[str, ...] = ()) -> User:
    """A new staff account; the password arrives hashed by the edge that read it."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise InvalidSettings(detail="username must be 2-64 lower-case letters, digits, '.', '_' or '-'")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidSettings(detail=f"user {username} already exists")
    offices = _offices(session, office_codes)
    if role is Role.MANAGER and not offices:
        raise InvalidSettings(detail="a manager needs at least one office")
    user = User(username=username, password_hash=password_hash, role=role, display_name=display_name,
                active=True, created_at=now, offices=offices)
    session.add(user)
    session.flush()
    return user


def _offices(session: Session, codes: tuple[str, ...]) -> list[Office]:
    """The offices with these codes; NotFound when any code names none."""
    offices = list(session.scalars(select(Office).where(Office.code.in_(codes)).order_by(Office.code)))
    if len(offices) != len(set(codes)):
        raise NotFound()
    return offices


def _user(session: Session, user_id: int) -> User:
    return get_or_not_found(session, User, user_id)


def set_active(session: Session, *, user_id: int, active: bool, by_username: str) -> User:
    """Let a user sign in again, or stop them; their next request already finds them signed out.

    Deactivating ends their sessions for good, so that reactivating them later does not bring back
    a cookie copied before. Nobody deactivates themself: the last administrator could otherwise
    lock everyone out.
    """
    user = _user(session, user_id)
    if not active and user.username == by_username:
        raise InvalidSettings(detail="you cannot deactivate your own account")
    user.active = active
    if not active:
        user.end_sessions()
    session.flush()
    return user


def set_password_hash(session: Session, *, user_id: int, password_hash: str) -> User:
    """A new password for a user who forgot theirs; hashed by the edge, as on creation.

    Sessions signed in with the old password end: whoever knew it may be the reason for the reset.
    """
    user = _user(session, user_id)
    user.password_hash = password_hash
    user.end_sessions()
    session.flush()
    return user


def end_sessions(session: Session, *, username: str) -> None:
    """Sign-out: every session of this user ends, including copies of the cookie in other hands."""
    user = session.scalar(select(User).where(User.username == username))
    if user is not None:  # removed meanwhile: nothing is left to sign out
        user.end_sessions()
        session.flush()


def set_offices(session: Session, *, user_id: int, office_codes: tuple[str, ...]) -> User:
    """The offices a manager runs; a manager always runs at least one."""
    user = _user(session, user_id)
    if user.role is not Role.MANAGER:
        raise InvalidSettings(detail="only managers are assigned offices")
    offices = _offices(session, office_codes)
    if not offices:
        raise InvalidSettings(detail="a manager needs at least one office")
    user.offices = offices
    session.flush()
    return user
