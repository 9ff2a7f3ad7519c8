"""eSMS without the network: choosing it in settings, reading its answers and its delivery reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings, SettingsError
from hotline.messaging import make_sender, status_callback
from notifications.esms import EsmsSender, callback_token, delivery_state, interpret, national, token_matches
from notifications.models import MessageStatus
from notifications.senders import Outgoing

KEYS = {"SMS_SENDER": "esms", "ESMS_API_KEY": "k" * 32, "ESMS_SECRET_KEY": "s" * 32}


@pytest.mark.parametrize("env, message", [
    ({**KEYS, "ESMS_API_KEY": ""}, "ESMS_API_KEY must be set when SMS_SENDER=esms"),
    ({**KEYS, "ESMS_SECRET_KEY": " "}, "ESMS_SECRET_KEY must be set when SMS_SENDER=esms"),
    ({**KEYS, "SMS_SENDER_NAME": ""}, "SMS_SENDER_NAME must be set when SMS_SENDER=esms"),
    ({**KEYS, "ESMS_BASE_URL": "rest.esms.vn"}, "ESMS_BASE_URL must look like"),
    ({**KEYS, "ESMS_REQUEST_PREFIX": "a b"}, "ESMS_REQUEST_PREFIX"),
    ({"SMS_SENDER": "esm"}, "SMS_SENDER must be auto, twilio, esms or log"),
])
def test_esms_chosen_without_what_it_needs_stops_the_start_naming_the_variable(
        env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=message) as raised:
        Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path), **env})
    assert "s" * 32 not in str(raised.value) and "k" * 32 not in str(raised.value)


def test_esms_chosen_with_its_keys_sends_from_the_sender_name_and_reports_to_a_tokened_path(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path), **KEYS, "SECRET_KEY": "x" * 32,
                                  "PUBLIC_BASE_URL": "https://hotline.example.gov.vn/"})
    built = make_sender(settings)
    assert isinstance(built, EsmsSender) and built.name == "esms"
    body = built.payload(Outgoing(42, "+84981234567", "Lịch hẹn"))
    assert (body["Brandname"], body["RequestId"], body["Phone"], body["IsUnicode"]) == (
        "HCC CAMAU", "hotline-42", "0981234567", "1")
    assert "s" * 32 not in repr(settings) and "k" * 32 not in repr(settings)
    callback = status_callback(settings)
    assert callback is not None
    assert callback(42) == f"https://hotline.example.gov.vn/sms/esms/status/42/{callback_token('x' * 32, 42)}"
    # Twilio keeps its signed query URL; without a public URL nobody is asked to report.
    twilio = Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path), "PUBLIC_BASE_URL": "https://h.example"})
    assert (status_callback(twilio) or str)(7) == "https://h.example/sms/status?m=7"
    assert status_callback(Settings.from_env({"HOTLINE_INSTANCE_PATH": str(tmp_path), **KEYS})) is None


def test_a_callback_token_is_the_messages_own_and_compared_whole() -> None:
    token = callback_token("secret", 7)
    assert len(token) == 32 and token != callback_token("secret", 8) and token != callback_token("other", 7)
    assert token_matches("secret", 7, token)
    assert not token_matches("secret", 8, token) and not token_matches("secret", 7, token[:-1])
    assert not token_matches("secret", 7, "")


# (eSMS's answer with HTTP 200, outcome, provider id, error code)
ANSWERS: list[tuple[dict[str, object], str, str | None, str | None]] = [
    ({"CodeResult": "100", "CountRegenerate": 0, "SMSID": "d533459ee42b2b9525ba9eabf6a8156"}, "accepted",
     "d533459ee42b2b9525ba9eabf6a8156", None),
    ({"CodeResult": 100, "SMSID": "abc12345"}, "accepted", "abc12345", None),  # a number, not a string
    ({"CodeResult": "124", "CountRegenerate": 0, "ErrorMessage": "Request exist 1", "SendStatus": "5"}, "accepted",
     None, None),
    ({"CodeResult": "124", "ErrorMessage": "Request exist 1"}, "accepted", None, None),
    ({"CodeResult": "124", "ErrorMessage": "Request exist 1", "SendStatus": "4"}, "permanent", None, "124"),
    ({"CodeResult": "101", "ErrorMessage": "Authorize Failed"}, "transient", None, "101"),
    ({"CodeResult": "102"}, "transient", None, "102"),
    ({"CodeResult": "103"}, "transient", None, "103"),
    ({"CodeResult": "140"}, "transient", None, "140"),
    ({"CodeResult": "104", "ErrorMessage": "Brand name code is not exist"}, "permanent", None, "104"),
    ({"CodeResult": "108"}, "permanent", None, "108"),
    ({"CodeResult": "99"}, "permanent", None, "99"),
    ({"CodeResult": "146", "SMSID": "3f5ec8c71c4a4ccea311f731dfeaa133156"}, "permanent", None, "146"),
    ({"CodeResult": "177"}, "permanent", None, "177"),
    ({"CodeResult": "300"}, "permanent", None, "300"),
    ({"CodeResult": "555"}, "transient", None, "555"),  # a code the table does not list
]


@pytest.mark.parametrize("answer, outcome, sid, code", ANSWERS)
def test_each_documented_answer_is_read_as_what_it_means(
        answer: dict[str, object], outcome: str, sid: str | None, code: str | None) -> None:
    result = interpret(answer)
    assert (result.outcome, result.provider_sid, result.error_code) == (outcome, sid, code)


@pytest.mark.parametrize("send_status, succeeded, failed, state", [
    ("1", 0, 0, (MessageStatus.SENT, None)),
    ("2", 0, 0, (MessageStatus.SENT, None)),
    ("7", 0, 0, (MessageStatus.SENT, None)),
    ("4", 0, 0, (MessageStatus.FAILED, "esms_rejected")),
    ("5", 1, 0, (MessageStatus.DELIVERED, None)),
    ("5", 0, 1, (MessageStatus.UNDELIVERED, "esms_failed")),
    ("5", 0, 0, (MessageStatus.SENT, None)),
    ("3", 0, 0, None),
])
def test_delivery_reports_map_onto_our_message_states(
        send_status: str, succeeded: int, failed: int, state: tuple[MessageStatus, str | None] | None) -> None:
    assert delivery_state(send_status, succeeded=succeeded, failed=failed) == state


def test_numbers_go_in_the_national_form_of_the_documentations_examples() -> None:
    assert national("+84901888484") == "0901888484"
    result = EsmsSender(api_key="k", secret_key="s", brandname="B").send(Outgoing(1, "+14155550100", "Hi"))
    assert (result.outcome, result.error_code) == ("permanent", "not_vn")
