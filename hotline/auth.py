"""Who is asking: console users (Flask-Login sessions) and integrations (bearer tokens), and what they may do."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask, abort, g, request
from flask_login import LoginManager, UserMixin, current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.security import check_password_hash

from booking.audit import token_for
from booking.models import LoginAttempt, Role, User
from hotline.runtime import runtime

F = TypeVar("F", bound=Callable[..., Any])

MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
THROTTLE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Principal(UserMixin):  # type: ignore[misc]
    """The signed-in user or the calling integration, detached from any database session."""

    id: str
    name: str
    role: Role
    office_ids: frozenset[int]
    display_name: str = ""

    @property
    def actor(self) -> str:
        return self.id

    def may_manage(self, office_id: int) -> bool:
        return self.role is Role.ADMIN or (self.role is Role.MANAGER and office_id in self.office_ids)

    def may_handle(self, office_id: int) -> bool:
        """Book, look at, move or cancel appointments at this office: operators serve every office's
        callers, managers only their own offices' (the console and the API check the same rule)."""
        return self.role is not Role.MANAGER or office_id in self.office_ids

    def get_id(self) -> str:
        return self.id


def _principal(user: User) -> Principal:
    return Principal(f"user:{user.username}", user.username, user.role, frozenset(o.id for o in user.offices),
                     user.display_name)


login_manager = LoginManager()
login_manager.login_view = "console.login"
login_manager.session_protection = "strong"


@login_manager.user_loader
def _load(user_id: str) -> Principal | None:
    if not user_id.startswith("user:"):
        return None
    with runtime().reading() as db:
        user = db.scalar(select(User).where(User.username == user_id[5:], User.active.is_(True))
                         .options(selectinload(User.offices)))
        return _principal(user) if user is not None else None


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)


def check_password(username: str, password: str, ip: str) -> Principal | None:
    """The user if the password is right; None otherwise. Raises 429 while throttled."""
    rt = runtime()
    now = rt.now()
    username = username.strip().lower()[:64]
    with rt.transaction() as db:
        since = now - THROTTLE_WINDOW
        by_user = db.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == username, LoginAttempt.at >= since)) or 0
        by_ip = db.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.ip == ip, LoginAttempt.at >= since)) or 0
        if by_user >= MAX_FAILURES_PER_USER or by_ip >= MAX_FAILURES_PER_ADDRESS:
            abort(429)
        user = db.scalar(select(User).where(User.username == username, User.active.is_(True))
                         .options(selectinload(User.offices)))
        if user is None or not check_password_hash(user.password_hash, password):
            db.add(LoginAttempt(username=username, ip=ip, at=now))
            return None
        return _principal(user)


def api_principal() -> Principal | None:
    """The caller of an API request: a bearer token, else the console session."""
    if "api_principal" in g:
        return g.api_principal  # type: ignore[no-any-return]
    principal: Principal | None = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        rt = runtime()
        with rt.transaction() as db:
            token = token_for(db, header[7:].strip(), now=rt.now())
            if token is not None:
                principal = Principal(f"api:{token.name}", token.name, token.role, frozenset())
    elif current_user.is_authenticated:
        principal = current_user._get_current_object()
    g.api_principal = principal
    return principal


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Console views: signed in, with one of `roles` (administrators may do everything)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role is not Role.ADMIN and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate
