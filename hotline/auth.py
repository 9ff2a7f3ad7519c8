"""Who is asking: console users (Flask-Login sessions) and integrations (bearer tokens), and what they may do."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, cast

from flask import Flask, abort, g, request
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, user_logged_out
from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from accounts import users as accounts
from accounts.models import LoginAttempt, Role, User
from accounts.tokens import token_for
from hotline.runtime import runtime

F = TypeVar("F", bound=Callable[..., Any])

MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
THROTTLE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Principal(UserMixin):
    """The signed-in user or the calling integration, detached from any database session."""

    id: str
    name: str
    role: Role
    office_ids: frozenset[int]
    display_name: str = ""
    session_stamp: str = field(default="", repr=False, compare=False)

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
        """What the session keeps: the id and the stamp it was issued with (see `_stamp`)."""
        return f"{self.id}:{self.session_stamp}" if self.session_stamp else self.id


def _stamp(user: User) -> str:
    """A short keyed digest of the user's session version and password hash.

    The session keeps it, and the loader accepts a session only while the user's stamp is still
    the same: signing out, a new password and deactivation raise the version (see
    `User.end_sessions`), so a cookie copied before then opens nothing afterwards. (Role and
    offices are read afresh on every request, so a change to them applies without it.) The
    cookie, which anyone holding it can read, tells nothing about the hash.
    """
    key = runtime().settings.secret_key.encode()
    material = f"session:{user.session_version}:{user.password_hash}".encode()
    return hmac.new(key, material, hashlib.sha256).hexdigest()[:20]


def _principal(user: User) -> Principal:
    return Principal(f"user:{user.username}", user.username, user.role, frozenset(o.id for o in user.offices),
                     user.display_name, _stamp(user))


login_manager = LoginManager()
login_manager.login_view = "console.login"
# Flask-Login's own words are English; the sign-in page says this in the reader's language.
login_manager.login_message = _l("Please sign in to continue.")
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@login_manager.user_loader
def _load(user_id: str) -> Principal | None:
    """The session's user, unless their sessions have ended since this one began (see `_stamp`)."""
    if not user_id.startswith("user:"):
        return None
    # User names have no ':' (see accounts.users), so the stamp is what follows the last one.
    username, _, stamp = user_id[5:].rpartition(":")
    if not username or not stamp:
        return None
    with runtime().reading() as db:
        user = db.scalar(select(User).where(User.username == username, User.active.is_(True))
                         .options(selectinload(User.offices)))
        if user is None:
            return None
        principal = _principal(user)
    return principal if hmac.compare_digest(principal.session_stamp, stamp) else None


@user_logged_out.connect
def _end_sessions(_app: Flask, user: Any = None, **_: Any) -> None:
    """Signing out ends the session on the server too: the cookie is signed, not stored, so a copy
    taken before (from a shared desk, a proxy log) would otherwise open every page until it expires.
    Every `logout_user()` comes through here; a session already refused has nobody to sign out."""
    if isinstance(user, Principal) and user.id.startswith("user:"):
        with runtime().transaction() as db:
            accounts.end_sessions(db, username=user.name)


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)


@functools.cache
def _stand_in_hash() -> str:
    """A hash of nobody's password, made as real ones are, to check an unknown name against."""
    return generate_password_hash(secrets.token_urlsafe(24))


def check_password(username: str, password: str, ip: str) -> Principal | None:
    """The user if the password is right; None otherwise. Raises 429 while throttled.

    Failures are counted per user name from this address (so that guessing from one place cannot
    lock the owner out everywhere) and per address (so that one place cannot try every name).
    The attempt is recorded, and committed, before the counts are read, so concurrent attempts
    count each other: however many arrive at once, no more than the limit check a password (a
    burst may even be refused whole; the next attempt finds the burst's rows gone).
    """
    rt = runtime()
    now = rt.now()
    username = username.strip().lower()[:64]
    ip = _source(ip)
    with rt.transaction() as db:
        attempt = LoginAttempt(username=username, ip=ip, at=now)
        db.add(attempt)
        db.flush()
        attempt_id = attempt.id
    since = now - THROTTLE_WINDOW
    with rt.reading() as db:
        by_user = db.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.username == username, LoginAttempt.ip == ip, LoginAttempt.at >= since)) or 0
        by_ip = db.scalar(select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.ip == ip, LoginAttempt.at >= since)) or 0
        user = db.scalar(select(User).where(User.username == username, User.active.is_(True))
                         .options(selectinload(User.offices)))
        principal = _principal(user) if user is not None else None
        password_hash = user.password_hash if user is not None else _stand_in_hash()
    # Both counts include this attempt. One refused here is not kept: it checked no password, and
    # the wait ends a window after the last real failure however often the guesser knocks meanwhile.
    if by_user > MAX_FAILURES_PER_USER or by_ip > MAX_FAILURES_PER_ADDRESS:
        _forget(attempt_id)
        abort(429)
    # Checked outside any transaction (hashing is slow on purpose), and for an unknown name too,
    # so that the time of the answer does not tell which names exist.
    if check_password_hash(password_hash, password) and principal is not None:
        _forget(attempt_id)
        return principal
    return None


def _source(ip: str) -> str:
    """Where attempts come from, for counting: an IPv6 client's /64, which it can fill with addresses
    at will (counted one by one, it would have billions of tries); an IPv4 address as it is."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return ip


def _forget(attempt_id: int) -> None:
    """Drop an attempt that turned out not to be a failure (it succeeded, or was never tried)."""
    with runtime().transaction() as db:
        db.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt_id))


def api_principal() -> Principal | None:
    """The caller of an API request: a bearer token, else the console session."""
    if "api_principal" in g:
        return g.api_principal
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

        return cast(F, wrapped)

    return decorate
