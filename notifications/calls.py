"""Callers: the one interface behind which outbound calls are placed (the waitlist's offers).

A caller places one call to a number with the URL of the flow it runs and the URL of its status
callback, and says what became of the request: placed (with the call's SID) or refused.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRequest:
    to: str  # E.164
    url: str  # the flow's first webhook
    status_callback: str
    timeout: int = 30  # seconds of ringing before Twilio gives up (no-answer)


@dataclass(frozen=True)
class CallResult:
    placed: bool
    sid: str | None = None
    error: str | None = None


class LogCaller:
    """Development caller: writes the call to the log; nobody's phone rings."""

    name = "log"

    def call(self, request: CallRequest) -> CallResult:
        log.info("call to %s running %s", request.to, request.url)
        return CallResult(True, sid="CA" + uuid.uuid4().hex)


class TwilioCaller:
    """Places calls through Twilio's Calls API with the official client (`base_url`: a stand-in in tests)."""

    name = "twilio"

    def __init__(self, *, account_sid: str, auth_token: str, from_: str, base_url: str = "",
                 timeout: float = 10.0) -> None:
        if not from_:
            raise ValueError("a number to call from is needed")
        self._account_sid, self._auth_token, self._from = account_sid, auth_token, from_
        self._base_url, self._timeout = base_url.rstrip("/"), timeout
        self._local = threading.local()

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = Client(self._account_sid, self._auth_token,
                            http_client=TwilioHttpClient(pool_connections=True, timeout=self._timeout))
            if self._base_url:
                client.api.base_url = self._base_url
            self._local.client = client
        return client

    def call(self, request: CallRequest) -> CallResult:
        try:
            created = self._client().calls.create(
                to=request.to, from_=self._from, url=request.url, method="POST",
                status_callback=request.status_callback, status_callback_method="POST",
                status_callback_event=["completed"], timeout=request.timeout)
        except TwilioRestException as exc:
            return CallResult(False, error=f"{exc.code or exc.status}: {str(exc.msg)[:200]}")
        except (requests.ConnectionError, requests.Timeout) as exc:
            return CallResult(False, error=f"network: {str(exc)[:200]}")
        return CallResult(True, sid=created.sid)
