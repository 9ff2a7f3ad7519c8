"""Desks calling the queue, the public board, 'nearly your turn' and walk-in tickets (issue 14), on both engines."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import Role
from actions import desk
from actions.context import Actor, Context
from actions.errors import NotAllowed
from actions.models import AuditEntry
from booking import bookings, office_settings, queue
from booking.bookings import Actor as HistoryActor
from booking.errors import AlreadyBookedForSession, NotFound, SessionFull
from booking.models import Booking, BookingEvent, BookingStatus, Channel, Desk, Office, OfficeSession
from notifications import notices
from notifications.models import MessageKind, OutboxMessage
from notifications.policy import SmsPolicy
from tests.factories import NOW, OPERATOR, POLICY, make_office, phone
from tests.outbox import PlainLocalizer

DESK_STAFF = HistoryActor("user:mai", Channel.OPERATOR)


def _ctx(db: Session, actor: Actor, *, later: timedelta = timedelta(0)) -> Context:
    return Context(db=db, actor=actor, now=NOW + later, policy=POLICY, sms=SmsPolicy(), localizer=PlainLocalizer)


def _checked_in(db: Session, office_id: int, n: int, *, first: int = 1, window: int | None = None) -> list[Booking]:
    """`n` people booked this afternoon and checked in, in booking order."""
    people = []
    for i in range(first, first + n):
        booking = bookings.book(db, office_id=office_id, day=NOW.date(), code="C", phone=phone(i), actor=OPERATOR,
                                now=NOW, policy=POLICY, window_position=window)
        people.append(bookings.check_in(db, code=booking.code, actor=OPERATOR, now=NOW, office_id=office_id))
    return people


@pytest.fixture
def office(db: Session) -> tuple[int, int, list[int]]:
    """An office with three desks, another office, and the desks' ids."""
    here, there = make_office(db), make_office(db)
    ids = [queue.save_desk(db, office_id=here.id, number=n, name=f"Quầy {n}").id for n in (1, 2, 3)]
    return here.id, there.id, ids


def test_desks_call_by_window_then_queue_number(db: Session, office: tuple[int, int, list[int]]) -> None:
    here, _there, (one, two, _three) = office
    late_window = _checked_in(db, here, 2, window=2)  # 14:30-15:00
    early_window = _checked_in(db, here, 2, first=10, window=0)  # 13:30-14:00, booked later: higher numbers
    called = [queue.call_next(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=NOW)]
    called.append(queue.call_next(db, office_id=here, desk_id=two, actor=DESK_STAFF, now=NOW))
    assert [b.code for b in called if b] == [b.code for b in early_window]
    with pytest.raises(queue.DeskBusy):
        queue.call_next(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=NOW)
    bookings.mark_served(db, booking_id=called[0].id, actor=DESK_STAFF, now=NOW)  # type: ignore[union-attr]
    third = queue.call_next(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=NOW)
    assert third is not None and third.code == late_window[0].code and third.desk_id == one
    assert third.call_count == 1 and third.called_at == NOW
    assert queue.waiting_count(db, here, NOW.date()) == 1


def test_recall_counts_and_transfer_goes_to_the_other_desk_first(db: Session,
                                                                   office: tuple[int, int, list[int]]) -> None:
    here, _there, (one, two, _three) = office
    first, second = _checked_in(db, here, 2)
    assert queue.call_next(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=NOW).code == first.code  # type: ignore[union-attr]
    again = queue.recall(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=NOW + timedelta(minutes=1))
    assert again.call_count == 2 and again.called_at == NOW + timedelta(minutes=1)
    sent = queue.transfer(db, office_id=here, desk_id=one, to_desk_id=two, actor=DESK_STAFF, now=NOW)
    assert (sent.desk_id, sent.called_at) == (two, None)
    assert queue.current(db, one) is None
    assert queue.waiting_count(db, here, NOW.date(), desk_id=two) == 2  # the common queue and the one sent here
    assert queue.call_next(db, office_id=here, desk_id=two, actor=DESK_STAFF, now=NOW).code == first.code  # type: ignore[union-attr]
    assert queue.call_next(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=NOW).code == second.code  # type: ignore[union-attr]
    actions = db.scalars(select(BookingEvent.action).where(BookingEvent.booking_id == first.id)
                         .order_by(BookingEvent.id)).all()
    assert actions == ["created", "checked_in", "called", "recalled", "transferred", "called"]


