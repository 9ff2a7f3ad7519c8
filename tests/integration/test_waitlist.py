"""The waitlist of a full session on both engines: joining, offers of freed seats, races for them, and their ends."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import Role
from actions import bookings as booking_actions
from actions import offices as office_actions
from actions import waitlist
from actions.context import Actor, Context
from actions.errors import NotAllowed
from actions.models import AuditEntry
from booking import bookings
from booking.errors import AlreadyBookedForSession, BookingError
from booking.models import (
    Booking, BookingStatus, Channel, Hold, OfferCall, OfficeSession, WaitlistEntry, WaitlistStatus,
)
from booking.waitlist import AlreadyWaiting, SessionHasRoom
from notifications.models import MessageKind, OutboxMessage
from notifications.policy import SmsPolicy
from tests.factories import NOW, POLICY, make_office, phone
from tests.outbox import PlainLocalizer

TUESDAY = date(2027, 3, 2)
STAFF = Actor.staff("user:lan", Role.OPERATOR, frozenset())


def ctx(db: Session, actor: Actor = STAFF, *, later: timedelta = timedelta(0)) -> Context:
    return Context(db=db, actor=actor, now=NOW + later, policy=POLICY, sms=SmsPolicy(), localizer=PlainLocalizer)


def full_office(db: Session, seats: int = 2) -> int:
    """An office whose Tuesday morning is fully booked (by phones 1..seats)."""
    office = make_office(db, morning=seats)
    for n in range(1, seats + 1):
        booking_actions.book(ctx(db), office_id=office.id, day=TUESDAY, code="S", phone=phone(n), language="vi")
    db.commit()
    return office.id


def join(db: Session, office_id: int, n: int, *, language: str = "vi", name: str | None = None) -> WaitlistEntry:
    joined = waitlist.join(ctx(db), office_id=office_id, day=TUESDAY, code="S", phone=phone(n), language=language,
                           name=name)
    db.commit()
    return joined.entry


def entries(db: Session) -> dict[str, WaitlistStatus]:
    db.rollback()
    return {e.phone: e.status for e in db.scalars(select(WaitlistEntry).order_by(WaitlistEntry.id))}


def consistent(db: Session, office_id: int) -> OfficeSession:
    """The session's counters agree with its bookings and holds, and no seat is held twice."""
    db.rollback()
    row = db.scalars(select(OfficeSession).where(OfficeSession.office_id == office_id,
                                                 OfficeSession.date == TUESDAY, OfficeSession.code == "S")).one()
    live = db.scalar(select(func.count()).select_from(Booking).where(
        Booking.session_id == row.id, Booking.status == BookingStatus.BOOKED))
    held = db.scalar(select(func.count()).select_from(Hold).where(Hold.session_id == row.id))
    assert (row.booked, row.held) == (live, held)
    assert row.booked + row.held + row.cooling + row.reserve_left <= row.capacity
    offered = db.scalars(select(WaitlistEntry).where(WaitlistEntry.status == WaitlistStatus.OFFERED)).all()
    holds = {h.id: h for h in db.scalars(select(Hold).where(Hold.session_id == row.id))}
    assert len({e.hold_id for e in offered}) == len(offered)  # one seat never to two
    for entry in offered:
        assert entry.hold_id is not None
        assert holds[entry.hold_id].owner == f"waitlist:{entry.id}" and holds[entry.hold_id].phone == entry.phone
    return row


def actions_logged(db: Session, prefix: str = "waitlist.") -> list[str]:
    db.rollback()
    return [a for a in db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)) if a.startswith(prefix)]


def test_a_session_with_room_is_booked_instead(db: Session) -> None:
    office = make_office(db, morning=2)
    db.commit()
    with pytest.raises(SessionHasRoom):
        waitlist.join(ctx(db), office_id=office.id, day=TUESDAY, code="S", phone=phone(9), language="vi")


def test_joining_a_full_session_in_order_once_per_phone(db: Session) -> None:
    office_id = full_office(db)
    first = join(db, office_id, 10)
    joined = waitlist.join(ctx(db), office_id=office_id, day=TUESDAY, code="S", phone="0980000011", language="en",
                           name="Lan")
    db.commit()
    assert joined.ahead == 1 and joined.entry.phone == phone(11) and joined.entry.channel is Channel.OPERATOR
    assert first.status is WaitlistStatus.WAITING and not first.phone_verified
    with pytest.raises(AlreadyWaiting):
        waitlist.join(ctx(db), office_id=office_id, day=TUESDAY, code="S", phone=phone(10), language="vi")
    db.rollback()
    with pytest.raises(AlreadyBookedForSession):
        waitlist.join(ctx(db), office_id=office_id, day=TUESDAY, code="S", phone=phone(1), language="vi")
    db.rollback()
    manager = Actor.staff("user:other", Role.MANAGER, frozenset({office_id + 1000}))
    with pytest.raises(NotAllowed):
        waitlist.join(ctx(db, manager), office_id=office_id, day=TUESDAY, code="S", phone=phone(12), language="vi")
    db.rollback()
    assert actions_logged(db) == ["waitlist.join", "waitlist.join"]


