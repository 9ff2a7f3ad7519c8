"""Races for the last seats between real concurrent clients, on both engines.

Each client is a thread (or a process) with its own connection and its own transaction, lined up
on a barrier so that they hit the database together. Afterwards the counters, the windows and
the bookings themselves must all agree, and nobody may have received a seat that was not there.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from booking import bookings, office_settings, rehousing
from booking.errors import AlreadyBookedForSession, BookingError, SessionFull, TooManyBookings, WindowFull
from booking.models import ArrivalWindow, Booking, BookingStatus, CalendarDayKind, Channel, Hold, OfficeSession
from database.engine import make_engine, make_session_factory
from tests.factories import IVR, NOW, OPERATOR, POLICY, make_office, phone

TUESDAY = date(2027, 3, 2)
pytestmark = pytest.mark.slow


def race(sessions: sessionmaker[Session], clients: int, attempt: Callable[[Session, int], object]) -> Counter[str]:
    """Run `attempt` in `clients` threads at once, each in its own committed transaction."""
    barrier = threading.Barrier(clients)
    outcomes: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        barrier.wait()
        try:
            with sessions.begin() as session:
                attempt(session, n)
            outcome = "ok"
        except BookingError as exc:
            outcome = type(exc).__name__
        except Exception as exc:  # anything else is a bug the assertions below must show
            outcome = f"crash:{type(exc).__name__}:{exc}"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(outcomes)


def _consistent(session: Session, office_id: int) -> OfficeSession:
    """The session's counters equal what its bookings and holds say."""
    row = session.scalars(select(OfficeSession).where(OfficeSession.office_id == office_id)).one()
    live = session.scalar(select(func.count()).select_from(Booking).where(
        Booking.session_id == row.id, Booking.status == BookingStatus.BOOKED))
    held = session.scalar(select(func.count()).select_from(Hold).where(Hold.session_id == row.id))
    assert (row.booked, row.held) == (live, held)
    windows = session.scalars(select(ArrivalWindow).where(ArrivalWindow.session_id == row.id)).all()
    assert sum(w.booked for w in windows) == row.booked and sum(w.held for w in windows) == row.held
    assert all(w.booked + w.held <= w.capacity for w in windows)
    queue = session.scalars(select(Booking.queue_number).where(Booking.session_id == row.id)).all()
    assert sorted(queue) == list(range(1, len(queue) + 1))
    return row


def test_twenty_callers_race_for_the_last_five_seats(sessions: sessionmaker[Session], db: Session) -> None:
    office = make_office(db, morning=5)
    db.commit()
    outcomes = race(sessions, 20, lambda s, n: bookings.book(
        s, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR, now=NOW, policy=POLICY))
    assert outcomes == Counter({"ok": 5, "SessionFull": 15})
    assert _consistent(db, office.id).booked == 5


def test_callers_race_for_the_last_places_in_one_window(sessions: sessionmaker[Session], db: Session) -> None:
    office = make_office(db, morning=80, crowd_limit=3)
    db.commit()
    outcomes = race(sessions, 12, lambda s, n: bookings.book(
        s, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR, now=NOW, policy=POLICY,
        window_position=0))
    assert outcomes == Counter({"ok": 3, WindowFull.__name__: 9})
    row = _consistent(db, office.id)
    assert row.booked == 3


def test_holds_race_for_the_last_seats(sessions: sessionmaker[Session], db: Session) -> None:
    office = make_office(db, morning=2)
    db.commit()
    outcomes = race(sessions, 10, lambda s, n: bookings.hold_seat(
        s, office_id=office.id, day=TUESDAY, code="S", phone=phone(n), owner=phone(n), channel=Channel.IVR, now=NOW, policy=POLICY))
    assert outcomes == Counter({"ok": 2, SessionFull.__name__: 8})
    assert _consistent(db, office.id).held == 2


def test_confirmation_races_expiry_and_hang_up(sessions: sessionmaker[Session], db: Session) -> None:
    """One hold, claimed at once by its confirmation, a hang-up and the expiry job: one wins."""
    office = make_office(db, morning=1)
    hold = bookings.hold_seat(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                              now=NOW, policy=POLICY)
    db.commit()

    def attempt(s: Session, n: int) -> object:
        if n % 3 == 0:
            return bookings.confirm_hold(s, hold_id=hold.id, owner=hold.owner, actor=IVR, now=NOW, policy=POLICY)
        if n % 3 == 1:
            return bookings.release_hold(s, hold_id=hold.id, owner=hold.owner)
        return bookings.expire_lapsed(s, now=NOW, policy=POLICY)

    race(sessions, 9, attempt)
    db.expire_all()
    row = _consistent(db, office.id)
    assert row.held == 0 and row.booked in (0, 1)