def test_a_desk_of_another_office_or_out_of_use_calls_nobody(db: Session, office: tuple[int, int, list[int]]) -> None:
    here, there, (one, _two, three) = office
    _checked_in(db, here, 1)
    with pytest.raises(NotFound):
        queue.call_next(db, office_id=there, desk_id=one, actor=DESK_STAFF, now=NOW)
    queue.save_desk(db, office_id=here, desk_id=three, number=3, name="Quầy 3", active=False)
    with pytest.raises(queue.DeskInactive):
        queue.call_next(db, office_id=here, desk_id=three, actor=DESK_STAFF, now=NOW)
    assert queue.call_next(db, office_id=there, desk_id=queue.save_desk(db, office_id=there, number=1, name="").id,
                           actor=DESK_STAFF, now=NOW) is None


@pytest.mark.parametrize(("desks", "people"), [(4, 12), (6, 7)])
def test_desks_calling_at_once_call_each_person_exactly_once(sessions: sessionmaker[Session], db: Session,
                                                             desks: int, people: int) -> None:
    office_id = make_office(db).id
    desk_ids = [queue.save_desk(db, office_id=office_id, number=n + 1, name="").id for n in range(desks)]
    _checked_in(db, office_id, people)
    db.commit()
    barrier, lock = threading.Barrier(desks), threading.Lock()
    called: list[str] = []
    errors: list[str] = []

    def counter(desk_id: int) -> None:
        barrier.wait()
        try:
            while True:
                with sessions.begin() as session:
                    booking = queue.call_next(session, office_id=office_id, desk_id=desk_id, actor=DESK_STAFF,
                                              now=NOW)
                    if booking is None:
                        return
                    code = booking.code
                with sessions.begin() as session:
                    bookings.mark_served(session, booking_id=booking.id, actor=DESK_STAFF, now=NOW)
                with lock:
                    called.append(code)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=counter, args=(d,)) for d in desk_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(called) == people and len(set(called)) == people
    db.rollback()
    assert db.scalar(select(func.count()).select_from(BookingEvent).where(BookingEvent.action == "called")) == people
    assert set(db.scalars(select(Booking.status))) == {BookingStatus.SERVED}


def test_the_actions_are_the_offices_staffs_and_audited(db: Session, office: tuple[int, int, list[int]]) -> None:
    here, there, (one, two, _three) = office
    _checked_in(db, here, 2)
    outsiders = (Actor.staff("user:lan", Role.OPERATOR, frozenset()),
                 Actor.staff("user:hoa", Role.MANAGER, frozenset({there})))
    for outsider in outsiders:
        for attempt in (lambda c: desk.call_next(c, office_id=here, desk_id=one),
                        lambda c: desk.recall(c, office_id=here, desk_id=one),
                        lambda c: desk.transfer(c, office_id=here, desk_id=one, to_desk_id=two),
                        lambda c: desk.served_at_desk(c, office_id=here, desk_id=one),
                        lambda c: desk.no_show_at_desk(c, office_id=here, desk_id=one),
                        lambda c: desk.open_counter(c, office_id=here, desk_id=one),
                        lambda c: desk.issue_walk_in(c, office_id=here),
                        lambda c: desk.save_desk(c, office_id=here, number=9, name="x")):
            with pytest.raises(NotAllowed):
                attempt(_ctx(db, outsider))
    ctx = _ctx(db, Actor.staff("user:mai", Role.MANAGER, frozenset({here})))
    first = desk.call_next(ctx, office_id=here, desk_id=one)
    assert first is not None and desk.open_counter(ctx, office_id=here, desk_id=one).serving == first
    desk.recall(ctx, office_id=here, desk_id=one)
    desk.transfer(ctx, office_id=here, desk_id=one, to_desk_id=two)
    desk.call_next(ctx, office_id=here, desk_id=two)
    assert desk.served_at_desk(ctx, office_id=here, desk_id=two).status is BookingStatus.SERVED
    desk.call_next(ctx, office_id=here, desk_id=one)
    assert desk.no_show_at_desk(ctx, office_id=here, desk_id=one).status is BookingStatus.NO_SHOW
    walk_in = desk.issue_walk_in(ctx, office_id=here)
    desk.save_desk(ctx, office_id=here, number=4, name="Quầy 4")
    entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor) for e in entries] == [(a, "user:mai") for a in (
        "booking.called", "booking.recalled", "booking.transferred", "booking.called", "booking.served",
        "booking.called", "booking.no_show", "booking.walk_in", "desk.saved")]
    assert entries[-2].target_id == walk_in.code