def test_a_caller_joining_for_their_own_number_is_verified(db: Session) -> None:
    office_id = full_office(db)
    caller = Actor.caller("CA" + "1" * 32, verified_mobile=phone(20))
    mine = waitlist.join(ctx(db, caller), office_id=office_id, day=TUESDAY, code="S", phone=phone(20),
                         language="vi").entry
    typed = waitlist.join(ctx(db, caller), office_id=office_id, day=TUESDAY, code="S", phone=phone(21),
                          language="vi").entry
    db.commit()
    assert (mine.phone_verified, mine.channel) == (True, Channel.IVR)
    assert not typed.phone_verified  # a typed number is where we call and text, not who is calling


def test_a_cancellation_offers_the_seat_to_the_first_waiting(db: Session) -> None:
    office_id = full_office(db)
    first, second = join(db, office_id, 10), join(db, office_id, 11)
    code = db.scalars(select(Booking.code).where(Booking.phone == phone(1))).one()
    booking_actions.cancel(ctx(db), code=code)
    db.commit()
    assert entries(db) == {phone(10): WaitlistStatus.OFFERED, phone(11): WaitlistStatus.WAITING}
    db.refresh(first)
    assert first.offer_expires_at == NOW + POLICY.waitlist_hold and first.call_status is OfferCall.DUE
    hold = db.get(Hold, first.hold_id)
    assert hold is not None and hold.expires_at == first.offer_expires_at and hold.channel is Channel.OPERATOR
    assert consistent(db, office_id).held == 1
    assert actions_logged(db) == ["waitlist.join", "waitlist.join", "waitlist.offer"]
    assert second.id > first.id


def test_a_move_away_offers_the_seat_it_left(db: Session) -> None:
    office_id = full_office(db)
    join(db, office_id, 10)
    code = db.scalars(select(Booking.code).where(Booking.phone == phone(2))).one()
    booking_actions.move(ctx(db), code=code, office_id=office_id, day=TUESDAY, session_code="C")
    db.commit()
    assert entries(db) == {phone(10): WaitlistStatus.OFFERED}
    consistent(db, office_id)


def test_a_raised_capacity_offers_each_new_seat_to_a_different_person(db: Session) -> None:
    office_id = full_office(db)
    for n in (10, 11, 12):
        join(db, office_id, n)
    admin = Actor.staff("user:admin", Role.ADMIN, frozenset())
    office_actions.set_session_on_date(ctx(db, admin), office_id=office_id, day=TUESDAY, code="S", capacity=4)
    db.commit()
    assert entries(db) == {phone(10): WaitlistStatus.OFFERED, phone(11): WaitlistStatus.OFFERED,
                           phone(12): WaitlistStatus.WAITING}
    assert consistent(db, office_id).held == 2


def test_accepting_books_through_the_normal_confirmation(db: Session) -> None:
    office_id = full_office(db)
    entry = join(db, office_id, 10, name="Trần Thị Lan")
    bookings.cancel(db, booking_id=db.scalars(select(Booking.id).where(Booking.phone == phone(1))).one(),
                    actor=bookings.Actor("user:lan", Channel.OPERATOR), now=NOW, policy=POLICY)
    waitlist.offer_freed_seats(ctx(db), session_id=entry.session_id)
    db.commit()
    booking = waitlist.accept(ctx(db), entry_id=entry.id)
    db.commit()
    assert (booking.phone, booking.name, booking.status) == (phone(10), "Trần Thị Lan", BookingStatus.BOOKED)
    db.refresh(entry)
    assert (entry.status, entry.booking_id) == (WaitlistStatus.ACCEPTED, booking.id)
    sms = db.scalars(select(OutboxMessage).where(OutboxMessage.recipient == phone(10))).one()
    assert sms.kind is MessageKind.CONFIRMATION and booking.code in sms.body
    assert consistent(db, office_id).booked == 2
    assert actions_logged(db)[-2:] == ["waitlist.offer", "waitlist.accept"]
    with pytest.raises(BookingError):
        waitlist.accept(ctx(db), entry_id=entry.id)


