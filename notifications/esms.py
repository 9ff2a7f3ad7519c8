"""eSMS (esms.vn), a Vietnamese brandname gateway: the sender of customer-care SMS, and its delivery reports.

What this follows is eSMS's public documentation:
https://developers.esms.vn/en/esms-api/send-sms-api/send-otp-customer-care-message (the request and
its answers), https://developers.esms.vn/en/esms-api/table-of-error-codes and
https://developers.esms.vn/en/esms-api/callback-url (the delivery report, an HTTP GET).

Unlike Twilio, eSMS takes an idempotency key: a request whose `RequestId` it has seen before is
answered `124` ("Duplicate RequestId") and not sent again. The RequestId is the outbox row's id
(with a prefix per installation), the same at every attempt, so a message handed over again after
a crash, or after a time-out that hid an acceptance, reaches the phone once.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import requests

from notifications.http import SessionPerThread
from notifications.models import MessageStatus
from notifications.senders import Outcome, Outgoing, SendResult
from notifications.sms import size_of

DEFAULT_BASE_URL = "https://rest.esms.vn"
SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
CUSTOMER_CARE = "2"  # SmsType of a customer-care (CSKH) message from a registered brandname
ACCEPTED, DUPLICATE = "100", "124"

# CodeResult values that no retry of the same message can fix: the number is blocked (99) or
# malformed (108), the brandname is not registered (104) or not for the recipient's network (177),
# the text does not match a registered customer-care template (146), the type is missing (300).
# Wrong keys (101), no price list (102), no balance (103) and an IP not yet whitelisted (140) are
# the account's state, put right by a person: retried with backoff, as Twilio's 401 is, rather than
# losing every message at once. Codes the table does not list are retried too.
PERMANENT_CODES = frozenset({"99", "104", "108", "146", "177", "300"})
# SendStatus of a message, in the answer to a duplicate and in delivery reports.
REJECTED = "4"


def national(recipient: str) -> str:
    """The number as eSMS takes it: the documentation's examples write 0901888484, not +84…."""
    return "0" + recipient.removeprefix("+84")


