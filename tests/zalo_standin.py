"""A loopback stand-in for Zalo Notification Service's send API, and the delivery events Zalo posts back.

Written from Zalo's documentation:
- sending: https://developers.zalo.me/docs/zalo-notification-service/gui-tin-zns/gui-zns —
  `POST /message/template`, header `access_token`, JSON `{phone, template_id, template_data,
  tracking_id}`; HTTP 200 with `{"error": 0, "message": "Success", "data": {"msg_id", "sent_time",
  "quota": {"dailyQuota", "remainingQuota"}}}`, or a negative `error` and its message.
- error codes: https://zalo.cloud/zns/guidelines/handle-error-code (-100 unknown, try again;
  -108 phone number invalid; -109 template id invalid; -112 template data invalid; -114 user
  cannot receive ZNS; -118 Zalo account not existed; -124 access token invalid; -144 daily quota).
- tokens: https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new —
  `POST /v4/oa/access_token` (form `refresh_token, app_id, grant_type=refresh_token`, header
  `secret_key`) answers `{access_token, refresh_token, expires_in: "90000"}`; an access token lasts 25
  hours, a refresh token is used once. (The stand-in's refusal, `{"error": -14014, "error_name":
  "Invalid refresh token"}`, gives the shape of an error, not Zalo's exact words.)
- the webhook: https://developers.zalo.me/docs/official-account/webhook/tong-quan — events are
  posted as JSON with `X-ZEvent-Signature: mac=sha256(appId + body + timestamp + OA secret key)`;
  `user_received_message` carries `message.msg_id`, `message.tracking_id` and `delivery_time`.

Numbers are on Zalo only when the test says so (`on_zalo`), or blocked (`blocked`); templates are
known with the parameters they require. The next answers can be scripted (an error code, an
HTTP status, a page, a delay, a dropped connection), as in `tests/twilio_standin.py`.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from notifications.zalo import signature
from tests.loopback import LoopbackServer

ACCESS_TOKEN = "zns-" + "7a1c" * 10
APP_ID = "4312009876543210"
OA_ID = "1032900368138061278"
OA_SECRET = "Zs3cr3t" + "k" * 13
APP_SECRET = "AppS3cr3t" + "q" * 11
REFRESH_TOKEN = "zrt-" + "51ab" * 10
OAUTH_PATH = "/v4/oa/access_token"
TEMPLATE_PATH = "/message/template"
_PHONE = re.compile(r"^84\d{9}$")

# Zalo's messages for the errors the stand-in gives by itself.
MESSAGES = {
    -100: "Unknown error", -108: "Phone number invalid", -109: "Template ID invalid", -111: "Template data empty",
    -112: "Template data invalid", -114: "User is inactive, or reject the message, or using an outdated Zalo "
    "version, or other internal errors", -118: "Zalo account not existed", -124: "Access token is invalid",
    -144: "OA has exceeded daily quota",
}


@dataclass(frozen=True)
class Answer:
    """One scripted answer: a ZNS error (HTTP 200), another HTTP status and page, a delay, or nothing."""

    error: int | None = None
    status: int = 200
    page: str | None = None
    delay: float = 0.0
    drop: bool = False


def zns_error(code: int) -> Answer:
    return Answer(error=code)


UNKNOWN_ERROR = zns_error(-100)
SERVER_ERROR = Answer(status=502, page="<html><body>502 Bad Gateway</body></html>")
RATE_LIMITED = Answer(status=429, page='{"error": -429, "message": "Too many requests"}')
TEMPLATE_REFUSED = zns_error(-112)
DROP = Answer(drop=True)


def slow(seconds: float) -> Answer:
    return Answer(delay=seconds)


@dataclass(frozen=True)
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]
    status: int
    error: int | None  # the ZNS error answered (0: sent), None when the connection was dropped
    msg_id: str | None

    @property
    def phone(self) -> str | None:
        return self.body.get("phone")


class ZaloStandIn(LoopbackServer[Answer, Recorded]):
    """ZNS on 127.0.0.1; `with ZaloStandIn(templates={"123": {"code", "office"}}) as zalo:`."""

    thread_name = "zalo-standin"

    def __init__(self, *, templates: dict[str, set[str]] | None = None, on_zalo: set[str] | None = None,
                 blocked: set[str] | None = None, access_token: str = ACCESS_TOKEN, daily_quota: int = 500) -> None:
        super().__init__()
        self.templates = templates or {}  # template id -> the parameters it requires
        self.on_zalo = on_zalo or set()  # numbers (84…) with a Zalo account
        self.blocked = blocked or set()  # on Zalo, but not receiving ZNS
        self.access_token, self.daily_quota = access_token, daily_quota
        self.sent: dict[str, dict[str, Any]] = {}  # msg_id -> the request's body
        self.refresh_tokens = {REFRESH_TOKEN}  # those not used yet
        self.refreshes: list[dict[str, list[str]]] = []  # every token request, granted or not
        self.oauth_delay = 0.0  # seconds before each token answer

    def grant(self, headers: dict[str, str], form: dict[str, list[str]]) -> dict[str, Any]:
        """A new token pair for an unused refresh token of our app; the old access token stops working."""
        with self._lock:
            self.refreshes.append(form)
            refresh = form.get("refresh_token", [""])[0]
            if (headers.get("secret_key") != APP_SECRET or form.get("app_id") != [APP_ID]
                    or form.get("grant_type") != ["refresh_token"] or refresh not in self.refresh_tokens):
                return {"error": -14014, "error_name": "Invalid refresh token", "error_reason": "", "error_description": ""}
            self.refresh_tokens.discard(refresh)
            self.access_token = "zat-" + secrets.token_hex(20)
            new_refresh = "zrt-" + secrets.token_hex(20)
            self.refresh_tokens.add(new_refresh)
            return {"access_token": self.access_token, "refresh_token": new_refresh, "expires_in": "90000"}

    @property
    def delivered(self) -> list[Recorded]:
        return [r for r in self.requests if r.error == 0]

    def answer(self, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        """What ZNS answers a well-formed, unscripted request: (ZNS error, its data)."""
        if headers.get("access_token") != self.access_token:
            return -124, {}
        if not isinstance(body, dict):
            return -112, {}
        phone, template_id, data = body.get("phone"), str(body.get("template_id", "")), body.get("template_data")
        if not isinstance(phone, str) or not _PHONE.match(phone):
            return -108, {}
        if template_id not in self.templates:
            return -109, {}
        if not data:
            return -111, {}
        if not isinstance(data, dict) or not self.templates[template_id] <= set(data) \
                or not all(isinstance(v, str) and v for v in data.values()):
            return -112, {}
        if phone not in self.on_zalo:
            return -118, {}
        if phone in self.blocked:
            return -114, {}
        with self._lock:
            if self.daily_quota <= 0:
                return -144, {}
            self.daily_quota -= 1
            msg_id = secrets.token_hex(16)
            self.sent[msg_id] = body
            remaining = self.daily_quota
        return 0, {"msg_id": msg_id, "sent_time": str(int(time.time() * 1000)),
                   "quota": {"dailyQuota": "500", "remainingQuota": str(remaining)}}

    # -- what Zalo posts back ---------------------------------------------------------------------

    def received_event(self, msg_id: str, *, app_id: str = APP_ID, secret: str = OA_SECRET,
                       tracking_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        """The `user_received_message` event for a message sent, signed as Zalo signs it: (body, headers)."""
        sent = self.sent[msg_id]
        stamp = str(int(time.time() * 1000))
        event = {"event_name": "user_received_message", "app_id": app_id, "sender": {"id": OA_ID},
                 "recipient": {"id": "5416" + sent["phone"][-8:]}, "timestamp": stamp,
                 "message": {"msg_id": msg_id, "delivery_time": stamp,
                             "tracking_id": sent.get("tracking_id", "") if tracking_id is None else tracking_id}}
        body = json.dumps(event).encode()
        return body, {"Content-Type": "application/json",
                      "X-ZEvent-Signature": signature(app_id=app_id, body=body, timestamp=stamp, secret=secret)}


class _Handler(BaseHTTPRequestHandler):
    owner: ZaloStandIn
    server_version = "ZaloStandIn/1.0"
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if self.path == OAUTH_PATH:
            if self.owner.oauth_delay and self.owner.wait_closing(self.owner.oauth_delay):
                return
            form = parse_qs(raw.decode(), keep_blank_values=True)
            self._send(200, json.dumps(self.owner.grant(headers, form)).encode())
            return
        if self.path != TEMPLATE_PATH:
            self._send(404, b'{"error": -106, "message": "Method unsupported"}')
            return
        scripted = self.owner._next_answer()
        if scripted is not None and scripted.drop:
            self.owner._record(Recorded(headers, body if isinstance(body, dict) else {}, 0, None, None))
            self.close_connection = True
            return
        if scripted is not None and scripted.delay and self.owner.wait_closing(scripted.delay):
            return
        if scripted is not None and scripted.page is not None:
            self.owner._record(Recorded(headers, body if isinstance(body, dict) else {}, scripted.status, None, None))
            self._send(scripted.status, scripted.page.encode())
            return
        data: dict[str, Any] = {}
        if scripted is not None and scripted.error is not None:
            error = scripted.error
        else:
            error, data = self.owner.answer(headers, body)
        self.owner._record(Recorded(headers, body if isinstance(body, dict) else {}, 200, error,
                                   data.get("msg_id")))
        answer: dict[str, Any] = {"error": error, "message": "Success" if error == 0 else MESSAGES.get(error, "Error")}
        if data:
            answer["data"] = data
        self._send(200, json.dumps(answer).encode())

    def _send(self, status: int, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


ZaloStandIn.handler = _Handler
