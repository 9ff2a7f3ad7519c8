"""Who a caller is, and whose a hold is: a typed number identifies nobody; a hold is its call's alone.

Each test here reproduces a finding of the outside review, on both engines.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from actions import bookings as actions
from actions.context import Actor, Context
from actions.models import AuditEntry
from booking import bookings
from booking.errors import HoldExpired
from booking.models import Booking, BookingStatus, Citizen, Hold
from notifications.policy import SmsPolicy
from tests.factories import NOW, POLICY, make_office, phone
from tests.ivr_caller import Caller
from tests.ivr_caller import office as office
from tests.outbox import PlainLocalizer

VICTIM = "+84912345678"
VICTIM_TYPED = "0912345678#"
TUESDAY = NOW.date().replace(day=2)

Dial = Callable[..., Caller]


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(twilio_auth_token="secret-token")


@pytest.fixture
def caller(app: Flask, db: Session) -> Dial:
    def make(number: str = VICTIM) -> Caller:
        return Caller(app.test_client(), "secret-token", caller=number, before_request=db.rollback)
    return make


def _book_for(call: Caller, typed: str, *, session_key: str = "1") -> None:
    """A withheld-number caller books, typing `typed` as the mobile to text."""
    call.ring()
    call.press("1")  # book (the only office is not asked for)
    call.press(session_key)
    call.press(typed)
    call.press("1")  # yes, that number


def test_a_typed_number_does_not_open_that_persons_appointments(caller: Dial, db: Session, office: int) -> None:
    """A withheld caller typed somebody's mobile while booking, went back, and heard that person's bookings."""
    mine = caller()
    mine.ring()
    for key in "111":  # book, first session, confirm
        mine.press(key)
    booked = db.scalars(select(Booking)).one()

    intruder = caller("anonymous")
    _book_for(intruder, VICTIM_TYPED)  # the same session: "already booked", then the other sessions
    intruder.press("*")  # the main menu
    intruder.press("2")  # check or cancel
    spoken = intruder.spoken()
    assert booked.queue_label not in spoken and " ".join(booked.code[:3]) not in spoken
    assert "mã lịch hẹn" in spoken  # asked for a booking code instead
    intruder.press("4")  # at the code prompt: a wrong code, never the victim's list
    assert booked.queue_label not in intruder.spoken()


def test_a_typed_number_cannot_stop_that_persons_notices(caller: Dial, db: Session, office: int) -> None:
    intruder = caller("anonymous")
    caller().ring()  # the victim has called before
    _book_for(intruder, VICTIM_TYPED)
    intruder.press("1")  # confirm: booked for the victim's number (the SMS goes there; that is all)
    intruder.press("2")  # back to the menu
    intruder.press("4")  # notices
    assert "di động" in intruder.spoken()  # only a caller's own mobile may stop notices
    db.rollback()
    citizen = db.get(Citizen, VICTIM)
    assert citizen is None or not citizen.broadcast_opt_out


def test_holding_for_a_typed_number_leaves_that_persons_own_hold_alone(caller: Dial, db: Session,
                                                                        office: int) -> None:
    """Holding a seat for a typed number used to give back the seat the number's owner was holding on their call."""
    victim = caller()
    victim.ring()
    victim.press("1")
    victim.press("1")  # holds the first session and is asked to confirm
    intruder = caller("anonymous")
    _book_for(intruder, VICTIM_TYPED, session_key="2")  # another session, the victim's number
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Hold)) == 2
    victim.press("1")  # confirms: the hold is still theirs
    db.rollback()
    assert [b.phone for b in db.scalars(select(Booking))] == [VICTIM]