def test_declining_and_leaving_pass_the_seat_to_the_next(db: Session) -> None:
    office_id = full_office(db)
    first, second, third = (join(db, office_id, n) for n in (10, 11, 12))
    booking_actions.cancel(ctx(db), code=db.scalars(select(Booking.code).where(Booking.phone == phone(1))).one())
    db.commit()
    waitlist.decline(ctx(db), entry_id=first.id)
    db.commit()
    assert entries(db) == {phone(10): WaitlistStatus.DECLINED, phone(11): WaitlistStatus.OFFERED,
                           phone(12): WaitlistStatus.WAITING}
    waitlist.leave(ctx(db), entry_id=second.id)
    db.commit()
    assert entries(db) == {phone(10): WaitlistStatus.DECLINED, phone(11): WaitlistStatus.CANCELLED,
                           phone(12): WaitlistStatus.OFFERED}
    assert consistent(db, office_id).held == 1
    stranger = Actor.caller("CA" + "2" * 32, verified_mobile=phone(30))
    with pytest.raises(BookingError):
        waitlist.decline(ctx(db, stranger), entry_id=third.id)  # somebody else's offer does not exist for them
    db.rollback()
    # phone(12) was offered the seat that the leave freed: the last entry is that offer.
    assert actions_logged(db)[-5:] == ["waitlist.offer", "waitlist.decline", "waitlist.offer", "waitlist.leave",
                                       "waitlist.offer"]


def test_a_lapsed_hold_passes_the_offer_to_the_next(db: Session) -> None:
    office_id = full_office(db)
    join(db, office_id, 10), join(db, office_id, 11)
    booking_actions.cancel(ctx(db), code=db.scalars(select(Booking.code).where(Booking.phone == phone(1))).one())
    db.commit()
    assert waitlist.offer_office(ctx(db, later=timedelta(minutes=29))) == 0  # still held for the first
    db.commit()
    assert entries(db)[phone(10)] is WaitlistStatus.OFFERED
    assert waitlist.offer_office(ctx(db, later=POLICY.waitlist_hold)) == 1
    db.commit()
    assert entries(db) == {phone(10): WaitlistStatus.EXPIRED, phone(11): WaitlistStatus.OFFERED}
    assert consistent(db, office_id).held == 1
    assert "waitlist.expire" in actions_logged(db)


def test_the_waiting_lapse_when_the_session_stops_taking_bookings(db: Session) -> None:
    office_id = full_office(db)
    join(db, office_id, 10)
    assert waitlist.offer_office(ctx(db, later=timedelta(hours=22))) == 0  # Tuesday 07:00, past the cut-off
    db.commit()
    assert entries(db) == {phone(10): WaitlistStatus.EXPIRED}


# -- races ----------------------------------------------------------------------------------------

def race(sessions: sessionmaker[Session], work: list[Callable[[Session], object]]) -> Counter[str]:
    """Each piece of work in its own thread and committed transaction, all released at once."""
    barrier = threading.Barrier(len(work))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(job: Callable[[Session], object]) -> None:
        barrier.wait()
        try:
            with sessions.begin() as session:
                job(session)
            outcome = "ok"
        except BookingError as exc:
            outcome = type(exc).__name__
        except Exception as exc:  # a crash the assertions must show
            outcome = f"crash:{type(exc).__name__}:{exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(outcomes)


@pytest.mark.slow
def test_two_seats_freed_at_once_go_to_two_different_people(db: Session, sessions: sessionmaker[Session]) -> None:
    office_id = full_office(db)
    for n in (10, 11, 12, 13):
        join(db, office_id, n)
    codes = list(db.scalars(select(Booking.code).where(Booking.office_id == office_id)))
    db.rollback()  # the test's own transaction would keep SQLite's write lock

    def cancelling(code: str) -> Callable[[Session], object]:
        return lambda s: booking_actions.cancel(ctx(s), code=code)

    assert race(sessions, [cancelling(c) for c in codes]) == Counter(ok=2)
    assert entries(db) == {phone(10): WaitlistStatus.OFFERED, phone(11): WaitlistStatus.OFFERED,
                           phone(12): WaitlistStatus.WAITING, phone(13): WaitlistStatus.WAITING}
    assert consistent(db, office_id).held == 2


@pytest.mark.slow
def test_one_seat_never_goes_to_two_people_when_workers_sweep_together(
        db: Session, sessions: sessionmaker[Session]) -> None:
    office_id = full_office(db)
    for n in (10, 11, 12, 13):
        join(db, office_id, n)
    # Freed without its trigger (as if it had failed): the sweeps must find it.
    bookings.cancel(db, booking_id=db.scalars(select(Booking.id).where(Booking.phone == phone(1))).one(),
                    actor=bookings.Actor("user:lan", Channel.OPERATOR), now=NOW, policy=POLICY)
    db.commit()
    made: list[int] = []
    outcomes = race(sessions, [lambda s: made.append(waitlist.offer_office(ctx(s, Actor.system())))] * 6)
    assert outcomes == Counter(ok=6) and sorted(made) == [0, 0, 0, 0, 0, 1]
    assert list(entries(db).values()).count(WaitlistStatus.OFFERED) == 1
    assert consistent(db, office_id).held == 1
