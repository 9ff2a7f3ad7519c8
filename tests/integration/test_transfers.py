"""When the hotline puts a caller through to an operator, the console shows what the call collected."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy.orm import Session

from tests.console import make_staff, signed_in
from tests.ivr_caller import Caller

TOKEN = "secret-token"


def test_an_operator_sees_the_call_being_put_through_with_what_it_collected(
        make_app: Callable[..., Flask], db: Session) -> None:
    """The review found the console showed nothing of a transferred call: the operator asked everything again."""
    make_staff(db)  # Năm Căn and Đầm Dơi, and the console's users
    app = make_app(twilio_auth_token=TOKEN, operator_numbers="+842903821022")
    console = app.test_client()
    db.rollback()
    signed_in(console, "lan")
    assert "No call is being put through." in console.get("/console/transfers").get_data(as_text=True)

    call = Caller(app.test_client(), TOKEN, caller="+84912345678", before_request=db.rollback)
    call.ring()
    call.press("1")  # book
    call.say("xã Năm Căn")  # the office, by name
    call.press("*")  # back to the first menu
    call.press("0")  # an operator
    dial = call.last.find("Dial") if call.last is not None else None
    assert dial is not None
    db.rollback()
    page = console.get("/console/transfers").get_data(as_text=True)
    assert "0912 345 678" in page and "xã Năm Căn" in page, page

    call.post(dial.attrib["action"], call._params(DialCallStatus="completed"))  # answered, done
    db.rollback()
    assert "0912 345 678" not in console.get("/console/transfers").get_data(as_text=True)