def test_a_call_writes_its_audit_entries(caller: Dial, db: Session, office: int) -> None:
    """The IVR wrote no audit entry, the console and the API did: one action, one entry, whichever channel."""
    first, second = caller(), caller()
    first.ring()
    for key in "111":
        first.press(key)
    second.ring()
    for key in ("2", "1", "1", "1"):  # check, the first booking, cancel, yes
        second.press(key)
    db.rollback()
    entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor) for e in entries] == [("booking.create", f"ivr:{first.sid}"),
                                                      ("booking.cancel", f"ivr:{second.sid}")]
    before, after = entries[1].before, entries[1].after
    assert before is not None and after is not None
    assert before["status"] == "booked" and after["status"] == "cancelled"


# -- holds belong to their owner ------------------------------------------------------------------

def _ctx(db: Session, actor: Actor) -> Context:
    return Context(db=db, actor=actor, now=NOW, policy=POLICY, sms=SmsPolicy(), localizer=PlainLocalizer)


def test_a_call_cannot_confirm_or_release_another_calls_hold(db: Session) -> None:
    """Caller A's "press 1" booked caller B's seat when A's context named B's hold id."""
    office = make_office(db)
    a, b = Actor.caller("CA" + "a" * 32, verified_mobile=phone(1)), Actor.caller("CA" + "b" * 32,
                                                                                verified_mobile=phone(2))
    held = actions.hold(_ctx(db, b), office_id=office.id, day=TUESDAY, code="S", contact=phone(2))
    with pytest.raises(HoldExpired):
        actions.confirm(_ctx(db, a), hold_id=held.id, language="vi")
    assert actions.release(_ctx(db, a), hold_id=held.id) is False
    assert db.get(Hold, held.id) is not None
    booking = actions.confirm(_ctx(db, b), hold_id=held.id, language="vi")
    assert booking.phone == phone(2) and booking.status is BookingStatus.BOOKED


def test_hold_ids_are_never_reused(db: Session) -> None:
    """On SQLite a deleted hold's id went to the next hold, so a call that kept it reached another's seat."""
    office = make_office(db)
    first = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner="call:1",
                               channel=Actor.caller("x", verified_mobile=None).channel, now=NOW, policy=POLICY)
    first_id = first.id
    assert bookings.release_hold(db, hold_id=first_id, owner="call:1") is True
    db.commit()
    again = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(2), owner="call:2",
                               channel=first.channel, now=NOW, policy=POLICY)
    assert again.id > first_id


def test_the_language_is_kept_for_the_callers_own_number_only_and_only_when_booked(db: Session) -> None:
    """A call confirms in English: the number the network proved is the caller's keeps English for its next
    call; a number the caller typed (somebody else's, perhaps) keeps what its owner chose; a refused
    confirmation changes nothing."""
    office = make_office(db)
    db.add(Citizen(phone=phone(2), language="vi", created_at=NOW))
    db.flush()
    own = Actor.caller("CA" + "a" * 32, verified_mobile=phone(1))
    typed = Actor.caller("CA" + "b" * 32, verified_mobile=phone(3))  # booking for the number it typed
    held = actions.hold(_ctx(db, own), office_id=office.id, day=TUESDAY, code="S", contact=phone(1))
    actions.confirm(_ctx(db, own), hold_id=held.id, language="en")
    held = actions.hold(_ctx(db, typed), office_id=office.id, day=TUESDAY, code="S", contact=phone(2))
    actions.confirm(_ctx(db, typed), hold_id=held.id, language="en")
    late = actions.hold(_ctx(db, own), office_id=office.id, day=TUESDAY, code="C", contact=phone(1))
    db.execute(update(Hold).where(Hold.id == late.id).values(expires_at=NOW))  # lapsed: the confirmation is refused
    with pytest.raises(HoldExpired):
        actions.confirm(_ctx(db, own), hold_id=late.id, language="vi")
    db.expire_all()
    assert [(c.phone, c.language) for c in db.scalars(select(Citizen).order_by(Citizen.phone))] == [
        (phone(1), "en"), (phone(2), "vi")]
    assert db.scalar(select(func.count()).select_from(Booking)) == 2