def test_one_phone_racing_itself_gets_no_more_than_its_limit(sessions: sessionmaker[Session], db: Session) -> None:
    office = make_office(db)
    db.commit()
    days = [date(2027, 3, d) for d in (2, 3, 4, 5, 8, 9)]
    outcomes = race(sessions, len(days), lambda s, n: bookings.book(
        s, office_id=office.id, day=days[n], code="S", phone=phone(1), actor=OPERATOR, now=NOW, policy=POLICY))
    assert outcomes == Counter({"ok": 2, TooManyBookings.__name__: 4})
    assert db.scalar(select(func.count()).select_from(Booking).where(Booking.phone == phone(1))) == 2


def test_one_phone_racing_into_one_session_is_booked_once(sessions: sessionmaker[Session], db: Session) -> None:
    office = make_office(db)
    db.commit()
    outcomes = race(sessions, 6, lambda s, n: bookings.book(
        s, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW, policy=POLICY))
    assert outcomes == Counter({"ok": 1, AlreadyBookedForSession.__name__: 5})


def _process_client(url: str, office_id: int, n: int, barrier: Barrier, results: Queue[str]) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    barrier.wait()
    try:
        with factory.begin() as session:
            bookings.book(session, office_id=office_id, day=TUESDAY, code="S", phone=phone(n), actor=OPERATOR,
                          now=NOW, policy=POLICY)
        results.put("ok")
    except BookingError as exc:
        results.put(type(exc).__name__)
    except Exception as exc:
        results.put(f"crash:{exc}")
    finally:
        engine.dispose()


def test_worker_processes_race_for_the_last_seats(engine: Engine, db: Session) -> None:
    """Separate processes, as gunicorn workers on several machines would be."""
    office = make_office(db, morning=3)
    db.commit()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    url = engine.url.render_as_string(hide_password=False)
    processes = [context.Process(target=_process_client, args=(url, office.id, n, barrier, results))
                 for n in range(8)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    outcomes = Counter(results.get(timeout=5) for _ in processes)
    assert outcomes == Counter({"ok": 3, SessionFull.__name__: 5})
    assert _consistent(db, office.id).booked == 3


def _book_in_thread(sessions: sessionmaker[Session], office_id: int) -> tuple[threading.Thread, list[str]]:
    """Start booking Tuesday morning (a session nobody has opened yet) in a transaction of its own."""
    outcome: list[str] = []

    def client() -> None:
        try:
            with sessions.begin() as session:
                bookings.book(session, office_id=office_id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                              now=NOW, policy=POLICY)
            outcome.append("ok")
        except BookingError as exc:
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=client)
    thread.start()
    return thread, outcome


def test_a_closure_and_a_booking_opening_the_day_never_miss_each_other(
        sessions: sessionmaker[Session], db: Session) -> None:
    """Closure first, still uncommitted: the booking waits for it and is then refused.

    Without the lock on the office, the booking plans the day without the closure it cannot see,
    opens the session, and the closure finds no row to close: the closed day keeps taking bookings.
    """
    office = make_office(db)
    db.commit()
    with sessions.begin() as closing:
        office_settings.close(closing, office_id=office.id, start=TUESDAY, end=TUESDAY, reason="Bão", now=NOW,
                              actor="user:hoa")
        thread, outcome = _book_in_thread(sessions, office.id)
        thread.join(timeout=0.5)  # the booking is blocked on the office (or has not started): both are fine
    thread.join(timeout=60)
    assert outcome == ["OfficeClosed"]
    db.rollback()
    assert db.scalars(select(Booking)).all() == []
    assert all(row.closed for row in db.scalars(select(OfficeSession)))


