"""The office floor in the reports (issue 14): desks serving, no-shows at a desk, walk-ins, waits, on both engines.

The scenario (Monday 1 March 2027 from 09:00, two desks), minutes after 09:00:
  0  A, B, C check in;  1  a walk-in ticket W
  2  desk 1 calls A;  7  A served                        (wait 2, service 5)
  4  desk 2 calls B;  6  recalls B;  9  B served          (wait 4 to the first call, service 3 from the recall)
  10 desk 1 calls C;  12 C did not come up               (wait 10)
  11 desk 2 calls W;  21 W served                        (wait 10, service 10)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from booking import bookings, queue
from booking.bookings import Actor
from booking.models import Channel
from booking.reports import DeskLine, Period, floor_report
from tests.factories import NOW, OPERATOR, POLICY, make_office, phone

DESK_STAFF = Actor("user:mai", Channel.OPERATOR)


def _at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def scenario(db: Session) -> int:
    office = make_office(db)
    other = make_office(db)
    one, two = (queue.save_desk(db, office_id=office.id, number=n, name=f"Quầy {n}").id for n in (1, 2))
    for i in range(1, 4):
        booking = bookings.book(db, office_id=office.id, day=NOW.date(), code="S", phone=phone(i), actor=OPERATOR,
                                now=NOW - timedelta(days=1), policy=POLICY)
        bookings.check_in(db, code=booking.code, actor=OPERATOR, now=NOW, office_id=office.id)
    queue.issue_walk_in(db, office_id=office.id, actor=OPERATOR, now=_at(1), policy=POLICY)
    queue.issue_walk_in(db, office_id=other.id, actor=OPERATOR, now=_at(1), policy=POLICY)  # another office's
    a = queue.call_next(db, office_id=office.id, desk_id=one, actor=DESK_STAFF, now=_at(2))
    b = queue.call_next(db, office_id=office.id, desk_id=two, actor=DESK_STAFF, now=_at(4))
    queue.recall(db, office_id=office.id, desk_id=two, actor=DESK_STAFF, now=_at(6))
    assert a and b
    bookings.mark_served(db, booking_id=a.id, actor=DESK_STAFF, now=_at(7))
    bookings.mark_served(db, booking_id=b.id, actor=DESK_STAFF, now=_at(9))
    queue.call_next(db, office_id=office.id, desk_id=one, actor=DESK_STAFF, now=_at(10))
    w = queue.call_next(db, office_id=office.id, desk_id=two, actor=DESK_STAFF, now=_at(11))
    queue.not_at_counter(db, office_id=office.id, desk_id=one, actor=DESK_STAFF, now=_at(12))
    assert w
    bookings.mark_served(db, booking_id=w.id, actor=DESK_STAFF, now=_at(21))
    db.flush()
    return office.id


def test_the_floor_figures_of_a_day_at_two_desks(db: Session) -> None:
    office_id = scenario(db)
    day = Period(NOW.date(), NOW.date())
    floor = floor_report(db, office_ids=[office_id], period=day)
    assert (floor.served_at_desk, floor.no_shows_at_desk, floor.walk_ins, floor.walk_ins_served) == (3, 1, 1, 1)
    assert floor.mean_wait == 390  # (2 + 4 + 10 + 10) / 4 minutes
    assert floor.desks == [DeskLine(office_id, 1, "Quầy 1", 1, 300, 300), DeskLine(office_id, 2, "Quầy 2", 2, 390, 600)]
    province = floor_report(db, office_ids=None, period=day)
    assert (province.walk_ins, province.walk_ins_served, len(province.desks)) == (2, 1, 2)
    before = floor_report(db, office_ids=[office_id], period=Period(NOW.date() - timedelta(days=7),
                                                                    NOW.date() - timedelta(days=1)))
    assert (before.served_at_desk, before.walk_ins, before.mean_wait, before.desks) == (0, 0, None, [])
