"""Senders: the one interface behind which SMS providers live.

A sender gets one message and says what became of it: accepted (with the provider's id), a
transient failure worth retrying, or a permanent one. A new provider (a Vietnamese carrier's
brandname gateway, say) is one more class with a `send` method.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)

Outcome = Literal["accepted", "transient", "permanent"]


@dataclass(frozen=True)
class Outgoing:
    id: int
    recipient: str
    body: str
    status_callback: str | None = None
    kind: str = ""  # the message's kind, which picks a Zalo template
    params: Mapping[str, str] | None = None  # the template's parameters; None: SMS only
    attempt: int = 1  # this is the message's nth try
    sms_only: bool = False  # Zalo refused it before: it goes by SMS


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_sid: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    channel: str = "sms"  # what it went, or tried to go, by: "sms" or "zalo"
    zalo_error: str | None = None  # Zalo could not deliver it, and why: from now on it goes by SMS


class Sender(Protocol):
    name: str

    def send(self, message: Outgoing) -> SendResult: ...


class LogSender:
    """Development sender: writes the message to the log; the outbox row shows it was 'sent'."""

    name = "log"

    def send(self, message: Outgoing) -> SendResult:
        log.info("SMS to %s: %s", message.recipient, message.body)
        return SendResult("accepted", provider_sid=f"DEV{uuid.uuid4().hex}")


# Twilio error codes that no retry can fix (invalid or unreachable number, opted out, refused
# content or sender, account problems). Anything else with a 4xx status is permanent too.
PERMANENT_CODES = {
    "21211", "21212", "21214", "21217", "21219", "21401", "21407", "21408", "21421", "21604", "21606",
    "21608", "21610", "21612", "21614", "21617", "21635", "21660", "21701", "30004", "30005", "30006",
    "30007", "30008", "30032", "30034",
}


class TwilioSender:
    """Sends through Twilio's REST API with the official client.

    `base_url` points the client at another host (a local stand-in in tests, a staging proxy);
    each sending thread keeps its own client so that connections are reused without being shared.
    """

    name = "twilio"

    def __init__(self, *, account_sid: str, auth_token: str, from_: str = "", messaging_service_sid: str = "",
                 base_url: str = "", timeout: float = 10.0) -> None:
        if not (from_ or messaging_service_sid):
            raise ValueError("a sender number or ID, or a Messaging Service SID, is needed")
        self._account_sid, self._auth_token = account_sid, auth_token
        self._from, self._service = from_, messaging_service_sid
        self._base_url, self._timeout = base_url.rstrip("/"), timeout
        self._local = threading.local()

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            http = TwilioHttpClient(pool_connections=True, timeout=self._timeout)
            client = Client(self._account_sid, self._auth_token, http_client=http)
            if self._base_url:
                client.api.base_url = self._base_url
            self._local.client = client
        return client

    def send(self, message: Outgoing) -> SendResult:
        options: dict[str, str] = {"to": message.recipient, "body": message.body}
        if self._service:
            options["messaging_service_sid"] = self._service
        else:
            options["from_"] = self._from
        if message.status_callback:
            options["status_callback"] = message.status_callback
        try:
            created = self._client().messages.create(**options)
        except TwilioRestException as exc:
            code = str(exc.code) if exc.code is not None else None
            # 401/403 mean our credentials are wrong or being rotated: retry (with backoff) rather
            # than lose every message for good over a configuration mistake.
            transient = exc.status in (401, 403, 429) or exc.status >= 500
            if not transient and exc.status < 400:
                transient = True  # an unexpected answer: try again rather than drop the message
            outcome: Outcome = "permanent" if ((code in PERMANENT_CODES and exc.status not in (401, 403))
                                               or not transient) else "transient"
            return SendResult(outcome, error_code=code or str(exc.status), error_message=str(exc.msg)[:500])
        except (requests.ConnectionError, requests.Timeout) as exc:
            return SendResult("transient", error_code="network", error_message=str(exc)[:500])
        return SendResult("accepted", provider_sid=created.sid)
