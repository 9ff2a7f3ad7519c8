"""Zalo Notification Service (ZNS): template messages to a phone's Zalo account, with SMS when Zalo cannot.

ZNS sends a template approved in advance (its id, and the values of its parameters) to the Zalo
account of a phone number: `POST https://business.openapi.zalo.me/message/template` with the
Official Account's `access_token` header and `{phone: "84…", template_id, template_data,
tracking_id}`. It answers HTTP 200 with `{"error": 0, "data": {"msg_id": …}}`, or a negative
`error` saying why not (https://developers.zalo.me/docs/zalo-notification-service/gui-tin-zns/gui-zns,
codes at https://zalo.cloud/zns/guidelines/handle-error-code). When a message has reached the
phone, Zalo posts the `user_received_message` event to the app's webhook, signed as
`X-ZEvent-Signature: mac=sha256(appId + body + timestamp + OA secret key)`
(https://developers.zalo.me/docs/official-account/webhook/tong-quan).

`ZaloFirstSender` tries Zalo for a message whose kind has a template and goes by SMS, once, when
Zalo cannot deliver it: the number has no Zalo account, the user cannot or will not receive ZNS,
the template or its data is refused, or our account cannot send (quota, token). Zalo failing for
a moment (no answer, HTTP 5xx or 429, its "unknown error, try again later") is retried by the
dispatcher like any transient failure, and after a few such tries the message goes by SMS too.
A refusal is recorded with the SMS attempt (`zalo_error`), so a retry of that SMS goes by SMS
alone: Zalo's refusal can never make a second SMS. The access token lasts 25 hours: given a
`TokenSource` (`notifications.zalo_tokens`), the sender refreshes it before it expires, and once
more when Zalo calls it invalid (-124) before that.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Protocol

import requests

from booking.models import Booking
from notifications.http import SessionPerThread
from notifications.senders import Outcome, Outgoing, Sender, SendResult
from notifications.zalo_tokens import TokenUnavailable

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://business.openapi.zalo.me"
TEMPLATE_PATH = "/message/template"

# ZNS answers meaning "not now, maybe later": its unknown error asks to try again.
TRANSIENT_ERRORS = {-100}
# Some of its refusals, named for the log; any other error ZNS answers is a refusal too.
REFUSALS = {
    -108: "phone number invalid", -109: "template id invalid", -112: "template data invalid",
    -114: "user cannot receive ZNS", -115: "out of quota", -118: "no Zalo account",
    -124: "access token invalid", -131: "template not approved", -139: "user refused this kind of ZNS",
    -144: "daily quota exceeded",
}
TOKEN_INVALID = -124
# Zalo tries before a message that keeps failing for a moment goes by SMS instead.
ZALO_TRIES = 3


def zalo_phone(e164: str) -> str:
    """+84912345678 → 84912345678, as ZNS writes numbers."""
    return e164.removeprefix("+")


def booking_params(booking: Booking) -> dict[str, str]:
    """A booking's template parameters, what every appointment template may show; ZNS templates are Vietnamese."""
    return {"code": booking.code, "office": booking.office.name, "date": booking.date.strftime("%d/%m/%Y"),
            "time": f"{booking.arrival_start.strftime('%H:%M')}-{booking.arrival_end.strftime('%H:%M')}",
            "queue": booking.queue_label or ""}


def signature(*, app_id: str, body: bytes, timestamp: str, secret: str) -> str:
    """The `X-ZEvent-Signature` Zalo puts on a webhook event: `mac=` and the SHA-256 of the four, in hex."""
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode()).hexdigest()
    return f"mac={digest}"


def signed_by_zalo(header: str | None, *, app_id: str, body: bytes, timestamp: str, secret: str) -> bool:
    if not header or not (app_id and secret):
        return False
    expected = signature(app_id=app_id, body=body, timestamp=timestamp, secret=secret)
    given = header.strip()
    if not given.startswith("mac="):
        given = f"mac={given}"
    return hmac.compare_digest(given.lower().encode("utf-8", "replace"), expected.encode())  # bytes: any header


class TokenSource(Protocol):
    """The access token now, and a new one in place of one Zalo refused (`notifications.zalo_tokens`)."""

    def __call__(self) -> str: ...

    def refresh(self, stale: str | None) -> str: ...