def test_nearly_your_turn_is_sent_once_to_those_near_the_front(db: Session,
                                                               office: tuple[int, int, list[int]]) -> None:
    here, _there, (one, two, _three) = office
    people = _checked_in(db, here, 6)
    ctx = _ctx(db, Actor.staff("user:mai", Role.MANAGER, frozenset({here})))
    desk.call_next(ctx, office_id=here, desk_id=one)  # people[0] called; people[1..5] wait
    desk.call_next(ctx, office_id=here, desk_id=two)  # people[1] called; people[2..5] wait
    told = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.NEARLY_TURN)
                      .order_by(OutboxMessage.id)).all()
    # After the first call people[2], [3], [4] had 1, 2, 3 ahead; after the second, people[5] had 3 ahead.
    assert [m.booking_id for m in told] == [people[i].id for i in (2, 3, 4, 5)]
    assert [m.recipient for m in told] == [people[i].phone for i in (2, 3, 4, 5)]
    assert "your turn is near, 1 ahead of you" in told[0].body and people[2].queue_label in told[0].body
    assert all(m.urgent and m.dedupe_key == f"nearly_turn:{m.booking_id}" for m in told)


def test_nearly_your_turn_off_at_zero(db: Session, office: tuple[int, int, list[int]]) -> None:
    here, _there, (one, _two, _three) = office
    db.get_one(Office, here).nearly_turn_ahead = 0
    _checked_in(db, here, 4)
    desk.call_next(_ctx(db, Actor.staff("user:mai", Role.MANAGER, frozenset({here}))), office_id=here, desk_id=one)
    assert db.scalar(select(func.count()).select_from(OutboxMessage)
                     .where(OutboxMessage.kind == MessageKind.NEARLY_TURN)) == 0


def test_the_board_shows_numbers_and_desks_only(db: Session, office: tuple[int, int, list[int]]) -> None:
    here, _there, (one, _two, _three) = office
    people = _checked_in(db, here, 4)
    queue.call_next(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=NOW)
    code = db.get_one(Office, here).code
    shown = desk.board(_ctx(db, Actor.staff("user:x", Role.OPERATOR, frozenset())), office_code=code)
    assert [(d.number, d.queue, d.calls) for d in shown.desks] == [(1, people[0].queue_label, 1), (2, None, 0),
                                                                    (3, None, 0)]
    assert shown.next == tuple(p.queue_label for p in people[1:]) and shown.waiting == 3
    with pytest.raises(NotFound):
        desk.board(_ctx(db, Actor.staff("user:x", Role.OPERATOR, frozenset())), office_code="NOPE")


def test_a_walk_in_takes_the_running_window_and_the_walk_in_reserve(db: Session) -> None:
    office = make_office(db, morning=16)  # 8 windows of 2 from 07:30; 09:00 is in the fourth
    office_settings.set_channel_reserve(db, office_id=office.id, session_code="S", channel=Channel.WALKIN,
                                        seats_kept=2, release_minutes_before=120)
    ticket = queue.issue_walk_in(db, office_id=office.id, actor=DESK_STAFF, now=NOW, policy=POLICY)
    assert (ticket.session_code, ticket.arrival_start.strftime("%H:%M"), ticket.channel) == ("S", "09:00",
                                                                                             Channel.WALKIN)
    assert ticket.status is BookingStatus.CHECKED_IN and ticket.phone == "" and ticket.reserve_channel is Channel.WALKIN
    second = queue.issue_walk_in(db, office_id=office.id, actor=DESK_STAFF, now=NOW, policy=POLICY, phone="0981234567")
    assert second.queue_number == ticket.queue_number + 1
    with pytest.raises(AlreadyBookedForSession):
        queue.issue_walk_in(db, office_id=office.id, actor=DESK_STAFF, now=NOW, policy=POLICY, phone="0981234567")
    third = queue.issue_walk_in(db, office_id=office.id, actor=DESK_STAFF, now=NOW, policy=POLICY)
    assert third.arrival_start.strftime("%H:%M") == "09:30"  # the crowd limit of 09:00's window is reached
    row = db.scalars(select(OfficeSession).where(OfficeSession.office_id == office.id)).one()
    assert (row.booked, row.reserve_left) == (3, 0)