def test_a_booking_opening_the_day_is_seen_by_a_closure_that_comes_after_it(
        sessions: sessionmaker[Session], db: Session) -> None:
    """Booking first, still uncommitted: the closure waits for it, then closes its session and names it."""
    office = make_office(db)
    db.commit()
    ready, go = threading.Event(), threading.Event()
    outcome: list[str] = []

    def client() -> None:
        with sessions.begin() as session:
            bookings.book(session, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR,
                          now=NOW, policy=POLICY)
            ready.set()
            go.wait(timeout=60)
        outcome.append("ok")

    thread = threading.Thread(target=client)
    thread.start()
    assert ready.wait(timeout=60)
    affected: list[str] = []

    def closer() -> None:
        with sessions.begin() as closing:
            _closure, live = office_settings.close(closing, office_id=office.id, start=TUESDAY, end=TUESDAY,
                                                   reason="Bão", now=NOW, actor="user:hoa")
            affected.extend(b.code for b in live)

    closing_thread = threading.Thread(target=closer)
    closing_thread.start()
    closing_thread.join(timeout=0.5)  # waits for the booking's transaction (on SQLite, for its write lock)
    go.set()
    thread.join(timeout=60)
    closing_thread.join(timeout=60)
    assert outcome == ["ok"]
    db.rollback()
    (booking,) = db.scalars(select(Booking)).all()
    assert affected == [booking.code]
    assert all(row.closed for row in db.scalars(select(OfficeSession)))


def test_a_check_in_waits_for_a_cancellation_in_progress_and_is_refused(
        sessions: sessionmaker[Session], db: Session) -> None:
    """Without a lock on the booking, the check-in read BOOKED, waited on the row, and then wrote
    CHECKED_IN over the cancellation whose seat was already back on sale."""
    office = make_office(db)
    code = bookings.book(db, office_id=office.id, day=TUESDAY, code="S", phone=phone(1), actor=OPERATOR, now=NOW,
                         policy=POLICY).code
    db.commit()
    booking_id = db.scalars(select(Booking.id)).one()
    db.rollback()
    on_the_day = NOW + (date(2027, 3, 2) - date(2027, 3, 1))  # Tuesday 09:00
    outcome: list[str] = []

    def check_in() -> None:
        try:
            with sessions.begin() as session:
                bookings.check_in(session, code=code, actor=OPERATOR, now=on_the_day)
            outcome.append("ok")
        except BookingError as exc:
            outcome.append(type(exc).__name__)

    with sessions.begin() as cancelling:
        bookings.cancel(cancelling, booking_id=booking_id, actor=OPERATOR, now=NOW, policy=POLICY)
        thread = threading.Thread(target=check_in)
        thread.start()
        thread.join(timeout=0.5)  # the check-in is blocked on the booking (or has not started): both are fine
    thread.join(timeout=60)
    assert outcome == ["CheckInNotAllowed"]
    db.rollback()
    assert db.scalars(select(Booking.status)).one() is BookingStatus.CANCELLED


TUE, WED, THU = date(2027, 3, 2), date(2027, 3, 3), date(2027, 3, 4)


def _book(session: Session, office_id: int, day: date, code: str, n: int) -> Booking:
    return bookings.book(session, office_id=office_id, day=day, code=code, phone=phone(n), actor=OPERATOR, now=NOW,
                         policy=POLICY)


def _close_tuesday(session: Session, office_id: int) -> object:
    return office_settings.close(session, office_id=office_id, start=TUE, end=TUE, reason="Bão", actor="user:hoa",
                                 now=NOW)


def _close_tuesday_and_move(session: Session, office_id: int) -> object:
    _closure, affected = office_settings.close(session, office_id=office_id, start=TUE, end=TUE, reason="Bão",
                                               actor="user:hoa", now=NOW)
    return rehousing.move_to_soonest(session, affected, actor=OPERATOR, now=NOW, policy=POLICY)


INTERLEAVINGS = {
    # A booking into Tuesday's open session, paused after its checks, while Tuesday closes.
    # (Paused in `_procedure`, which both of the booking's paths call once they hold their locks: PostgreSQL's
    # two-statement path checks the phone in SQL and never calls `_check_phone`.)
    "booking vs closure": (lambda s, o: _book(s, o, TUE, "S", 1), lambda s, o: _book(s, o, TUE, "S", 2),
                           _close_tuesday, "_procedure"),
    # A caller holding Tuesday chooses Wednesday (not opened yet), paused after letting Tuesday go.
    "new choice vs closure": (
        lambda s, o: bookings.hold_seat(s, office_id=o, day=TUE, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                                        now=NOW, policy=POLICY),
        lambda s, o: bookings.hold_seat(s, office_id=o, day=WED, code="S", phone=phone(1), owner=phone(1), channel=Channel.IVR,
                                        now=NOW, policy=POLICY),
        _close_tuesday, "_release_holds_of"),
    # The same person books Thursday while the closure moves their Tuesday booking.
    "booking vs closure that moves": (lambda s, o: _book(s, o, TUE, "S", 1), lambda s, o: _book(s, o, THU, "C", 1),
                                      _close_tuesday_and_move, "lock_citizen"),
    # A booking into Tuesday's open session while the province makes Tuesday a day off.
    "booking vs day off": (lambda s, o: _book(s, o, TUE, "S", 1), lambda s, o: _book(s, o, TUE, "S", 2),
                           lambda s, o: office_settings.set_calendar_day(s, day=TUE, kind=CalendarDayKind.DAY_OFF,
                                                                         note="Nghỉ bù"),
                           "_procedure"),
}