class ZnsSender:
    """Sends one template message through ZNS; each sending thread keeps its own HTTP session."""

    name = "zalo"

    def __init__(self, *, templates: Mapping[str, str], access_token: str = "", tokens: TokenSource | None = None,
                 base_url: str = DEFAULT_API_BASE_URL, timeout: float = 10.0) -> None:
        """`tokens` gives (and refreshes) the access token; else the fixed `access_token` serves until it expires."""
        if not (access_token or tokens):
            raise ValueError("a ZNS access token, or a way to have one, is needed")
        self._token, self._tokens, self.templates = access_token, tokens, dict(templates)
        self._url, self._timeout = (base_url or DEFAULT_API_BASE_URL).rstrip("/") + TEMPLATE_PATH, timeout
        self._session = SessionPerThread()

    def handles(self, message: Outgoing) -> bool:
        return message.params is not None and message.kind in self.templates

    def send(self, message: Outgoing) -> SendResult:
        """Accepted (the ZNS msg_id), transient, or permanent: Zalo cannot deliver this one."""
        template_id = self.templates.get(message.kind)
        if template_id is None or message.params is None:
            return SendResult("permanent", error_code="zalo:no_template", error_message="no Zalo template",
                              channel="zalo")
        payload: dict[str, Any] = {"phone": zalo_phone(message.recipient), "template_id": template_id,
                   "template_data": dict(message.params), "tracking_id": str(message.id)}
        try:
            token = self._tokens() if self._tokens is not None else self._token
            result = self._post(payload, token)
            if self._tokens is not None and result.error_code == f"zalo:{TOKEN_INVALID}":
                # Revoked or expired early: one new token, and one more try with it.
                result = self._post(payload, self._tokens.refresh(token))
        except TokenUnavailable as exc:
            return SendResult("transient" if exc.transient else "permanent", error_code="zalo:token",
                              error_message=str(exc)[:300], channel="zalo")
        return result

    def _post(self, payload: dict[str, Any], token: str) -> SendResult:
        try:
            answer = self._session().post(self._url, json=payload, timeout=self._timeout, headers={"access_token": token})
        except (requests.ConnectionError, requests.Timeout) as exc:
            return SendResult("transient", error_code="zalo:network", error_message=str(exc)[:500], channel="zalo")
        return _outcome(answer)


def _outcome(answer: requests.Response) -> SendResult:
    if answer.status_code == 429 or answer.status_code >= 500:
        return SendResult("transient", error_code=f"zalo:http{answer.status_code}",
                          error_message=answer.text[:200], channel="zalo")
    try:
        body: Any = answer.json()
        error = int(body["error"])
    except (ValueError, KeyError, TypeError):
        # Not ZNS speaking (a proxy's page, a changed API): try again, and SMS after a few tries.
        return SendResult("transient", error_code=f"zalo:http{answer.status_code}",
                          error_message=answer.text[:200], channel="zalo")
    text = str(body.get("message") or REFUSALS.get(error, ""))[:300]
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    if error == 0 and data.get("msg_id"):
        return SendResult("accepted", provider_sid=str(data["msg_id"])[:64], channel="zalo")
    outcome: Outcome = "transient" if error in TRANSIENT_ERRORS or error == 0 else "permanent"
    return SendResult(outcome, error_code=f"zalo:{error}", error_message=text, channel="zalo")


class ZaloFirstSender:
    """Zalo for messages with a template, SMS for the rest and for what Zalo cannot deliver."""

    name = "zalo+sms"

    def __init__(self, zalo: ZnsSender, sms: Sender, *, zalo_tries: int = ZALO_TRIES) -> None:
        self.zalo, self.sms, self._tries = zalo, sms, zalo_tries

    def send(self, message: Outgoing) -> SendResult:
        if message.sms_only or not self.zalo.handles(message):
            return self.sms.send(message)
        if message.attempt > self._tries:
            return self._by_sms(message, f"zalo:gave_up: no answer from Zalo after {self._tries} tries")
        result = self.zalo.send(message)
        if result.outcome != "permanent":
            return result
        if result.error_code in (f"zalo:{TOKEN_INVALID}", "zalo:token"):
            # Zalo's tokens expire; until this one is replaced every message costs an SMS.
            log.error("ZALO_ACCESS_TOKEN is invalid or has expired: Zalo messages go by SMS until it is replaced",
                      extra={"event": "zalo.token_invalid", "outbox_id": message.id})
        else:
            log.warning("Zalo cannot deliver, sending SMS", extra={"event": "zalo.refused", "outbox_id": message.id,
                                                                   "error_code": result.error_code})
        return self._by_sms(message, f"{result.error_code}: {result.error_message}")

    def _by_sms(self, message: Outgoing, why: str) -> SendResult:
        return replace(self.sms.send(message), channel="sms", zalo_error=why[:200])
