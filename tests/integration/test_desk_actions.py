"""The desk's actions check who may run an office's day, whichever edge calls them (issue 14 adds the desks)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import Role
from actions import desk
from actions.context import Actor, Context
from actions.errors import NotAllowed
from actions.models import AuditEntry
from booking import bookings
from booking.models import BookingStatus
from notifications.policy import SmsPolicy
from tests.factories import NOW, OPERATOR, POLICY, make_office, phone
from tests.outbox import PlainLocalizer


def _ctx(db: Session, actor: Actor, *, later: timedelta = timedelta(0)) -> Context:
    return Context(db=db, actor=actor, now=NOW + later, policy=POLICY, sms=SmsPolicy(), localizer=PlainLocalizer)


@pytest.fixture
def today(db: Session) -> tuple[int, int, str]:
    """An office, another one, and the code of a booking at the first for this afternoon."""
    here, there = make_office(db), make_office(db)
    booking = bookings.book(db, office_id=here.id, day=NOW.date(), code="C", phone=phone(1), actor=OPERATOR,
                            now=NOW, policy=POLICY)
    return here.id, there.id, booking.code


def test_only_the_offices_manager_checks_in_and_serves(db: Session, today: tuple[int, int, str]) -> None:
    here, there, code = today
    for outsider in (Actor.staff("user:lan", Role.OPERATOR, frozenset()),
                     Actor.staff("user:hoa", Role.MANAGER, frozenset({there})),
                     Actor.caller("CA" + "1" * 32, verified_mobile=phone(1))):
        with pytest.raises(NotAllowed):
            desk.check_in(_ctx(db, outsider), code=code, office_id=here)
        with pytest.raises(NotAllowed):
            desk.mark_served(_ctx(db, outsider), code=code)
    manager = Actor.staff("user:mai", Role.MANAGER, frozenset({here}))
    assert desk.check_in(_ctx(db, manager), code=code, office_id=here).status is BookingStatus.CHECKED_IN
    assert desk.mark_served(_ctx(db, manager), code=code).status is BookingStatus.SERVED
    entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor, (e.before or {})["status"], (e.after or {})["status"]) for e in entries] == [
        ("booking.check_in", "user:mai", "booked", "checked_in"), ("booking.served", "user:mai", "checked_in", "served")]


def test_a_no_show_is_marked_by_the_manager_after_the_grace(db: Session, today: tuple[int, int, str]) -> None:
    here, _there, code = today
    manager = Actor.staff("user:mai", Role.MANAGER, frozenset({here}))
    late = _ctx(db, manager, later=timedelta(hours=9))  # the afternoon's windows and the grace are over
    with pytest.raises(NotAllowed):
        desk.mark_no_show(_ctx(db, Actor.staff("user:lan", Role.OPERATOR, frozenset()), later=timedelta(hours=9)),
                          code=code)
    assert desk.mark_no_show(late, code=code).status is BookingStatus.NO_SHOW
    assert db.scalars(select(AuditEntry.action)).all() == ["booking.no_show"]
