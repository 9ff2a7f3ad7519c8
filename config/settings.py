"""Every setting the system reads, with its environment variable and documented default.

Settings are a frozen dataclass built once by `Settings.from_env()`; tests build their own with
`Settings(...)` or `dataclasses.replace` and never touch the process environment. In production
mode (`HOTLINE_ENV=production`) secrets have no defaults: a missing one stops the start.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent


_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def _kept_in_instance(instance_path: Path, name: str, nbytes: int) -> str:
    """A development secret, made once and kept in the instance folder (never the repo).

    Every process of one installation reads the same file: gunicorn's workers, the scheduler and
    the call simulator. A secret made per process would sign each worker's cookies with its own
    key, so a signed-in page load served by the other worker would bounce to the login page.
    Workers starting together race to make it: the file is written whole under another name and
    linked into place, which fails for all but the first, and they all read the winner's.
    """
    path = instance_path / name
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        draft = instance_path / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_hex(nbytes) + "\n")  # readable by its owner only, from the start
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the one
        finally:
            draft.unlink()
    return path.read_text().strip()


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
    ("secret_key", "SECRET_KEY", str, "Flask session signing key; in development, made once and kept in the instance folder"),
    ("timezone", "HOTLINE_TIMEZONE", str, "time zone of the offices and of every spoken or written time (Asia/Ho_Chi_Minh)"),
    ("default_language", "HOTLINE_LANGUAGE", str, "language of prompts, SMS and pages unless the user picks another (`vi`; or `en`)"),
    ("max_future_bookings", "BOOKING_MAX_FUTURE", int, "most upcoming appointments one phone may hold (2)"),
    ("hold_seconds", "BOOKING_HOLD_SECONDS", int, "how long a seat is held while a caller confirms (120)"),
    ("rebook_delay_seconds", "BOOKING_REBOOK_DELAY_SECONDS", int, "how long a cancelled seat stays off sale, against seat trading (0)"),
    ("no_show_grace_minutes", "BOOKING_NO_SHOW_GRACE_MINUTES", int, "minutes after the arrival window before a booking may be marked no-show (30)"),
    ("instance_path", "HOTLINE_INSTANCE_PATH", Path, "folder for the SQLite file and compiled translations (`instance/`)"),
    ("public_base_url", "PUBLIC_BASE_URL", str, "the URL Twilio calls, e.g. `https://hotline.example.gov.vn` (signatures are checked against it); default: the request's own URL, right only when Twilio reaches the app directly or through HOTLINE_TRUSTED_PROXIES"),
    ("trusted_proxies", "HOTLINE_TRUSTED_PROXIES", int, "how many reverse proxies set X-Forwarded-* in front of the app (0)"),
    ("twilio_account_sid", "TWILIO_ACCOUNT_SID", str, "Twilio account SID"),
    ("twilio_auth_token", "TWILIO_AUTH_TOKEN", str, "Twilio auth token; signs webhooks. Required in production; in development one is made and kept in the instance folder for the call simulator"),
    ("validate_signatures", "TWILIO_VALIDATE_SIGNATURES", bool, "check `X-Twilio-Signature` on every webhook (on); turn off only for local experiments: production refuses to start without it"),
    ("ivr_voice_vi", "IVR_VOICE_VI", str, "voice for Vietnamese prompts (`Google.vi-VN-Standard-A`; Wavenet and Chirp3-HD voices also work)"),
    ("ivr_voice_en", "IVR_VOICE_EN", str, "voice for English prompts (`Google.en-US-Standard-C`)"),
    ("ivr_speech", "IVR_SPEECH", bool, "also accept spoken answers where the flow lists words (off: keypad only)"),
    ("ivr_audio_dir", "IVR_AUDIO_DIR", Path, "folder of recorded prompts, `LANG/KEY.mp3`, played instead of text-to-speech (`hotline/static/prompts`)"),
    ("ivr_menu_offices", "IVR_MENU_OFFICES", int, "how many offices the booking menu reads out (5)"),
    ("operator_numbers", "IVR_OPERATOR_NUMBERS", str, "comma-separated numbers rung at once when a caller asks for an operator (none: call-back only)"),
    ("operator_hours", "IVR_OPERATOR_HOURS", str, "when operators answer on working days, `HH:MM-HH:MM` (`07:00-17:00`)"),
    ("operator_timeout", "IVR_OPERATOR_TIMEOUT", int, "seconds to ring the operators before offering a call-back (20)"),
    ("sms_sender", "SMS_SENDER", str, "`twilio`, `log` (write to the log only) or `auto` (default: Twilio when TWILIO_ACCOUNT_SID is set, else log)"),
    ("twilio_from", "TWILIO_FROM", str, "sender number or registered brandname ID for SMS"),
    ("twilio_messaging_service_sid", "TWILIO_MESSAGING_SERVICE_SID", str, "Messaging Service SID, used instead of TWILIO_FROM when set"),
    ("twilio_api_base_url", "TWILIO_API_BASE_URL", str, "REST API base URL, to point the client at a stand-in or proxy (Twilio's own)"),
    ("sms_brandname", "SMS_BRANDNAME", str, "text put before every SMS, e.g. `UBND CA MAU` (none)"),
    ("sms_diacritics", "SMS_DIACRITICS", str, "`keep` Vietnamese diacritics (UCS-2), `strip` them (GSM-7), or `auto`: strip only texts longer than SMS_MAX_SEGMENTS (`keep`)"),
    ("sms_max_segments", "SMS_MAX_SEGMENTS", int, "segments allowed before `auto` strips diacritics (3)"),
    ("sms_quiet_hours", "SMS_QUIET_HOURS", str, "local hours when only urgent SMS go out, `HH:MM-HH:MM` (`21:00-07:00`)"),
    ("sms_urgent_kinds", "SMS_URGENT_KINDS", str, "kinds sent even in quiet hours (`closure,confirmation,cancellation,move,callback_ack`)"),
    ("sms_rate", "SMS_RATE", float, "messages a second each dispatcher process sends at most (10)"),
    ("sms_concurrency", "SMS_CONCURRENCY", int, "sends in flight at once in each dispatcher (4)"),
    ("sms_batch", "SMS_BATCH", int, "messages claimed at a time (50)"),
    ("sms_max_attempts", "SMS_MAX_ATTEMPTS", int, "tries before a transient failure becomes final (6)"),
    ("sms_backoff_seconds", "SMS_BACKOFF_SECONDS", int, "first retry delay, doubled each time (30)"),
    ("sms_backoff_cap_seconds", "SMS_BACKOFF_CAP_SECONDS", int, "longest retry delay (3600)"),
    ("sms_lease_seconds", "SMS_LEASE_SECONDS", int, "how long a claim lasts before another dispatcher takes the message back (300)"),
    ("sms_reminder_evening", "SMS_REMINDER_EVENING", str, "local time of the reminder the evening before, `HH:MM`, empty for none (`19:00`)"),
    ("sms_reminder_before_minutes", "SMS_REMINDER_BEFORE_MINUTES", int, "minutes before the session for the second reminder, 0 for none (120)"),
    ("sms_price_per_segment", "SMS_PRICE_PER_SEGMENT", float, "price of one SMS segment, for broadcast cost estimates (0.0835)"),
    ("sms_price_currency", "SMS_PRICE_CURRENCY", str, "currency of that price (`USD`)"),
    ("leader_poll_seconds", "LEADER_POLL_SECONDS", int, "how often a scheduler checks it still leads, and a standby tries to take over (2)"),
    ("ready_heartbeat_seconds", "READY_HEARTBEAT_SECONDS", int, "/readyz fails when the leading scheduler's last heartbeat is older than this (30)"),
    ("ready_require_scheduler", "READY_REQUIRE_SCHEDULER", bool, "/readyz requires a live leading scheduler (on); turn off where the schedulers run elsewhere"),
    ("log_format", "LOG_FORMAT", str, "`json` (one object a line) or `text`; default: json in production, text otherwise"),
    ("log_level", "LOG_LEVEL", str, "least severe level logged: DEBUG, INFO, WARNING, ERROR (INFO)"),
    ("metrics_token", "METRICS_TOKEN", str, "bearer token that lets a scraper outside METRICS_TRUSTED_NETWORKS read /metrics (none)"),
    ("metrics_trusted_networks", "METRICS_TRUSTED_NETWORKS", str, "comma-separated addresses or networks served /metrics without a token (`127.0.0.0/8,::1`)"),
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
    public_base_url: str = ""
    trusted_proxies: int = 0
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    validate_signatures: bool = True
    ivr_voice_vi: str = "Google.vi-VN-Standard-A"
    ivr_voice_en: str = "Google.en-US-Standard-C"
    ivr_speech: bool = False
    ivr_audio_dir: Path = PROJECT_ROOT / "hotline" / "static" / "prompts"
    ivr_menu_offices: int = 5
    operator_numbers: str = ""
    operator_hours: str = "07:00-17:00"
    operator_timeout: int = 20
    sms_sender: str = "auto"
    twilio_from: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = ""
    sms_brandname: str = ""
    sms_diacritics: str = "keep"
    sms_max_segments: int = 3
    sms_quiet_hours: str = "21:00-07:00"
    sms_urgent_kinds: str = "closure,confirmation,cancellation,move,callback_ack"
    sms_rate: float = 10.0
    sms_concurrency: int = 4
    sms_batch: int = 50
    sms_max_attempts: int = 6
    sms_backoff_seconds: int = 30
    sms_backoff_cap_seconds: int = 3600
    sms_lease_seconds: int = 300
    sms_reminder_evening: str = "19:00"
    sms_reminder_before_minutes: int = 120
    sms_price_per_segment: float = 0.0835
    sms_price_currency: str = "USD"
    leader_poll_seconds: int = 2
    ready_heartbeat_seconds: int = 30
    ready_require_scheduler: bool = True
    log_format: str = ""
    log_level: str = "INFO"
    metrics_token: str = field(default="", repr=False)
    metrics_trusted_networks: str = "127.0.0.0/8,::1"

    def __post_init__(self) -> None:
        if not self.database_url:
            db_file = Path(self.instance_path) / "hotline.sqlite3"
            object.__setattr__(self, "database_url", f"sqlite:///{db_file}")
        if not self.secret_key:
            if self.is_production:
                raise SettingsError("SECRET_KEY must be set when HOTLINE_ENV=production")
            object.__setattr__(self, "secret_key", _kept_in_instance(Path(self.instance_path), "dev_secret_key", 32))
        if not self.twilio_auth_token:
            if self.is_production:
                raise SettingsError("TWILIO_AUTH_TOKEN must be set when HOTLINE_ENV=production")
            object.__setattr__(self, "twilio_auth_token", _kept_in_instance(Path(self.instance_path),
                                                                                 "dev_twilio_auth_token", 16))
        if self.is_production and not self.validate_signatures:
            # Without the check anyone who finds the webhook URL can book, cancel and send SMS as a caller.
            raise SettingsError("TWILIO_VALIDATE_SIGNATURES cannot be off when HOTLINE_ENV=production")
        if self.public_base_url:
            url = urlsplit(self.public_base_url)
            if url.scheme not in {"http", "https"} or not url.netloc or url.query or url.fragment:
                # Twilio signs the whole URL: a base without its scheme would fail every webhook, silently.
                raise SettingsError(f"PUBLIC_BASE_URL must look like https://hotline.example.gov.vn, "
                                    f"not {self.public_base_url!r}")
        if not _HOURS.match(self.operator_hours):
            raise SettingsError(f"IVR_OPERATOR_HOURS must look like 07:00-17:00, not {self.operator_hours!r}")
        if not _HOURS.match(self.sms_quiet_hours):
            raise SettingsError(f"SMS_QUIET_HOURS must look like 21:00-07:00, not {self.sms_quiet_hours!r}")
        if self.sms_diacritics not in {"keep", "strip", "auto"}:
            raise SettingsError("SMS_DIACRITICS must be keep, strip or auto")
        if self.sms_sender not in {"auto", "twilio", "log"}:
            raise SettingsError("SMS_SENDER must be auto, twilio or log")
        if self.sms_reminder_evening and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.sms_reminder_evening):
            raise SettingsError("SMS_REMINDER_EVENING must look like 19:00, or be empty")
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
        if self.sms_rate > 0 and self.sms_lease_seconds < 2 * self.sms_batch / self.sms_rate:
            # A claim that lapses while its batch is still being sent hands the rest to another dispatcher.
            raise SettingsError(f"SMS_LEASE_SECONDS ({self.sms_lease_seconds}) must be at least twice the time a "
                                f"batch takes at SMS_RATE ({self.sms_batch / self.sms_rate:.0f} s for "
                                f"SMS_BATCH={self.sms_batch})")
        if self.leader_poll_seconds < 1 or self.ready_heartbeat_seconds <= self.leader_poll_seconds:
            # Heartbeats come once a poll: a shorter limit would fail /readyz between two beats.
            raise SettingsError("LEADER_POLL_SECONDS must be at least 1 and READY_HEARTBEAT_SECONDS longer")
        if self.log_format not in {"", "json", "text"}:
            raise SettingsError(f"LOG_FORMAT must be json or text, not {self.log_format!r}")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {self.log_level!r}")
        for network in filter(None, (n.strip() for n in self.metrics_trusted_networks.split(","))):
            try:
                ip_network(network, strict=False)
            except ValueError as exc:
                raise SettingsError(f"METRICS_TRUSTED_NETWORKS: {network!r} is not an address or network") from exc

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def log_style(self) -> str:
        """How log lines are written: as asked, else JSON in production and text for people elsewhere."""
        return self.log_format or ("json" if self.is_production else "text")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def operators(self) -> list[str]:
        return [n.strip() for n in self.operator_numbers.split(",") if n.strip()]

    @property
    def quiet_hours(self) -> tuple[time, time]:
        start, end = self.sms_quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @property
    def operator_window(self) -> tuple[time, time]:
        opens, closes = self.operator_hours.split("-")
        return time.fromisoformat(opens), time.fromisoformat(closes)

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
        if environ.get("SMS_REMINDER_EVENING") == "":
            values["sms_reminder_evening"] = ""  # set empty on purpose: no evening reminder
        values.update({k: v for k, v in overrides.items() if k in known})
        return cls(**values)
