"""Every setting the system reads, with its environment variable and documented default.

Settings are a frozen dataclass built once by `Settings.from_env()`; tests build their own with
`Settings(...)` or `dataclasses.replace` and never touch the process environment. In production
mode (`HOTLINE_ENV=production`) secrets have no defaults: a missing one stops the start.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean, got {value!r}")


# (field name, environment variable, parser, documentation). The README's settings table is
# checked against this list by a test, so a new setting cannot go undocumented.
ENV_VARS: list[tuple[str, str, Any, str]] = [
    ("env", "HOTLINE_ENV", str, "`development` (default) or `production`; production requires SECRET_KEY"),
    ("database_url", "DATABASE_URL", str, "SQLAlchemy URL; default: SQLite file `instance/hotline.sqlite3`"),
    ("secret_key", "SECRET_KEY", str, "Flask session signing key; random per process in development"),
    ("timezone", "HOTLINE_TIMEZONE", str, "time zone of the offices and of every spoken or written time (Asia/Ho_Chi_Minh)"),
    ("default_language", "HOTLINE_LANGUAGE", str, "language of prompts, SMS and pages unless the user picks another (`vi`; or `en`)"),
    ("max_future_bookings", "BOOKING_MAX_FUTURE", int, "most upcoming appointments one phone may hold (2)"),
    ("hold_seconds", "BOOKING_HOLD_SECONDS", int, "how long a seat is held while a caller confirms (120)"),
    ("rebook_delay_seconds", "BOOKING_REBOOK_DELAY_SECONDS", int, "how long a cancelled seat stays off sale, against seat trading (0)"),
    ("no_show_grace_minutes", "BOOKING_NO_SHOW_GRACE_MINUTES", int, "minutes after the arrival window before a booking may be marked no-show (30)"),
    ("instance_path", "HOTLINE_INSTANCE_PATH", Path, "folder for the SQLite file and compiled translations (`instance/`)"),
]


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = ""
    secret_key: str = field(default="", repr=False)
    timezone: str = "Asia/Ho_Chi_Minh"
    default_language: str = "vi"
    max_future_bookings: int = 2
    hold_seconds: int = 120
    rebook_delay_seconds: int = 0
    no_show_grace_minutes: int = 30
    instance_path: Path = PROJECT_ROOT / "instance"

    def __post_init__(self) -> None:
        if not self.database_url:
            db_file = Path(self.instance_path) / "hotline.sqlite3"
            object.__setattr__(self, "database_url", f"sqlite:///{db_file}")
        if not self.secret_key:
            if self.is_production:
                raise SettingsError("SECRET_KEY must be set when HOTLINE_ENV=production")
            object.__setattr__(self, "secret_key", secrets.token_hex(32))
        if self.env not in {"development", "production", "testing"}:
            raise SettingsError(f"HOTLINE_ENV must be development, production or testing, not {self.env!r}")
        if self.default_language not in {"vi", "en"}:
            raise SettingsError(f"HOTLINE_LANGUAGE must be vi or en, not {self.default_language!r}")
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:  # zoneinfo raises several types for bad keys
            raise SettingsError(f"HOTLINE_TIMEZONE {self.timezone!r} is not a known time zone") from exc
        for name in ("max_future_bookings", "hold_seconds", "rebook_delay_seconds", "no_show_grace_minutes"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must not be negative")

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from `environ` (default: the process environment)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for name, var, parse, _doc in ENV_VARS:
            raw = environ.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[name] = _bool(raw) if parse is bool else parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{var}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if k in known})
        return cls(**values)