def test_walk_ins_never_overbook(sessions: sessionmaker[Session], db: Session) -> None:
    office = make_office(db, morning=8)  # eight seats, one per window; five windows (09:00-11:30) are left
    db.commit()
    outcomes: list[str] = []
    barrier, lock = threading.Barrier(6), threading.Lock()

    def counter() -> None:
        barrier.wait()
        try:
            with sessions.begin() as session:
                queue.issue_walk_in(session, office_id=office.id, actor=DESK_STAFF, now=NOW, policy=POLICY)
            outcome = "ok"
        except SessionFull:
            outcome = "full"
        except Exception as exc:
            outcome = f"crash:{exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=counter) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(outcomes) == Counter({"ok": 5, "full": 1})
    db.rollback()
    starts = db.scalars(select(Booking.arrival_start).where(Booking.office_id == office.id)).all()
    assert sorted(t.strftime("%H:%M") for t in starts) == ["09:00", "09:30", "10:00", "10:30", "11:00"]


def test_desk_numbers_are_unique_per_office(db: Session, office: tuple[int, int, list[int]]) -> None:
    here, there, _ids = office
    with pytest.raises(Exception, match="desk 1 exists"):
        queue.save_desk(db, office_id=here, number=1, name="again")
    assert queue.save_desk(db, office_id=there, number=1, name="").number == 1
    assert [d.number for d in db.scalars(select(Desk).where(Desk.office_id == here).order_by(Desk.number))] == [1, 2, 3]


def test_a_walk_in_needs_a_session_still_to_come_today(db: Session) -> None:
    office = make_office(db)
    evening = NOW + timedelta(hours=8, minutes=30)  # 17:30: the afternoon has ended
    with pytest.raises(queue.NoSessionLeft):
        queue.issue_walk_in(db, office_id=office.id, actor=DESK_STAFF, now=evening, policy=POLICY)
    lunch = queue.issue_walk_in(db, office_id=office.id, actor=DESK_STAFF, now=NOW + timedelta(hours=3, minutes=30),
                                policy=POLICY)  # 12:30: between sessions, the afternoon's first window
    assert (lunch.session_code, lunch.arrival_start.strftime("%H:%M")) == ("C", "13:30")
    saturday = NOW + timedelta(days=5)
    with pytest.raises(queue.NoSessionLeft):
        queue.issue_walk_in(db, office_id=office.id, actor=DESK_STAFF, now=saturday, policy=POLICY)


def test_a_walk_in_without_a_number_is_cancelled_without_an_sms(db: Session) -> None:
    office = make_office(db)
    ticket = desk.issue_walk_in(_ctx(db, Actor.staff("user:mai", Role.MANAGER, frozenset({office.id}))),
                                office_id=office.id)
    assert notices.cancelled(db, ticket, now=NOW, policy=SmsPolicy(), loc=PlainLocalizer()) is None


def test_the_day_at_the_desks_counts_and_times_them(db: Session, office: tuple[int, int, list[int]]) -> None:
    here, _there, (one, two, _three) = office
    first, second, third = _checked_in(db, here, 3)  # all checked in at 09:00
    minutes = lambda n: NOW + timedelta(minutes=n)  # noqa: E731
    queue.call_next(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=minutes(10))
    bookings.mark_served(db, booking_id=first.id, actor=DESK_STAFF, now=minutes(16))
    queue.call_next(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=minutes(20))
    queue.not_at_counter(db, office_id=here, desk_id=one, actor=DESK_STAFF, now=minutes(22))
    queue.call_next(db, office_id=here, desk_id=two, actor=DESK_STAFF, now=minutes(30))
    office_row = db.get_one(Office, here)
    shown = queue.day_at_desks(db, office_row, NOW.date())
    assert [(d.number, d.served, d.not_come, d.median_wait, d.median_service) for d in shown] == [
        (1, 1, 1, 15, 6), (2, 0, 0, 30, None), (3, 0, 0, None, None)]
    assert third.desk_id == two and second.status is BookingStatus.NO_SHOW


def test_one_desk_pressing_call_next_twice_at_once_calls_one_person(sessions: sessionmaker[Session],
                                                                    db: Session) -> None:
    office_id = make_office(db).id
    desk_id = queue.save_desk(db, office_id=office_id, number=1, name="").id
    _checked_in(db, office_id, 3)
    db.commit()
    barrier, lock = threading.Barrier(4), threading.Lock()
    outcomes: list[str] = []

    def press() -> None:
        barrier.wait()
        try:
            with sessions.begin() as session:
                called = queue.call_next(session, office_id=office_id, desk_id=desk_id, actor=DESK_STAFF, now=NOW)
            outcome = "called" if called else "nobody"
        except queue.DeskBusy:
            outcome = "busy"
        except Exception as exc:  # shown by the assertion
            outcome = f"crash:{exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=press) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(outcomes) == Counter({"called": 1, "busy": 3})
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Booking).where(Booking.desk_id == desk_id)) == 1
