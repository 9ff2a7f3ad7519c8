"""Plays Twilio's part in tests: signed webhook requests, following each answer's action and redirect."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from tests.factories import make_office

_sids = itertools.count(1)

BASE = "http://localhost"


def new_sid() -> str:
    return f"CA{next(_sids):032x}"


@dataclass
class Caller:
    client: FlaskClient
    token: str
    caller: str = "+84912345678"
    sid: str = field(default_factory=new_sid)
    last: ET.Element | None = None
    status: int = 200
    # Ends the test's own reading transaction before each request, as a separate client would
    # (on SQLite an open transaction of the test would otherwise hold the only write lock).
    before_request: Callable[[], None] | None = None

    def post(self, path: str, params: dict[str, str], headers: dict[str, str] | None = None,
             sign: bool = True) -> ET.Element:
        if self.before_request is not None:
            self.before_request()
        url = path if path.startswith("http") else BASE + path
        signature = RequestValidator(self.token).compute_signature(url, params) if sign else "forged"
        response = self.client.post(url, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})
        self.status = response.status_code
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/xml"
        self.last = ET.fromstring(response.get_data(as_text=True))
        return self.last

    def _params(self, **extra: str) -> dict[str, str]:
        return {"CallSid": self.sid, "AccountSid": "AC" + "0" * 32, "From": self.caller, "To": "+842903821022",
                "CallStatus": "in-progress", "Direction": "inbound", **extra}

    def ring(self) -> ET.Element:
        return self.post("/ivr/voice", self._params())

    @property
    def gather(self) -> ET.Element:
        assert self.last is not None
        found = self.last.find("Gather")
        assert found is not None, ET.tostring(self.last, encoding="unicode")
        return found

    def press(self, keys: str, headers: dict[str, str] | None = None) -> ET.Element:
        return self.post(self.gather.attrib["action"], self._params(Digits=keys), headers)

    def say(self, words: str) -> ET.Element:
        return self.post(self.gather.attrib["action"], self._params(SpeechResult=words, Confidence="0.9"))

    def silence(self) -> ET.Element:
        assert self.last is not None
        redirect = self.last.find("Redirect")
        assert redirect is not None
        return self.post(redirect.text or "", self._params())

    def hang_up(self) -> int:
        if self.before_request is not None:
            self.before_request()
        url = BASE + "/ivr/status"
        params = self._params(CallStatus="completed", CallDuration="42")
        signature = RequestValidator(self.token).compute_signature(url, params)
        return self.client.post(url, data=params, headers={"X-Twilio-Signature": signature}).status_code

    def spoken(self) -> str:
        """Everything the last answer says, in order, as one text."""
        assert self.last is not None
        return " ".join((el.text or "") for el in self.last.iter("Say"))

    @property
    def hung_up(self) -> bool:
        return self.last is not None and self.last.find("Hangup") is not None


@pytest.fixture
def office(db: Session) -> int:
    """The office the IVR tests call about: keypad 5, Năm Căn, 20 seats in the morning and 10 after lunch.

    Import it under its own name (`from tests.ivr_caller import office as office`) to use it.
    """
    made = make_office(db, keypad_number=5, name="Trung tâm Phục vụ hành chính công xã Năm Căn",
                       name_en="Nam Can Commune Service Centre", morning=20, afternoon=10)
    db.commit()
    return made.id
