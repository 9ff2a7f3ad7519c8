"""Structured logs: one JSON object a line on stderr, each carrying the request, call and booking it is about.

Context fields (request id, Twilio's call and message SIDs, booking code, office, user) live in a
ContextVar, so any logger called while a request is served carries them without being handed
anything. Phone numbers are masked and secrets dropped in the formatters, the one place every line
passes through, so that a careless `log.info("SMS to %s", number)` anywhere cannot leak a number.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from flask import Flask, Response, g, has_request_context, request
from gunicorn.glogging import Logger as _GunicornLogger

from booking.codes import is_valid_code

# Everything a line may carry besides its message, in the order it is written.
CONTEXT_FIELDS = ("request_id", "call_sid", "message_sid", "booking_code", "office_id", "user")

_context: ContextVar[Mapping[str, Any] | None] = ContextVar("hotline_log_context", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's or a client's id is kept only when it cannot smuggle anything into a log line.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")

# A run of 9 to 15 digits, optionally after "+", not inside a word or a longer number; and a
# Vietnamese number after its country code or trunk 0, written in groups or after a bracketed or
# spaced country code ("0912 345 678", "+84 290.3821.022", "84 912 345 678", "(+84) 912345678",
# "+84 (0) 912 345 678").
_NUMBER = re.compile(r"(?<![\w+])\+?\d{9,15}(?![\w])")
_COUNTRY = r"(?:\(\s*(?:\+|00)?84\s*\)|(?:\+|00)84|84(?=[ .-]))"
_GROUPED = re.compile(rf"(?<![\w+])(?:{_COUNTRY}[ .-]?(?:\(0\)[ .-]?)?|0)"
                      r"(?:\d{2,3}(?:[ .-]\d{2,4}){2,3}|\d{9,10})(?![\w])")
# First digits of a Vietnamese mobile number once its trunk 0 is dropped (03x, 05x, 07x, 08x, 09x).
_MOBILE_FIRST_DIGITS = frozenset("35789")
# First digits of any Vietnamese subscriber number after the country code: landlines (02x) and mobiles.
_NATIONAL_FIRST_DIGITS = frozenset("235789")
# Keys whose values never reach a log line, whatever they hold.
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|authori[sz]ation|signature|cookie|csrf|api[_-]?key",
                         re.IGNORECASE)
# Keys whose values are phone numbers however they are spelled.
_PHONE_KEY = re.compile(r"^(phone|caller|recipient|from|to|called|sender|number)$", re.IGNORECASE)
REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else on a record came from `extra=` and is written out.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}

access = logging.getLogger("hotline.access")

# Requests that would drown the log (probes, scrapes) are logged at DEBUG only, unless refused.
QUIET_PATHS = frozenset({"/healthz", "/metrics"})


# -- masking -----------------------------------------------------------------------------------


def mask_phone(value: str) -> str:
    """Every digit but the last three replaced by '*': enough to tell two callers apart, not to ring one."""
    digits = sum(ch.isdigit() for ch in value)
    seen = 0
    out = []
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > digits - 3 else "*")
        else:
            out.append(ch)
    return "".join(out)


def _looks_like_phone(number: str) -> bool:
    """E.164; a Vietnamese number after 0, 84 or 0084; any number after the international prefix 00;
    and nine digits that would be a mobile with its trunk 0 left off ("912345678").

    Those nine digits are also the shape of a booking code, which the logs must keep readable
    (it is how a line is traced to a booking). A code carries a Damm check digit and a mobile
    number does not, so nine digits that check out are taken for a code: one mobile written
    without its 0 in ten stays readable, and no code is ever masked. Ids, counts and Unix times
    (which start with 1, or are longer) are left alone.
    """
    digits = number.lstrip("+")
    if number.startswith("+"):
        return True
    if digits.startswith("00"):
        return len(digits) >= 11
    if digits.startswith("0"):
        return len(digits) in (10, 11)
    if digits.startswith("84") and len(digits) in (11, 12):
        return digits[2] in _NATIONAL_FIRST_DIGITS
    return len(digits) == 9 and digits[0] in _MOBILE_FIRST_DIGITS and not is_valid_code(digits)


def scrub(text: str) -> str:
    """`text` with every phone number in it masked."""
    text = _GROUPED.sub(lambda m: mask_phone(m.group()) if _looks_like_phone(re.sub(r"[^\d+]", "", m.group()))
                        else m.group(), text)
    return _NUMBER.sub(lambda m: mask_phone(m.group()) if _looks_like_phone(m.group()) else m.group(), text)


def clean(key: str, value: Any) -> Any:
    """A field's value as it may be logged: secrets dropped, phone numbers masked, the rest as text."""
    if _SECRET_KEY.search(key):
        return REDACTED
    if value is None or isinstance(value, bool):
        return value
    if _PHONE_KEY.match(key):
        return mask_phone(str(value))
    if isinstance(value, int | float):
        return value
    return scrub(value if isinstance(value, str) else str(value))


# -- context -----------------------------------------------------------------------------------


def bind(**fields: Any) -> None:
    """Add fields to every line logged from here on in this request (or task)."""
    _context.set({**_fields(), **{k: v for k, v in fields.items() if v is not None}})