@pytest.mark.parametrize("name", list(INTERLEAVINGS))
def test_bookings_and_settings_changes_never_deadlock(name: str, sessions: sessionmaker[Session], db: Session,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service takes the office's plan lock before citizens and sessions, so these end in some order.

    The booking pauses inside the service, holding whatever it has locked, while the settings change
    starts; before the lock order was one, PostgreSQL aborted one side with a deadlock.
    """
    arrange, client, change, pause_in = INTERLEAVINGS[name]
    office = make_office(db)
    arrange(db, office.id)
    db.commit()
    paused = threading.Event()
    real = getattr(bookings, pause_in)

    def pausing(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)
        if threading.current_thread().name == "client" and not paused.is_set():
            paused.set()
            threading.Event().wait(0.5)  # hold the locks taken so far while the change starts
        return result

    monkeypatch.setattr(bookings, pause_in, pausing)
    outcome: dict[str, str] = {}

    def run(label: str, work: Callable[[Session, int], object]) -> None:
        try:
            with sessions.begin() as session:
                work(session, office.id)
            outcome[label] = "ok"
        except BookingError as exc:
            outcome[label] = type(exc).__name__
        except Exception as exc:  # a deadlock, or anything else, is what the assertion must show
            outcome[label] = f"crash:{type(exc).__name__}"

    def changer() -> None:
        paused.wait(timeout=30)
        run("change", change)

    threads = [threading.Thread(target=run, args=("client", client), name="client"), threading.Thread(target=changer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert paused.is_set(), "the client never reached its pause: the interleaving was not tried"
    assert outcome["change"] == "ok", outcome
    assert not outcome["client"].startswith("crash"), outcome


def test_a_cancellation_waiting_on_a_move_gives_back_the_seat_it_moved_to(
        sessions: sessionmaker[Session], db: Session) -> None:
    """The cancellation read Tuesday, waited for the move to Wednesday, and used to count the seat back on Tuesday."""
    office = make_office(db)
    _book(db, office.id, TUE, "S", 9)
    booking_id = _book(db, office.id, TUE, "S", 1).id
    db.commit()
    moved, go = threading.Event(), threading.Event()
    outcome: list[str] = []

    def mover() -> None:
        with sessions.begin() as session:
            bookings.move(session, booking_id=booking_id, office_id=office.id, day=WED, code="S", actor=OPERATOR,
                          now=NOW, policy=POLICY)
            moved.set()
            go.wait(timeout=60)

    def canceller() -> None:
        moved.wait(timeout=60)
        try:
            with sessions.begin() as session:
                bookings.cancel(session, booking_id=booking_id, actor=OPERATOR, now=NOW, policy=POLICY)
            outcome.append("ok")
        except Exception as exc:
            outcome.append(f"crash:{type(exc).__name__}")

    threads = [threading.Thread(target=mover), threading.Thread(target=canceller)]
    for thread in threads:
        thread.start()
    assert moved.wait(timeout=60)
    threads[1].join(timeout=0.5)  # the cancellation waits on a session the move holds (or has not started)
    go.set()
    for thread in threads:
        thread.join(timeout=60)
    assert outcome == ["ok"]
    db.rollback()
    booking = db.get(Booking, booking_id)
    assert booking is not None and (booking.status, booking.date) == (BookingStatus.CANCELLED, WED)
    counts = {row.date: (row.booked, row.cooling) for row in db.scalars(select(OfficeSession))}
    taken = {TUE: (1, 0), WED: (0, 1) if POLICY.rebook_delay else (0, 0)}
    assert counts == taken
