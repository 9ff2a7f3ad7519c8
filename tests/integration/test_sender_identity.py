"""Who the SMS come from: the province's sender ID (SMS_SENDER_NAME) when no number or service is set.

Through the real Twilio client against the loopback stand-in, as the scheduler builds its sender.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Settings
from hotline.messaging import make_sender, sms_policy
from notifications.senders import Outgoing
from tests.factories import phone
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as standin:
        yield standin


def settings(tmp_path: Path, twilio: TwilioStandIn, *, twilio_from: str = "", hotline_number: str = "1022") -> Settings:
    return Settings(env="testing", instance_path=tmp_path, twilio_account_sid=ACCOUNT_SID,
                    twilio_auth_token=AUTH_TOKEN, twilio_api_base_url=twilio.base_url, twilio_from=twilio_from,
                    hotline_number=hotline_number)


def test_with_neither_a_number_nor_a_service_the_default_sender_id_sends(tmp_path: Path,
                                                                          twilio: TwilioStandIn) -> None:
    sender = make_sender(settings(tmp_path, twilio))
    assert sender.send(Outgoing(1, phone(1), "Lịch hẹn 362537015 đã được hủy.")).outcome == "accepted"
    (request,) = twilio.accepted
    assert (request.get("From"), request.get("To")) == ("HCC CAMAU", phone(1))


def test_a_number_set_in_twilio_from_sends_instead_of_the_sender_id(tmp_path: Path, twilio: TwilioStandIn) -> None:
    sender = make_sender(settings(tmp_path, twilio, twilio_from="UBND CAMAU"))
    assert sender.send(Outgoing(1, phone(1), "Lịch hẹn 362537015 đã được hủy.")).outcome == "accepted"
    (request,) = twilio.accepted
    assert request.get("From") == "UBND CAMAU"


def test_the_texts_policy_carries_the_hotline_number_and_whether_replies_reach_us(tmp_path: Path,
                                                                                   twilio: TwilioStandIn) -> None:
    assert (sms_policy(settings(tmp_path, twilio)).hotline, sms_policy(settings(tmp_path, twilio)).replies) == (
        "1022", False)
    policy = sms_policy(settings(tmp_path, twilio, hotline_number="0290 1022"))
    assert policy.hotline == "0290 1022"