def _fields() -> Mapping[str, Any]:
    return _context.get() or {}


def current_context() -> dict[str, Any]:
    fields = dict(_fields())
    user = _user()
    if user:
        fields.setdefault("user", user)
    return fields


def _user() -> str | None:
    """Who is signed in, if this request already knows (never loads a user just to log it)."""
    if not has_request_context():
        return None
    principal = g.get("api_principal") or g.get("_login_user")
    if principal is None or not getattr(principal, "is_authenticated", False):
        return None
    return str(getattr(principal, "id", "")) or None


# -- formatters --------------------------------------------------------------------------------


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the context, and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"time": _iso(record.created), "level": record.levelname.lower(),
                                 "logger": record.name, "message": scrub(record.getMessage())}
        fields = {**current_context(), **_extras(record)}
        for key in CONTEXT_FIELDS:
            if fields.get(key) is not None:
                entry[key] = clean(key, fields.pop(key))
        for key, value in fields.items():
            if value is not None:
                entry[key] = clean(key, value)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = scrub(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """A line a person reads in a terminal: the message, then the context as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = scrub(super().format(record))
        fields = {k: v for k, v in {**current_context(), **_extras(record)}.items() if v is not None}
        if fields:
            line += " " + " ".join(f"{k}={clean(k, v)}" for k, v in fields.items())
        return line


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the time, so test capture and a re-opened stderr both work."""

    _hotline = True  # configure_logging replaces only its own handlers

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def formatter_for(style: str) -> logging.Formatter:
    return JsonFormatter() if style == "json" else TextFormatter()


def configure_logging(style: str, level: str) -> None:
    """Send every logger's records to stderr in `style` ("json" or "text"); calling again replaces ours."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_hotline", False)]:
        root.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(formatter_for(style))
    root.addHandler(handler)
    root.setLevel(level.upper())


# -- requests ----------------------------------------------------------------------------------


def _request_id() -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SANE_REQUEST_ID.match(given) else uuid.uuid4().hex


def _twilio_fields() -> dict[str, str]:
    """Twilio's SIDs, read from the webhook's form; only well-formed ones are believed."""
    fields: dict[str, str] = {}
    if request.method != "POST" or not request.path.startswith(("/ivr/", "/sms/")):
        return fields
    call_sid = request.form.get("CallSid", "")
    message_sid = request.form.get("MessageSid", "") or request.form.get("SmsSid", "")
    if _CALL_SID.match(call_sid):
        fields["call_sid"] = call_sid
    if _MESSAGE_SID.match(message_sid):
        fields["message_sid"] = message_sid
    return fields


def _route_fields() -> dict[str, Any]:
    args = request.view_args or {}
    fields: dict[str, Any] = {}
    if isinstance(args.get("office_id"), int):
        fields["office_id"] = args["office_id"]
    code = args.get("code")
    if isinstance(code, str) and code.isdigit() and len(code) <= 12:
        fields["booking_code"] = code
    return fields


def _query() -> str | None:
    if not request.args:
        return None
    return "&".join(f"{k}={clean(k, v)}" for k, v in request.args.items(multi=True))


def init_app(app: Flask) -> None:
    """Bind each request's context first thing, and write one access line when its answer is ready."""

    @app.before_request
    def _start() -> None:
        g.log_started = time.perf_counter()
        g.request_id = _request_id()
        g.log_token = _context.set({"request_id": g.request_id, **_route_fields()})
        bind(**_twilio_fields())  # reads the form, which may fail (too large): the id is bound already

    @app.after_request
    def _access(response: Response) -> Response:
        request_id = _fields().get("request_id") or g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("log_started")
        duration = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
        quiet = request.path in QUIET_PATHS and response.status_code < 400
        level = logging.DEBUG if quiet else logging.INFO
        access.log(level, "%s %s %s", request.method, request.path, response.status_code,
                   extra={"event": "http.request", "method": request.method, "path": request.path,
                          "query": _query(), "status": response.status_code, "duration_ms": duration,
                          "endpoint": request.endpoint, "remote_addr": request.remote_addr})
        return response

    @app.teardown_request
    def _end(_error: BaseException | None) -> None:
        token = g.pop("log_token", None)
        if token is None:
            return
        try:
            _context.reset(token)
        except ValueError:  # set in another context (should not happen): forget it all the same
            _context.set(None)


# -- gunicorn ----------------------------------------------------------------------------------


def style_from_env(environ: Mapping[str, str] | None = None) -> str:
    """LOG_FORMAT, else JSON in production and text elsewhere (gunicorn's master has no Settings)."""
    environ = os.environ if environ is None else environ
    chosen = environ.get("LOG_FORMAT", "").strip().lower()
    if chosen in ("json", "text"):
        return chosen
    return "json" if environ.get("HOTLINE_ENV", "development") == "production" else "text"


class GunicornLogger(_GunicornLogger):
    """Gunicorn's own lines (boot, worker timeouts, signals) in the same format as the app's.

    Use with `--logger-class hotline.logs.GunicornLogger` and without `--access-logfile`: the app
    writes its own access line, with the request id and the call it belongs to.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = formatter_for(style_from_env())
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.setFormatter(formatter)
