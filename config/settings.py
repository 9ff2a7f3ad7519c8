"""Every setting the system reads, with its environment variable and documented default.

Settings are a frozen dataclass built once by `Settings.from_env()`; tests build their own with
`Settings(...)` or `dataclasses.replace` and never touch the process environment. In production
mode (`HOTLINE_ENV=production`) secrets have no defaults: a missing one stops the start.

Each setting is declared once, as a field that names its environment variable and documents it;
`ENV_VARS` is read off the fields. Everything that can be checked without the database is checked
when the settings are built, settings that contradict each other included, so every process (the
web app, the scheduler, each command) refuses to start on the same mistake with one line that
names the variable, rather than one of them failing later.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from ipaddress import ip_network
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent


_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Twilio's (and the carriers') alphanumeric sender ID: 1-11 of A-Z, a-z, 0-9 and space, not digits only.
_SENDER_NAME = re.compile(r"(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_HOTLINE_NUMBER = re.compile(r"\+?[0-9][0-9 .]{1,18}[0-9]")
# notifications.models.MessageKind, spelt out here because config imports nothing of ours (a unit
# test keeps the two lists equal).
SMS_KINDS = ("confirmation", "reminder", "cancellation", "move", "closure", "callback_ack", "broadcast", "nearly_turn",
             "waitlist_offer")
T = TypeVar("T")


def kept_in_instance(instance_path: Path, name: str, nbytes: int) -> str:
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


def _setting(var: str, default: T, doc: str, *, least: float | None = None, secret: bool = False) -> T:
    """A field of Settings read from the environment variable `var`, documented by `doc`.

    `least` is the smallest number the setting may be; a secret is left out of the repr.
    """
    return field(default=default, repr=not secret, metadata={"env": var, "doc": doc, "least": least})


@dataclass(frozen=True)
class Settings:
    env: str = _setting("HOTLINE_ENV", "development",
                        "`development` (default), `testing` or `production`; production requires SECRET_KEY and TWILIO_AUTH_TOKEN")
    database_url: str = _setting("DATABASE_URL", "", "SQLAlchemy URL; default: SQLite file `instance/hotline.sqlite3`")
    secret_key: str = _setting("SECRET_KEY", "",
                               "Flask session signing key; in development, made once and kept in the instance folder", secret=True)
    timezone: str = _setting("HOTLINE_TIMEZONE", "Asia/Ho_Chi_Minh",
                             "time zone of the offices and of every spoken or written time (Asia/Ho_Chi_Minh)")
    default_language: str = _setting("HOTLINE_LANGUAGE", "vi",
                                     "language of prompts, SMS and pages unless the user picks another (`vi`; or `en`)")
    max_future_bookings: int = _setting("BOOKING_MAX_FUTURE", 2,
                                        "most upcoming appointments one phone may hold (2)", least=0)
    hold_seconds: int = _setting("BOOKING_HOLD_SECONDS", 120,
                                 "how long a seat is held while a caller confirms (120)", least=0)
    rebook_delay_seconds: int = _setting("BOOKING_REBOOK_DELAY_SECONDS", 0,
                                         "how long a cancelled seat stays off sale, against seat trading (0)", least=0)
    no_show_grace_minutes: int = _setting("BOOKING_NO_SHOW_GRACE_MINUTES", 30,
                                          "minutes after the arrival window before a booking may be marked no-show (30)", least=0)
    waitlist_hold_minutes: int = _setting("WAITLIST_HOLD_MINUTES", 30,
                                          "how long a freed seat stays held for the person offered it from the "
                                          "waitlist, to call and then text them (30)", least=1)
    waitlist_call_from: str = _setting("WAITLIST_CALL_FROM", "",
                                       "the number (E.164) the waitlist's offer calls come from; none: no calls, "
                                       "the offer goes by SMS")
    # _setting returns a dataclasses.field, which ruff cannot see through (RUF009) when the default is a Path.
    instance_path: Path = _setting("HOTLINE_INSTANCE_PATH", PROJECT_ROOT / "instance",  # noqa: RUF009
                                   "folder for the SQLite file and compiled translations (`instance/`)")
    public_base_url: str = _setting("PUBLIC_BASE_URL", "",
                                    "the URL Twilio calls, e.g. `https://hotline.example.gov.vn` (signatures are checked against it), and the one the public pages' QR codes point at; default: the request's own URL, right only when Twilio reaches the app directly or through HOTLINE_TRUSTED_PROXIES")
    trusted_proxies: int = _setting("HOTLINE_TRUSTED_PROXIES", 0,
                                    "how many reverse proxies set X-Forwarded-* in front of the app (0)", least=0)
    twilio_account_sid: str = _setting("TWILIO_ACCOUNT_SID", "", "Twilio account SID")
    twilio_auth_token: str = _setting("TWILIO_AUTH_TOKEN", "",
                                      "Twilio auth token; signs webhooks. Required in production; in development one is made and kept in the instance folder for the call simulator", secret=True)
    validate_signatures: bool = _setting("TWILIO_VALIDATE_SIGNATURES", True,
                                         "check `X-Twilio-Signature` on every webhook (on); turn off only for local experiments: production refuses to start without it")
    ivr_voice_vi: str = _setting("IVR_VOICE_VI", "Google.vi-VN-Standard-A",
                                 "voice for Vietnamese prompts (`Google.vi-VN-Standard-A`; Wavenet and Chirp3-HD voices also work)")
    ivr_voice_en: str = _setting("IVR_VOICE_EN", "Google.en-US-Standard-C",
                                 "voice for English prompts (`Google.en-US-Standard-C`)")
    ivr_speech: bool = _setting("IVR_SPEECH", True,
                                "accept spoken answers as well as keys: office names, whole requests at the first "
                                "menu, yes and no (on; `0` for keypad only)")
    ivr_audio_dir: Path = _setting("IVR_AUDIO_DIR", PROJECT_ROOT / "hotline" / "static" / "prompts",  # noqa: RUF009
                                   "folder of recorded prompts, `LANG/KEY.mp3`, played instead of text-to-speech (`hotline/static/prompts`)")
    operator_numbers: str = _setting("IVR_OPERATOR_NUMBERS", "",
                                     "comma-separated numbers rung at once when a caller asks for an operator (none: call-back only)")
    operator_hours: str = _setting("IVR_OPERATOR_HOURS", "07:00-17:00",
                                   "when operators answer on working days, `HH:MM-HH:MM` (`07:00-17:00`)")
    operator_timeout: int = _setting("IVR_OPERATOR_TIMEOUT", 20,
                                     "seconds to ring the operators before offering a call-back (20)", least=1)
    sms_sender: str = _setting("SMS_SENDER", "auto",
                               "`twilio`, `esms` (the eSMS brandname gateway), `log` (write to the log only) or `auto` (default: Twilio when TWILIO_ACCOUNT_SID is set, else log)")
    twilio_from: str = _setting("TWILIO_FROM", "", "sender number or registered brandname ID for SMS")
    twilio_messaging_service_sid: str = _setting("TWILIO_MESSAGING_SERVICE_SID", "",
                                                 "Messaging Service SID, used instead of TWILIO_FROM when set")
    twilio_api_base_url: str = _setting("TWILIO_API_BASE_URL", "",
                                        "REST API base URL, to point the client at a stand-in or proxy (Twilio's own)")
    esms_api_key: str = _setting("ESMS_API_KEY", "", "eSMS ApiKey; required with SMS_SENDER=esms", secret=True)
    esms_secret_key: str = _setting("ESMS_SECRET_KEY", "", "eSMS SecretKey; required with SMS_SENDER=esms",
                                    secret=True)
    esms_base_url: str = _setting("ESMS_BASE_URL", "https://rest.esms.vn",
                                  "eSMS's REST base URL, to point the sender at a stand-in or proxy (`https://rest.esms.vn`)")
    esms_sandbox: bool = _setting("ESMS_SANDBOX", False,
                                  "send with eSMS's Sandbox flag: checked and answered, never delivered nor charged (off)")
    esms_request_prefix: str = _setting("ESMS_REQUEST_PREFIX", "hotline-",
                                        "put before the outbox id to make each message's RequestId (`hotline-`); give each installation sharing an eSMS account its own, since eSMS refuses a RequestId it has seen")
    sms_brandname: str = _setting("SMS_BRANDNAME", "", "text put before every SMS, e.g. `UBND CA MAU` (none)")
    sms_sender_name: str = _setting("SMS_SENDER_NAME", "HCC CAMAU",
                                    "who the SMS come from: the alphanumeric sender ID (brandname) registered with the carriers, at most 11 letters, digits and spaces; Twilio sends from it when TWILIO_FROM and TWILIO_MESSAGING_SERVICE_SID are empty, and it is the eSMS Brandname (`HCC CAMAU`; empty for none)")
    sms_replies: bool = _setting("SMS_REPLIES", False,
                                 "the SMS provider delivers citizens' replies to `/sms/inbound`, so texts may offer reply keywords (off: Twilio carries no replies from Vietnam, and nobody can reply to a sender ID)")
    hotline_number: str = _setting("HOTLINE_NUMBER", "1022",
                                   "the number SMS, the public pages and the QR sheets ask citizens to call, as they dial it (`1022`; from a mobile the province's area code may be needed, e.g. `0290 1022`)")
    sms_diacritics: str = _setting("SMS_DIACRITICS", "keep",
                                   "`keep` Vietnamese diacritics (UCS-2), `strip` them (GSM-7), or `auto`: strip only texts longer than SMS_MAX_SEGMENTS (`keep`)")
    sms_max_segments: int = _setting("SMS_MAX_SEGMENTS", 3,
                                     "segments allowed before `auto` strips diacritics (3)", least=1)
    sms_quiet_hours: str = _setting("SMS_QUIET_HOURS", "21:00-07:00",
                                    "local hours when only urgent SMS go out, `HH:MM-HH:MM` (`21:00-07:00`)")
    sms_urgent_kinds: str = _setting("SMS_URGENT_KINDS", "closure,confirmation,cancellation,move,callback_ack",
                                     "kinds sent even in quiet hours (`closure,confirmation,cancellation,move,callback_ack`)")
    sms_rate: float = _setting("SMS_RATE", 10.0,
                               "messages a second each dispatcher process sends at most (10; 0 for no limit)", least=0)
    sms_concurrency: int = _setting("SMS_CONCURRENCY", 4, "sends in flight at once in each dispatcher (4)", least=1)
    sms_batch: int = _setting("SMS_BATCH", 50, "messages claimed at a time (50)", least=1)
    sms_max_attempts: int = _setting("SMS_MAX_ATTEMPTS", 6,
                                     "tries before a transient failure becomes final (6)", least=1)
    sms_backoff_seconds: int = _setting("SMS_BACKOFF_SECONDS", 30, "first retry delay, doubled each time (30)", least=0)
    sms_backoff_cap_seconds: int = _setting("SMS_BACKOFF_CAP_SECONDS", 3600, "longest retry delay (3600)", least=0)
    sms_lease_seconds: int = _setting("SMS_LEASE_SECONDS", 300,
                                      "how long a claim lasts unless its dispatcher renews it (every half lease while it sends); then the message goes back to the queue (300)", least=2)
    sms_reminder_evening: str = _setting("SMS_REMINDER_EVENING", "19:00",
                                         "local time of the reminder the evening before, `HH:MM`, empty for none (`19:00`)")
    sms_reminder_before_minutes: int = _setting("SMS_REMINDER_BEFORE_MINUTES", 120,
                                                "minutes before the session for the second reminder, 0 for none (120)", least=0)
    # A brandname SMS in Vietnam costs some 600-900 ₫ a segment at the carriers' 2024 prices; managers read costs in ₫.
    sms_price_per_segment: float = _setting("SMS_PRICE_PER_SEGMENT", 800.0,
                                            "price of one SMS segment, for broadcast cost estimates (800)", least=0)
    sms_price_currency: str = _setting("SMS_PRICE_CURRENCY", "VND",
                                       "ISO 4217 currency of that price; costs are shown in it (`VND`)")
    zalo_zns_enabled: bool = _setting("ZALO_ZNS_ENABLED", False,
                                      "send the messages that have a Zalo template (ZALO_TEMPLATES) as Zalo (ZNS) messages first, and by SMS, once, when Zalo cannot deliver them (off)")
    zalo_access_token: str = _setting("ZALO_ACCESS_TOKEN", "",
                                      "the Official Account's access token for ZNS (it lasts 25 hours: in production set ZALO_REFRESH_TOKEN instead); one of the two is required when ZALO_ZNS_ENABLED is on", secret=True)
    zalo_refresh_token: str = _setting("ZALO_REFRESH_TOKEN", "",
                                       "the Official Account's refresh token: with it (and ZALO_APP_ID, ZALO_APP_SECRET) the access token is refreshed before it expires, the new pair kept in the database; set a new one only when Zalo refuses the stored one", secret=True)
    zalo_app_secret: str = _setting("ZALO_APP_SECRET", "",
                                    "the Zalo app's secret key, sent to refresh the access token", secret=True)
    zalo_oauth_url: str = _setting("ZALO_OAUTH_URL", "https://oauth.zaloapp.com/v4/oa/access_token",
                                   "where access tokens are refreshed (`https://oauth.zaloapp.com/v4/oa/access_token`)")
    zalo_api_base_url: str = _setting("ZALO_API_BASE_URL", "https://business.openapi.zalo.me",
                                      "ZNS API base URL, to point the sender at a stand-in or proxy (`https://business.openapi.zalo.me`)")
    zalo_templates: str = _setting("ZALO_TEMPLATES", "",
                                   "the approved ZNS template of each message kind, `kind=template id` separated by commas, e.g. `confirmation=123456,reminder=123457`; kinds without one go by SMS")
    zalo_app_id: str = _setting("ZALO_APP_ID", "", "the Zalo app's ID, which signs its webhook events to `/zalo/events`")
    zalo_oa_secret_key: str = _setting("ZALO_OA_SECRET_KEY", "",
                                       "the Official Account's secret key, which signs Zalo's webhook events (delivery reports); without it and ZALO_APP_ID every event is refused", secret=True)
    leader_poll_seconds: int = _setting("LEADER_POLL_SECONDS", 2,
                                        "how often a scheduler checks it still leads, and a standby tries to take over (2)", least=1)
    ready_heartbeat_seconds: int = _setting("READY_HEARTBEAT_SECONDS", 30,
                                            "/readyz fails when the leading scheduler's last heartbeat is older than this (30)")
    ready_require_scheduler: bool = _setting("READY_REQUIRE_SCHEDULER", True,
                                             "/readyz requires a live leading scheduler (on); turn off where the schedulers run elsewhere")
    log_format: str = _setting("LOG_FORMAT", "",
                               "`json` (one object a line) or `text`; default: json in production, text otherwise")
    log_level: str = _setting("LOG_LEVEL", "INFO", "least severe level logged: DEBUG, INFO, WARNING, ERROR (INFO)")
    metrics_token: str = _setting("METRICS_TOKEN", "",
                                  "bearer token that lets a scraper outside METRICS_TRUSTED_NETWORKS read /metrics (none)", secret=True)
    metrics_trusted_networks: str = _setting("METRICS_TRUSTED_NETWORKS", "127.0.0.0/8,::1",
                                             "comma-separated addresses or networks served /metrics without a token (`127.0.0.0/8,::1`)")
    # How long personal data is kept (Law 91/2025/QH15: no longer than its purpose needs). A nightly job
    # (`actions.retention.purge`) anonymises what has expired and keeps what the reports count.
    retention_booking_days: int = _setting(
        "RETENTION_BOOKING_DAYS", 365,
        "days after the appointment date that a booking keeps its name and phone, and the audit log the numbers it "
        "names: a dossier's follow-up and a complaint about it (the Law on Complaints allows 90 days from learning "
        "of a decision, plus its handling) fit in a year; then they are anonymised and only counted (365)", least=1)
    retention_sms_days: int = _setting(
        "RETENTION_SMS_DAYS", 90,
        "days a sent SMS keeps its text and recipient, and an uploaded broadcast list its numbers: long enough to "
        "answer a complaint about a message; kind, status, segments and dates stay for reports and costs (90)", least=1)
    retention_call_days: int = _setting(
        "RETENTION_CALL_DAYS", 30,
        "days a call keeps the caller's number and what it collected (spoken words included), and a finished "
        "call-back request its number and notes: enough to look into a failed call; outcome and duration stay for "
        "the call reports (30)", least=1)
    retention_login_attempts_days: int = _setting(
        "RETENTION_LOGIN_ATTEMPTS_DAYS", 90,
        "days failed sign-ins (user name, address) are kept for security investigations (90)", least=1)
    retention_audit_days: int = _setting(
        "RETENTION_AUDIT_DAYS", 1825,
        "days audit entries are kept, with personal values removed after RETENTION_BOOKING_DAYS: five years, the "
        "longest limitation period for disciplining a civil servant (1825)", least=1)

    def __post_init__(self) -> None:
        if self.env not in {"development", "production", "testing"}:
            raise SettingsError(f"HOTLINE_ENV must be development, production or testing, not {self.env!r}")
        for setting in fields(self):
            least = setting.metadata.get("least")
            if least is not None and getattr(self, setting.name) < least:
                raise SettingsError(f"{setting.metadata['env']} must be at least {least}, "
                                    f"not {getattr(self, setting.name)}")
        if not self.database_url:
            db_file = Path(self.instance_path) / "hotline.sqlite3"
            object.__setattr__(self, "database_url", f"sqlite:///{db_file}")
        if not self.secret_key:
            if self.is_production:
                raise SettingsError("SECRET_KEY must be set when HOTLINE_ENV=production")
            object.__setattr__(self, "secret_key", kept_in_instance(Path(self.instance_path), "dev_secret_key", 32))
        self._check_sms_sender()  # before a development token is made: Twilio would refuse that one
        if not self.twilio_auth_token:
            if self.is_production:
                raise SettingsError("TWILIO_AUTH_TOKEN must be set when HOTLINE_ENV=production")
            object.__setattr__(self, "twilio_auth_token", kept_in_instance(Path(self.instance_path),
                                                                                 "dev_twilio_auth_token", 16))
        if self.is_production and not self.validate_signatures:
            # Without the check anyone who finds the webhook URL can book, cancel and send SMS as a caller.
            raise SettingsError("TWILIO_VALIDATE_SIGNATURES cannot be off when HOTLINE_ENV=production")
        # Twilio signs the whole URL: a public base without its scheme would fail every webhook,
        # silently; an API base without one would fail every send, retried for hours.
        _check_base_url("PUBLIC_BASE_URL", self.public_base_url, "https://hotline.example.gov.vn")
        _check_base_url("TWILIO_API_BASE_URL", self.twilio_api_base_url, "https://api.twilio.com")
        _check_base_url("ESMS_BASE_URL", self.esms_base_url, "https://rest.esms.vn")
        if not _HOURS.match(self.operator_hours):
            raise SettingsError(f"IVR_OPERATOR_HOURS must look like 07:00-17:00, not {self.operator_hours!r}")
        if not _HOURS.match(self.sms_quiet_hours):
            raise SettingsError(f"SMS_QUIET_HOURS must look like 21:00-07:00, not {self.sms_quiet_hours!r}")
        if self.sms_sender_name and not _SENDER_NAME.fullmatch(self.sms_sender_name):
            raise SettingsError(f"SMS_SENDER_NAME must be at most 11 letters, digits and spaces with at least one "
                                f"letter (an alphanumeric sender ID), not {self.sms_sender_name!r}")
        if not _HOTLINE_NUMBER.fullmatch(self.hotline_number):
            raise SettingsError(f"HOTLINE_NUMBER must be a number to dial, e.g. 1022 or 0290 1022, "
                                f"not {self.hotline_number!r}")
        if self.sms_diacritics not in {"keep", "strip", "auto"}:
            raise SettingsError("SMS_DIACRITICS must be keep, strip or auto")
        unknown = [k for k in (k.strip() for k in self.sms_urgent_kinds.split(",")) if k and k not in SMS_KINDS]
        if unknown:
            raise SettingsError(f"SMS_URGENT_KINDS: {', '.join(unknown)} is not a kind of SMS "
                                f"({', '.join(SMS_KINDS)})")
        if self.sms_reminder_evening and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.sms_reminder_evening):
            raise SettingsError("SMS_REMINDER_EVENING must look like 19:00, or be empty")
        if self.default_language not in {"vi", "en"}:
            raise SettingsError(f"HOTLINE_LANGUAGE must be vi or en, not {self.default_language!r}")
        try:
            ZoneInfo(self.timezone)
        except Exception as exc:  # zoneinfo raises several types for bad keys
            raise SettingsError(f"HOTLINE_TIMEZONE {self.timezone!r} is not a known time zone") from exc
        # SMS_LEASE_SECONDS need not cover a whole batch, however slowly the provider answers: the
        # dispatcher renews the claims of a batch every half lease for as long as it is being sent.
        if self.ready_heartbeat_seconds <= self.leader_poll_seconds:
            # Heartbeats come once a poll: a shorter limit would fail /readyz between two beats.
            raise SettingsError("READY_HEARTBEAT_SECONDS must be longer than LEADER_POLL_SECONDS")
        if self.log_format not in {"", "json", "text"}:
            raise SettingsError(f"LOG_FORMAT must be json or text, not {self.log_format!r}")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise SettingsError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {self.log_level!r}")
        for network in filter(None, (n.strip() for n in self.metrics_trusted_networks.split(","))):
            try:
                ip_network(network, strict=False)
            except ValueError as exc:
                raise SettingsError(f"METRICS_TRUSTED_NETWORKS: {network!r} is not an address or network") from exc
        self._check_zalo()

    def _check_zalo(self) -> None:
        """With Zalo on, ZNS can be reached and every template names a kind of message."""
        _check_base_url("ZALO_API_BASE_URL", self.zalo_api_base_url, "https://business.openapi.zalo.me")
        _check_base_url("ZALO_OAUTH_URL", self.zalo_oauth_url, "https://oauth.zaloapp.com/v4/oa/access_token")
        templates = self.zalo_template_ids
        if not self.zalo_zns_enabled:
            return
        if self.zalo_refresh_token and not (self.zalo_app_id and self.zalo_app_secret):
            raise SettingsError("ZALO_APP_ID and ZALO_APP_SECRET must be set to refresh the token of ZALO_REFRESH_TOKEN")
        if not (self.zalo_access_token or self.zalo_refresh_token):
            raise SettingsError("ZALO_ACCESS_TOKEN or ZALO_REFRESH_TOKEN must be set when ZALO_ZNS_ENABLED is on")
        if not templates:
            raise SettingsError("ZALO_TEMPLATES must name at least one template when ZALO_ZNS_ENABLED is on")

    def _check_sms_sender(self) -> None:
        """The sender chosen has what it needs to send.

        Otherwise the web app would take bookings and queue their SMS while the scheduler failed
        on building the sender, or Twilio refused every message, and no SMS would ever leave.
        """
        if self.sms_sender not in {"auto", "twilio", "esms", "log"}:
            raise SettingsError(f"SMS_SENDER must be auto, twilio, esms or log, not {self.sms_sender!r}")
        # Never echo these values: a token pasted into the wrong variable would end up in the log.
        if self.twilio_account_sid and not _ACCOUNT_SID.match(self.twilio_account_sid):
            raise SettingsError("TWILIO_ACCOUNT_SID must be AC followed by 32 hexadecimal digits")
        if self.twilio_messaging_service_sid and not _SERVICE_SID.match(self.twilio_messaging_service_sid):
            raise SettingsError("TWILIO_MESSAGING_SERVICE_SID must be MG followed by 32 hexadecimal digits")
        if self.sms_sender == "esms":
            # eSMS's Brandname is the sender ID of SMS_SENDER_NAME, registered with eSMS as well.
            for var, value in (("ESMS_API_KEY", self.esms_api_key), ("ESMS_SECRET_KEY", self.esms_secret_key),
                               ("SMS_SENDER_NAME", self.sms_sender_name)):
                if not value.strip():
                    raise SettingsError(f"{var} must be set when SMS_SENDER=esms")
            if not re.fullmatch(r"[A-Za-z0-9_.-]{0,40}", self.esms_request_prefix):
                raise SettingsError("ESMS_REQUEST_PREFIX may hold only letters, digits, '.', '_' and '-' (at most 40)")
            return
        if self.sms_sender == "log" or (self.sms_sender == "auto" and not self.twilio_account_sid):
            return
        why = "SMS_SENDER=twilio" if self.sms_sender == "twilio" else "SMS_SENDER=auto and TWILIO_ACCOUNT_SID is set"
        if not self.twilio_account_sid:
            raise SettingsError("TWILIO_ACCOUNT_SID must be set when SMS_SENDER=twilio")
        if not self.twilio_auth_token:
            raise SettingsError(f"TWILIO_AUTH_TOKEN must be set to send SMS through Twilio ({why})")
        if not (self.twilio_from or self.twilio_messaging_service_sid or self.sms_sender_name):
            raise SettingsError(f"TWILIO_FROM, TWILIO_MESSAGING_SERVICE_SID or SMS_SENDER_NAME must be set to send SMS through "
                                f"Twilio ({why}; SMS_SENDER=log writes them to the log instead)")

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
    def zalo_template_ids(self) -> dict[str, str]:
        """ZALO_TEMPLATES as {message kind: template id}; SettingsError on a malformed pair."""
        templates: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in self.zalo_templates.split(","))):
            kind, sep, template_id = (part.strip() for part in pair.partition("="))
            if not sep or not template_id.isdigit():
                raise SettingsError(f"ZALO_TEMPLATES: {pair!r} must be kind=template id (digits)")
            if kind not in SMS_KINDS:
                raise SettingsError(f"ZALO_TEMPLATES: {kind!r} is not a kind of message ({', '.join(SMS_KINDS)})")
            templates[kind] = template_id
        return templates

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
                values[name] = parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{var}: {exc}") from exc
        if environ.get("SMS_REMINDER_EVENING") == "":
            values["sms_reminder_evening"] = ""  # set empty on purpose: no evening reminder
        if environ.get("SMS_SENDER_NAME") == "":
            values["sms_sender_name"] = ""  # set empty on purpose: no sender ID, a number or a service sends
        values.update({k: v for k, v in overrides.items() if k in known})
        return cls(**values)


def _check_base_url(var: str, url: str, example: str) -> None:
    """A base URL, if set, has a scheme and a host, and no query or fragment to append paths to."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"{var} must look like {example}, not {url!r}")


_PARSERS: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float, "bool": _bool, "Path": Path}

# (field name, environment variable, parser, documentation), read off the fields. The README's
# settings table is checked against this list by a test, so a new setting cannot go undocumented.
ENV_VARS: list[tuple[str, str, Callable[[str], Any], str]] = [
    (f.name, f.metadata["env"], _PARSERS[str(f.type)], f.metadata["doc"]) for f in fields(Settings)]