class EsmsSender:
    """Sends each message as one JSON request to eSMS's SendMultipleMessage_V4_post_json.

    `base_url` points it at another host (a loopback stand-in in tests); each sending thread keeps
    its own `requests.Session`, so connections are reused without being shared.
    """

    name = "esms"

    def __init__(self, *, api_key: str, secret_key: str, brandname: str, base_url: str = DEFAULT_BASE_URL,
                 sandbox: bool = False, request_prefix: str = "", timeout: float = 10.0) -> None:
        if not (api_key and secret_key and brandname):
            raise ValueError("eSMS needs an API key, a secret key and a registered brandname")
        self._api_key, self._secret_key, self._brandname = api_key, secret_key, brandname
        self._url = (base_url or DEFAULT_BASE_URL).rstrip("/") + SEND_PATH
        self._sandbox, self._prefix, self._timeout = sandbox, request_prefix, timeout
        self._session = SessionPerThread()

    def request_id(self, message: Outgoing) -> str:
        """The same for every attempt at one outbox row: what makes a second attempt harmless."""
        return f"{self._prefix}{message.id}"

    def payload(self, message: Outgoing) -> dict[str, str]:
        """The request body; every value a string, as the documentation types them."""
        body = {"ApiKey": self._api_key, "SecretKey": self._secret_key, "Phone": national(message.recipient),
                "Content": message.body, "Brandname": self._brandname, "SmsType": CUSTOMER_CARE,
                "IsUnicode": "1" if size_of(message.body).encoding == "ucs2" else "0",
                "Sandbox": "1" if self._sandbox else "0", "RequestId": self.request_id(message)}
        if message.status_callback:
            body["CallbackUrl"] = message.status_callback
        return body

    def send(self, message: Outgoing) -> SendResult:
        if not message.recipient.startswith("+84"):
            return SendResult("permanent", error_code="not_vn", error_message="eSMS sends to Vietnamese numbers only")
        try:
            response = self._session().post(self._url, json=self.payload(message), timeout=self._timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            # eSMS may have taken a message whose answer was lost: the retry carries the same RequestId.
            return SendResult("transient", error_code="network", error_message=str(exc)[:500])
        if response.status_code != 200:
            return _http_failure(response)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "CodeResult" not in answer:
            # The documentation's own example of a broken request ({"error": "Invalid request"})
            # says to ask eSMS: nothing the message could change. Retry, and let max_attempts end it.
            return SendResult("transient", error_code="bad_answer", error_message=response.text[:500])
        return interpret(answer)


def interpret(answer: dict[str, Any]) -> SendResult:
    """What an answer of HTTP 200 says became of the message."""
    code = str(answer.get("CodeResult"))
    sms_id = str(answer["SMSID"]) if answer.get("SMSID") else None
    if code == ACCEPTED:
        return SendResult("accepted", provider_sid=sms_id)
    if code == DUPLICATE and str(answer.get("SendStatus", "")) != REJECTED:
        # eSMS has this RequestId already: a former attempt reached it and only our record of it
        # was lost. It is sent; its SMSID (not repeated here) arrives with the delivery report.
        return SendResult("accepted", provider_sid=sms_id)
    message = str(answer.get("ErrorMessage") or "")[:500] or None
    outcome: Outcome = "permanent" if code in PERMANENT_CODES or code == DUPLICATE else "transient"
    return SendResult(outcome, error_code=code[:16], error_message=message)


def _http_failure(response: requests.Response) -> SendResult:
    """eSMS answers its own errors with 200 and a CodeResult; any other status came from before it.

    A server error, a rate limit or a time-out at a proxy is worth retrying, and so are 401, 403
    and 404 (a wrong base URL or a proxy's credentials: our configuration, to be put right); any
    other 4xx would get the same answer again.
    """
    status = response.status_code
    transient = status >= 500 or status in (401, 403, 404, 408, 429) or status < 400
    return SendResult("transient" if transient else "permanent", error_code=str(status),
                      error_message=response.text[:500] or response.reason)


def callback_token(secret: str, message_id: int) -> str:
    """The token in the delivery-report URL of one message.

    eSMS cannot sign its reports, so the URL carries a secret of its own: an HMAC of the message's
    id, so that one URL seen in a log lets nobody report on any other message.
    """
    return hmac.new(secret.encode(), f"esms-delivery:{message_id}".encode(), hashlib.sha256).hexdigest()[:32]


def token_matches(secret: str, message_id: int, token: str) -> bool:
    """Whether `token` is the message's, in constant time; any text, however odd (compared as UTF-8 bytes, since
    `hmac.compare_digest` refuses a str that is not ASCII)."""
    return hmac.compare_digest(callback_token(secret, message_id).encode(), token.encode("utf-8", "replace"))


def delivery_state(send_status: str, *, succeeded: int, failed: int) -> tuple[MessageStatus, str | None] | None:
    """A delivery report's message state and error code; None for a SendStatus the documentation lacks.

    SendStatus 1 (awaiting approval), 2 (waiting to be sent) and 7 (with the network, awaiting its
    report) mean the message is on its way; 4 that eSMS rejected it; 5 that it was processed, and
    SendSuccess / SendFailed say whether it reached the phone (a report with neither says nothing).
    """
    if send_status in ("1", "2", "7"):
        return MessageStatus.SENT, None
    if send_status == REJECTED:
        return MessageStatus.FAILED, "esms_rejected"
    if send_status == "5":
        if succeeded > 0:
            return MessageStatus.DELIVERED, None
        if failed > 0:
            return MessageStatus.UNDELIVERED, "esms_failed"
        return MessageStatus.SENT, None
    return None
