"""A loopback stand-in for eSMS's customer-care SMS endpoint, built from eSMS's public documentation.

Sources (the stand-in does what they say, and no more):
- the request and its answers (100, 101, 104, 124 with SendStatus, 146):
  https://developers.esms.vn/en/esms-api/send-sms-api/send-otp-customer-care-message
- the codes: https://developers.esms.vn/en/esms-api/table-of-error-codes
- the delivery report, an HTTP GET to the CallbackUrl with SMSID, SendFailed, SendStatus,
  SendSuccess, TotalPrice, TotalReceiver, TotalSent, RequestId, TypeId, telcoid, phonenumber:
  https://developers.esms.vn/en/esms-api/callback-url
- Sandbox: "the message will not be stored in the eSMS system, no fees will be charged, and the
  message will not be delivered": https://developers.esms.vn/en/esms-api/moi-truong-test-sandbox
(the same pages are kept in GitHub's devesms/gitbook_esms_for_develop_v2_en, under esms-api/).

`POST /MainService.svc/json/SendMultipleMessage_V4_post_json/` takes a JSON object whose values are
all strings, answers HTTP 200 with a CodeResult, keeps each accepted message by its RequestId and
answers a RequestId it has kept with 124 ("Request exist 1") and the message's SendStatus, never
sending it twice. The documentation does not say whether a refused request's RequestId is kept;
here it is not (only accepted messages are). It can be scripted to answer the next requests with
eSMS's error codes, with an HTTP error page, after a delay (the message taken first, so that a
client that gives up waiting leaves it accepted) or not at all; and it makes the delivery report
eSMS would send for a message (`report_url`), or sends it (`report`).

`request_problems` checks a recorded request against the documented fields plus our own rules:
the customer-care type, a 0-prefixed Vietnamese mobile, and IsUnicode "1" exactly for the texts
GSM-7 cannot carry (any Vietnamese letter with its diacritics).
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.loopback import LoopbackServer
from tests.twilio_standin import _GSM7, _GSM7_ESCAPED

API_KEY = "E5A1" * 8
SECRET_KEY = "5EC2" * 8
BRANDNAME = "HCC CAMAU"
SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
# The request's fields as the documentation lists them, and which it marks required.
FIELDS = {"ApiKey", "SecretKey", "Phone", "Content", "Brandname", "SmsType", "IsUnicode", "Sandbox", "RequestId",
          "SendDate", "campaignid", "CallbackUrl"}
REQUIRED = ("ApiKey", "Content", "Phone", "SecretKey", "Brandname", "SmsType")
_MOBILE = re.compile(r"^0[35789]\d{8}$")  # the examples write 0901888484
TELCO = {"3": "1", "8": "1", "9": "2", "7": "2", "5": "4"}  # telcoid by first digit, roughly: 1 Viettel, 2 Mobi …


@dataclass(frozen=True)
class Answer:
    """How the stand-in answers one request: a CodeResult body, an HTTP error, a delay, or nothing.

    `body=None` with status 200 means "take the message as usual" (after `delay` seconds).
    """

    status: int = 200
    body: dict[str, Any] | str | None = None
    delay: float = 0.0
    drop: bool = False
    content_type: str = "application/json; charset=utf-8"


def esms_error(code: str, message: str, **extra: Any) -> Answer:
    """An error as eSMS answers it: HTTP 200, the code in CodeResult."""
    return Answer(200, {"CodeResult": code, "CountRegenerate": 0, "ErrorMessage": message, **extra})


AUTHORIZE_FAILED = esms_error("101", "Authorize Failed")
NO_BALANCE = esms_error("103", "Not enough balance to send message")
UNKNOWN_BRANDNAME = esms_error("104", "Brand name code is not exist")
BAD_PHONE = esms_error("108", "Phone number is not in correct format")
BLOCKED_PHONE = esms_error("99", "The phone number is blocked in the system")
WRONG_TEMPLATE = esms_error("146", "Sai template Brandname CSKH", SMSID="3f5ec8c71c4a4ccea311f731dfeaa133156")
NOT_WHITELISTED = esms_error("140", "IP is not whitelisted for sending messages")
INVALID_REQUEST = Answer(200, {"error": "Invalid request"})  # the documentation's "99" tab: ask eSMS
SERVER_ERROR = Answer(500, "<html><body><h1>500 Internal Server Error</h1></body></html>", content_type="text/html")
BAD_GATEWAY = Answer(502, "<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")
DROP = Answer(0, drop=True)


def slow(seconds: float) -> Answer:
    """Take the message at once but answer only after `seconds`: a client that gives up first never hears."""
    return Answer(200, delay=seconds)


def _body(answer: Answer) -> dict[str, Any]:
    assert isinstance(answer.body, dict)
    return dict(answer.body)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: dict[str, Any] | None
    code: str | None  # the CodeResult answered (None for an HTTP error or a dropped connection)
    sms_id: str | None  # the message it created, if any

    def get(self, name: str) -> Any:
        return (self.json or {}).get(name)


@dataclass
class Message:
    """One message eSMS took, and what it knows of its delivery."""

    sms_id: str
    request_id: str
    phone: str
    content: str
    callback_url: str
    send_status: str = "2"  # waiting to be sent
    reports: list[str] = field(default_factory=list)  # report URLs sent


class EsmsStandIn(LoopbackServer[Answer, RecordedRequest]):
    """eSMS's customer-care endpoint on loopback; use as a context manager."""

    thread_name = "esms-standin"

    def __init__(self, api_key: str = API_KEY, secret_key: str = SECRET_KEY,
                 brandnames: frozenset[str] = frozenset({BRANDNAME})) -> None:
        super().__init__()
        self.api_key, self.secret_key, self.brandnames = api_key, secret_key, brandnames
        self.by_request: dict[str, Message] = {}  # RequestId -> message: what makes a resend harmless
        self.sent: list[Message] = []  # every message taken, in order: what phones would receive

    def take(self, body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The answer to a well-formed request: refused, a duplicate, or a message taken."""
        if body.get("ApiKey") != self.api_key or body.get("SecretKey") != self.secret_key:
            return _body(AUTHORIZE_FAILED), None
        if not body.get("SmsType"):
            return {"CodeResult": "300", "CountRegenerate": 0, "ErrorMessage": "Missing message type"}, None
        if body.get("Brandname") not in self.brandnames:
            return _body(UNKNOWN_BRANDNAME), None
        if not _MOBILE.match(str(body.get("Phone", ""))):
            return _body(BAD_PHONE), None
        request_id = str(body.get("RequestId") or "")
        sandbox = body.get("Sandbox") == "1"
        with self._lock:
            known = self.by_request.get(request_id) if request_id else None
            if known is not None:
                return {"CodeResult": "124", "CountRegenerate": 0, "ErrorMessage": "Request exist 1",
                        "SendStatus": known.send_status}, None
            sms_id = secrets.token_hex(16) + str(len(self.sent) + 100)
            if not sandbox:  # a sandbox message is answered, never kept nor delivered
                message = Message(sms_id, request_id, str(body["Phone"]), str(body["Content"]),
                                  str(body.get("CallbackUrl") or ""))
                self.sent.append(message)
                if request_id:
                    self.by_request[request_id] = message
        return {"CodeResult": "100", "CountRegenerate": 0, "SMSID": sms_id}, sms_id

    # delivery reports
    def message(self, sms_id: str) -> Message:
        with self._lock:
            return next(m for m in self.sent if m.sms_id == sms_id)

    def report_url(self, sms_id: str, send_status: str = "5", *, delivered: bool = True) -> str:
        """The URL eSMS calls when the message reaches `send_status` (5 with one success or one failure)."""
        message = self.message(sms_id)
        done = send_status == "5"
        query = urlencode({
            "SMSID": sms_id, "SendFailed": "1" if done and not delivered else "0", "SendStatus": send_status,
            "SendSuccess": "1" if done and delivered else "0", "TotalPrice": "800.0000" if done else "0.0000",
            "TotalReceiver": "1", "TotalSent": "1" if done else "0", "RequestId": message.request_id, "TypeId": "2",
            "telcoid": TELCO.get(message.phone[1:2], "1"), "phonenumber": message.phone, "switchsmsid": ""})
        with self._lock:
            message.send_status = send_status
        separator = "&" if urlsplit(message.callback_url).query else "?"
        return f"{message.callback_url}{separator}{query}"

    def report(self, sms_id: str, send_status: str = "5", *, delivered: bool = True,
               get: Callable[[str], int] | None = None) -> int:
        """Send the report as eSMS does (HTTP GET; `get` instead, e.g. a Flask test client's); its HTTP status."""
        url = self.report_url(sms_id, send_status, delivered=delivered)
        self.message(sms_id).reports.append(url)
        if get is not None:
            return get(url)
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)


class _Handler(BaseHTTPRequestHandler):
    owner: EsmsStandIn
    server_version = "EsmsStandIn/1.0"
    protocol_version = "HTTP/1.0"  # every answer closes its connection

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            parsed = None
        body = parsed if isinstance(parsed, dict) else None
        answer, payload, sms_id = self._answer(path, body)
        code = payload.get("CodeResult") if isinstance(payload, dict) else None
        self.owner._record(RecordedRequest(self.command, path, dict(self.headers.items()), raw, body, code, sms_id))
        if answer.drop:
            self.close_connection = True
            return
        if answer.delay and self.owner.wait_closing(answer.delay):
            return
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode("utf-8")
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting

    def _answer(self, path: str, body: dict[str, Any] | None) -> tuple[Answer, dict[str, Any] | str, str | None]:
        if self.command != "POST" or path != SEND_PATH:
            return Answer(404, "Endpoint not found.", content_type="text/html"), "Endpoint not found.", None
        scripted = self.owner._next_answer()
        if scripted is not None and scripted.drop:
            return scripted, "", None
        if scripted is not None and scripted.body is not None:
            return scripted, scripted.body, None
        if body is None or not self.headers.get("Content-Type", "").startswith("application/json"):
            return INVALID_REQUEST, INVALID_REQUEST.body or "", None
        payload, sms_id = self.owner.take(body)
        return scripted or Answer(), payload, sms_id


EsmsStandIn.handler = _Handler


def request_problems(request: RecordedRequest) -> list[str]:
    """What in a recorded request the documentation (or our own rule for CSKH SMS) does not allow."""
    if request.method != "POST" or request.path != SEND_PATH:
        return [f"{request.method} {request.path} is not the customer-care endpoint"]
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
    if content_type != "application/json":
        return [f"Content-Type {content_type!r} is not application/json"]
    body = request.json
    if body is None:
        return ["the body is not a JSON object"]
    problems = [f"{name} is not a documented field" for name in body if name not in FIELDS]
    problems += [f"{name} is not a string" for name, value in body.items() if not isinstance(value, str)]
    problems += [f"required {name} is missing or empty" for name in REQUIRED if not body.get(name)]
    if body.get("SmsType") != "2":
        problems.append(f"SmsType {body.get('SmsType')!r} is not 2 (customer care)")
    for flag in ("IsUnicode", "Sandbox"):
        if flag in body and body[flag] not in ("0", "1"):
            problems.append(f"{flag}={body[flag]!r} is neither 0 nor 1")
    if not _MOBILE.match(str(body.get("Phone", ""))):
        problems.append(f"Phone {body.get('Phone')!r} is not a 0-prefixed Vietnamese mobile")
    content = str(body.get("Content", ""))
    needs_ucs2 = not _gsm7(content)
    if needs_ucs2 and body.get("IsUnicode") != "1":
        problems.append("a text GSM-7 cannot carry is sent without IsUnicode=1")
    if not needs_ucs2 and body.get("IsUnicode") == "1":
        problems.append("a plain GSM-7 text is sent as Unicode, at 70 characters a segment")
    callback = body.get("CallbackUrl")
    if callback is not None:
        parts = urlsplit(str(callback))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            problems.append(f"CallbackUrl {callback!r} is no URL eSMS can append its query to")
    return problems


def _gsm7(text: str) -> bool:
    """Whether GSM-7 carries the text (tests.twilio_standin's table, kept apart from notifications.sms)."""
    return all(ch in _GSM7 or ch in _GSM7_ESCAPED for ch in text)
