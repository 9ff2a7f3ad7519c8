"""A loopback stand-in for Twilio's Messages API, and a check of requests against Twilio's OpenAPI description.

The stand-in is a real HTTP server on 127.0.0.1 (a free port), so the official `twilio` client
and `requests` run unchanged: only the client's API base URL points here. It records every
request, answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with a message resource
shaped like Twilio's (201), checks HTTP Basic auth as Twilio does, and can be scripted to answer
the next requests with Twilio's errors, with a non-JSON gateway page, after a delay (for
time-outs) or not at all (a dropped connection).

`openapi_problems` checks a recorded request against Twilio's own OpenAPI document
(`../shared/twilio-oai/twilio_api_v2010.json`): the path, the method, the media type, the
declared and required form fields and their types, plus our own rule that every SMS names a
recipient, a text and a sender.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback import LoopbackServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "5e1f" * 8
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
CALLS_PATH = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
_CALLS = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls\.json$")


# -- answers --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """How the stand-in answers one request: an error, a page, a delay, or nothing at all.

    `status=201` with no body means "create the message as usual" (after `delay` seconds).
    """

    status: int = 201
    body: dict[str, Any] | str | None = None
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    content_type: str = "application/json; charset=utf-8"


def twilio_error(status: int, code: int, message: str) -> Answer:
    """An error body as Twilio's REST API (2010-04-01) writes it."""
    return Answer(status, {"code": code, "message": message,
                           "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})


TOO_MANY_REQUESTS = twilio_error(429, 20429, "Too Many Requests")
SERVER_ERROR = twilio_error(500, 20500, "Internal Server Error")
UNAVAILABLE = twilio_error(503, 20503, "Service Unavailable")
INVALID_TO = twilio_error(400, 21211, "Invalid 'To' Phone Number")
UNSUBSCRIBED = twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
# A 4xx whose code is not on the sender's list: still permanent, a retry would get the same answer.
BODY_TOO_LONG = twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit")
QUEUE_OVERFLOW = twilio_error(400, 30001, "Queue overflow")
BAD_GATEWAY_PAGE = Answer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")


def slow(seconds: float) -> Answer:
    """Accept the message, but only after `seconds`: a client with a shorter time-out gives up first."""
    return Answer(201, delay=seconds)


DROP = Answer(0, drop=True)


# -- records --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    body: bytes
    status: int  # what the stand-in answered (0 when it dropped the connection)
    sid: str | None  # the message it created, if any (also when the client had given up waiting)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def get(self, name: str) -> str | None:
        """The first value of a form field."""
        values = self.form.get(name)
        return values[0] if values else None

    def field(self, name: str) -> str:
        """The first value of a form field that every such request has (KeyError if it is missing)."""
        return self.form[name][0]


# -- SMS arithmetic, written independently of notifications.sms so that each checks the other ----

_GSM7 = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_ESCAPED = frozenset("^{}\\[~]|€\f")


def segments_of(text: str) -> int:
    if all(ch in _GSM7 or ch in _GSM7_ESCAPED for ch in text):
        septets = len(text) + sum(ch in _GSM7_ESCAPED for ch in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


# -- the server -----------------------------------------------------------------------------------

class TwilioStandIn(LoopbackServer[Answer, RecordedRequest]):
    """Twilio's Messages API on loopback; use as a context manager (`with TwilioStandIn() as twilio:`)."""

    thread_name = "twilio-standin"

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self.created: dict[str, dict[str, Any]] = {}  # sid -> the message resource
        self.latency = 0.0  # seconds before every unscripted answer, so that concurrent sends overlap

    def delay_next(self, n: int, seconds: float) -> None:
        self.script(*([slow(seconds)] * n))

    @property
    def messages(self) -> list[RecordedRequest]:
        """Every POST that reached the Messages endpoint, whatever it was answered."""
        return [r for r in self.requests if r.method == "POST" and _MESSAGES.match(r.path)]

    @property
    def calls(self) -> list[RecordedRequest]:
        """Every POST that reached the Calls endpoint (an outbound call placed), whatever it was answered."""
        return [r for r in self.requests if r.method == "POST" and _CALLS.match(r.path)]

    def create_call(self, account: str, form: dict[str, list[str]]) -> dict[str, Any]:
        """The call resource Twilio answers with (fields of `api.v2010.account.call`), queued to ring."""
        sid = "CA" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        uri = f"/2010-04-01/Accounts/{account}/Calls/{sid}.json"
        resource = {
            "account_sid": account, "answered_by": None, "api_version": "2010-04-01", "caller_name": None,
            "date_created": now, "date_updated": now, "direction": "outbound-api", "duration": None,
            "end_time": None, "forwarded_from": None, "from": form.get("From", [None])[0],
            "from_formatted": form.get("From", [None])[0], "group_sid": None, "parent_call_sid": None,
            "phone_number_sid": None, "price": None, "price_unit": "USD", "queue_time": "0", "sid": sid,
            "start_time": None, "status": "queued", "subresource_uris": {"notifications": uri.replace(
                ".json", "/Notifications.json")}, "to": form.get("To", [None])[0],
            "to_formatted": form.get("To", [None])[0], "trunk_sid": None, "uri": uri,
        }
        with self._lock:
            self.created[sid] = resource
        return resource

    @property
    def accepted(self) -> list[RecordedRequest]:
        """Messages answered 201: what Twilio would have sent to phones."""
        return [r for r in self.messages if r.status == 201]

    def authorised(self, header: str | None, account: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}" and account in (None, self.account_sid)

    def create(self, account: str, form: dict[str, list[str]]) -> dict[str, Any]:
        """The message resource Twilio answers with (fields of `api.v2010.account.message`)."""
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        body = form.get("Body", [""])[0]
        service = form.get("MessagingServiceSid", [None])[0]
        uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"
        resource = {
            "account_sid": account, "api_version": "2010-04-01", "body": body, "date_created": now,
            "date_sent": None, "date_updated": now, "direction": "outbound-api", "error_code": None,
            "error_message": None, "from": form.get("From", [None])[0], "messaging_service_sid": service,
            "num_media": "0", "num_segments": str(segments_of(body)), "price": None, "price_unit": "USD",
            "sid": sid, "status": "accepted" if service and not form.get("From") else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")}, "to": form.get("To", [None])[0],
            "uri": uri,
        }
        with self._lock:
            self.created[sid] = resource
        return resource


class _Handler(BaseHTTPRequestHandler):
    owner: TwilioStandIn
    server_version = "TwilioStandIn/1.0"
    # HTTP/1.0: every answer closes its connection, so no client socket outlives its request.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        content_type = self.headers.get("Content-Type", "")
        form = (parse_qs(raw.decode("utf-8"), keep_blank_values=True)
                if content_type.startswith("application/x-www-form-urlencoded") else {})
        status, payload, sid = self._answer(parts.path, form)
        self.owner._record(RecordedRequest(
            method=self.command, path=parts.path, query=parts.query, headers=dict(self.headers.items()),
            form=form, body=raw, status=status, sid=sid))
        if payload is None:  # dropped: close without a word
            self.close_connection = True
            return
        answer, body = payload
        if answer.delay and self.owner.wait_closing(answer.delay):
            return  # the stand-in is shutting down
        data = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a time-out): exactly what such a test wants

    def _answer(self, path: str, form: dict[str, list[str]]) -> tuple[int, tuple[Answer, str] | None, str | None]:
        call = _CALLS.match(path)
        match = _MESSAGES.match(path) or call
        if self.command != "POST" or match is None:
            error = twilio_error(404, 20404, f"The requested resource {path} was not found")
            return 404, (error, json.dumps(error.body)), None
        if not self.owner.authorised(self.headers.get("Authorization"), match["account"]):
            error = twilio_error(401, 20003, "Authenticate")
            return 401, (error, json.dumps(error.body)), None
        scripted = self.owner._next_answer()
        if scripted is not None and scripted.drop:
            return 0, None, None
        if scripted is not None and scripted.status != 201:
            body = scripted.body if isinstance(scripted.body, str) else json.dumps(scripted.body)
            return scripted.status, (scripted, body), None
        problem = _missing_call(form) if call else _missing(form)
        if problem is not None:
            return problem.status, (problem, json.dumps(problem.body)), None
        resource = (self.owner.create_call if call else self.owner.create)(match["account"], form)
        return 201, (scripted or Answer(delay=self.owner.latency), json.dumps(resource)), resource["sid"]


def _missing(form: dict[str, list[str]]) -> Answer | None:
    """Twilio's own refusals of an incomplete request."""
    if not form.get("To", [""])[0]:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not (form.get("From", [""])[0] or form.get("MessagingServiceSid", [""])[0]):
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not (form.get("Body", [""])[0] or form.get("MediaUrl") or form.get("ContentSid")):
        return twilio_error(400, 21602, "Message body is required.")
    return None


def _missing_call(form: dict[str, list[str]]) -> Answer | None:
    """Twilio's own refusals of an incomplete request for a call."""
    if not form.get("To", [""])[0]:
        return twilio_error(400, 21201, "No 'To' number is specified")
    if not form.get("From", [""])[0]:
        return twilio_error(400, 21213, "No 'From' number is specified")
    if not (form.get("Url", [""])[0] or form.get("Twiml", [""])[0] or form.get("ApplicationSid", [""])[0]):
        return twilio_error(400, 21205, "Url parameter is required")
    return None


TwilioStandIn.handler = _Handler


@contextmanager
def running(account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> Iterator[TwilioStandIn]:
    """For fixtures: `with running() as twilio: yield twilio`."""
    with TwilioStandIn(account_sid, auth_token) as standin:
        yield standin


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting to it is refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- Twilio's OpenAPI description -----------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def load_openapi(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = ""
    for literal, name in itertools.zip_longest(re.split(r"\{\w+\}", template), re.findall(r"\{(\w+)\}", template)):
        pattern += re.escape(literal or "")
        if name:
            pattern += f"(?P<{name}>[^/]+)"
    return re.compile(f"^{pattern}$")


def find_operation(doc: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any] | None, dict[str, str]]:
    """The templated path that matches `path`, its operation for `method` (None if undeclared), the path values."""
    matches = [(template, m) for template in doc["paths"] if (m := _template_regex(template).match(path))]
    if not matches:
        return "", None, {}
    template, match = min(matches, key=lambda found: found[0].count("{"))  # the most literal one
    return template, doc["paths"][template].get(method.lower()), match.groupdict()


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")  # an alphanumeric sender ID (brandname)


def _type_problem(doc: dict[str, Any], name: str, value: str, schema: dict[str, Any]) -> str | None:
    schema = _resolve(doc, schema)
    kind = schema.get("type")
    if "enum" in schema and value not in schema["enum"]:
        return f"{name}={value!r} is not one of {schema['enum']}"
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return f"{name}={value!r} is not an integer"
    if kind == "number" and not re.fullmatch(r"-?\d+(\.\d+)?", value):
        return f"{name}={value!r} is not a number"
    if kind == "boolean" and value.lower() not in ("true", "false"):
        return f"{name}={value!r} is not a boolean"
    if kind == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{name}={value!r} does not match {schema['pattern']}"
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{name}={value!r} is shorter than {schema['minLength']}"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{name}={value!r} is longer than {schema['maxLength']}"
        if schema.get("format") == "uri":
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc or "_" in (parts.hostname or ""):
                return f"{name}={value!r} is not a URL Twilio accepts"
        if schema.get("format") == "phone-number" and not (_E164.match(value) or _SENDER_ID.match(value)
                                                            or re.match(r"^[a-z]+:", value)):
            return f"{name}={value!r} is neither E.164, a sender ID nor a channel address"
    return None


def openapi_problems(request: RecordedRequest, doc: dict[str, Any]) -> list[str]:
    """What in `request` Twilio's OpenAPI description (or our own rule for SMS) does not allow."""
    template, operation, values = find_operation(doc, request.method, request.path)
    if not template:
        return [f"no path of the API matches {request.path}"]
    if operation is None:
        return [f"{request.method} is not an operation of {template}"]
    problems: list[str] = []
    for parameter in operation.get("parameters", []) + doc["paths"][template].get("parameters", []):
        if parameter.get("in") == "path":
            problem = _type_problem(doc, parameter["name"], values.get(parameter["name"], ""), parameter["schema"])
            if problem:
                problems.append(problem)
    schemes = [name for requirement in operation.get("security", doc.get("security", [])) for name in requirement]
    basic = any(doc["components"]["securitySchemes"][name].get("scheme") == "basic" for name in schemes)
    if basic and not (request.header("Authorization") or "").startswith("Basic "):
        problems.append("no HTTP Basic credentials")
    body = operation.get("requestBody")
    if body is None:
        if request.form:
            problems.append("a form was sent to an operation that takes none")
        return problems
    content_type = (request.header("Content-Type") or "").split(";")[0].strip()
    if content_type not in body["content"]:
        problems.append(f"Content-Type {content_type!r} is not one of {sorted(body['content'])}")
        return problems
    schema = _resolve(doc, body["content"][content_type]["schema"])
    properties = schema.get("properties", {})
    for name, values_sent in request.form.items():
        if name not in properties:
            problems.append(f"{name} is not a property of {schema.get('title', 'the request body')}")
            continue
        declared = _resolve(doc, properties[name])
        if declared.get("type") == "array":
            problems += [p for v in values_sent if (p := _type_problem(doc, name, v, declared.get("items", {})))]
        elif len(values_sent) > 1:
            problems.append(f"{name} is sent {len(values_sent)} times but is no array")
        else:
            problem = _type_problem(doc, name, values_sent[0], declared)
            if problem:
                problems.append(problem)
    for name in schema.get("required", []):
        if name not in request.form:
            problems.append(f"required {name} is missing")
    # Our own rule for an SMS: a recipient in E.164, a text, and a sender.
    if template == MESSAGES_PATH and request.method == "POST":
        if not _E164.match(request.get("To") or ""):
            problems.append("To must be an E.164 number")
        if not request.get("Body"):
            problems.append("Body is missing or empty")
        if not (request.get("From") or request.get("MessagingServiceSid")):
            problems.append("neither From nor MessagingServiceSid")
    # Our own rule for a call: to an E.164 number from one, running a flow of ours at an HTTPS URL.
    if template == CALLS_PATH and request.method == "POST":
        for name in ("To", "From"):
            if not _E164.match(request.get(name) or ""):
                problems.append(f"{name} must be an E.164 number")
        for name in ("Url", "StatusCallback"):
            if not (request.get(name) or "").startswith("https://"):
                problems.append(f"{name} must be an https URL")
    return problems


def response_problems(resource: dict[str, Any], doc: dict[str, Any],
                      schema_name: str = "api.v2010.account.message") -> list[str]:
    """What in a resource (a message; a call with `api.v2010.account.call`) its response schema does not declare."""
    schema = _resolve(doc, doc["components"]["schemas"][schema_name])
    problems = [f"{name} is not a property of the resource" for name in resource
                if name not in schema["properties"]]
    for name, value in resource.items():
        declared = schema["properties"].get(name)
        if declared is None or value is None or not isinstance(value, str):
            continue
        resolved = _resolve(doc, declared)
        if resolved.get("format") == "date-time-rfc-2822":
            continue  # checked by the client parsing it
        problem = _type_problem(doc, name, value, {k: v for k, v in resolved.items() if k != "format"})
        if problem:
            problems.append(problem)
    return problems
