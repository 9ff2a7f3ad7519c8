"""The two-statement booking on PostgreSQL: what it sends, what it writes, and what it leaves to the general path.

The booking rules themselves are tested on both engines in test_booking_rules.py (on PostgreSQL
most of those bookings take this path); these tests pin what only this path can get wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from booking import bookings
from booking.errors import AlreadyBookedForSession, HoldExpired, TooManyBookings
from booking.models import ArrivalWindow, Booking, BookingEvent, Citizen, Hold, OfficeSession
from tests.factories import IVR, NOW, OPERATOR, POLICY, make_office, phone

TUESDAY = date(2027, 3, 2)

# The two-statement booking is PostgreSQL's; on SQLite `book` is the general path alone.
pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


@pytest.fixture
def pg(db: Session) -> Session:
    assert db.get_bind().dialect.name == "postgresql"
    return db


@pytest.fixture
def sent(pg: Session) -> Iterator[list[str]]:
    """The statements the session's connection sends, from the moment the test asks."""
    statements: list[str] = []
    engine = pg.get_bind()

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    yield statements
    event.remove(engine, "before_cursor_execute", seen)


def _book(db: Session, n: int, **kwargs: Any) -> Booking:
    return bookings.book(db, office_id=kwargs.pop("office_id"), day=TUESDAY, code="S", phone=phone(n),
                         actor=OPERATOR, now=NOW, policy=POLICY, **kwargs)


def _counters(db: Session, office_id: int) -> tuple[int, int, int, int]:
    row = db.scalars(select(OfficeSession).where(OfficeSession.office_id == office_id,
                                                 OfficeSession.date == TUESDAY, OfficeSession.code == "S")).one()
    db.refresh(row)
    windows = db.scalar(select(func.sum(ArrivalWindow.booked)).where(ArrivalWindow.session_id == row.id))
    live = db.scalar(select(func.count()).select_from(Booking).where(Booking.session_id == row.id))
    events = db.scalar(select(func.count()).select_from(BookingEvent).join(Booking)
                       .where(Booking.session_id == row.id))
    return row.booked, int(windows or 0), int(live or 0), int(events or 0)


def test_an_ordinary_booking_is_two_statements_and_writes_what_the_general_path_writes(
        pg: Session, sent: list[str]) -> None:
    office = make_office(pg)
    first = _book(pg, 1, office_id=office.id, name="Nguyễn Văn An")  # opens the session: the general path
    sent.clear()
    second = _book(pg, 2, office_id=office.id, name="Trần Thị Bình")
    assert len(sent) == 2 and all(s.lstrip().startswith("WITH") for s in sent)
    pg.commit()
    pg.expire_all()
    for booking in (first, second):
        stored = pg.get(Booking, booking.id)
        assert stored is not None
        assert (stored.code, stored.queue_number, stored.window_id, stored.arrival_start, stored.phone,
                stored.name, stored.created_at) == (booking.code, booking.queue_number, booking.window_id,
                                                    booking.arrival_start, booking.phone, booking.name,
                                                    booking.created_at)
    assert second.queue_label == "S-002"
    histories = [pg.scalars(select(BookingEvent).where(BookingEvent.booking_id == b.id)).one() for b in (first, second)]
    assert [(h.action, h.actor, h.channel, h.detail) for h in histories] == [
        ("created", OPERATOR.name, OPERATOR.channel, {"queue": "S-001", "date": "2027-03-02", "session": "S"}),
        ("created", OPERATOR.name, OPERATOR.channel, {"queue": "S-002", "date": "2027-03-02", "session": "S"}),
    ]
    assert pg.get(Citizen, phone(2)).name == "Trần Thị Bình"  # type: ignore[union-attr]
    assert _counters(pg, office.id) == (2, 2, 2, 2)


def test_a_refusal_takes_the_general_path_and_changes_no_counter(pg: Session, sent: list[str]) -> None:
    office = make_office(pg)
    _book(pg, 1, office_id=office.id)
    _book(pg, 2, office_id=office.id)
    before = _counters(pg, office.id)
    sent.clear()
    with pytest.raises(AlreadyBookedForSession):
        _book(pg, 2, office_id=office.id)
    assert len(sent) > 2  # the two statements wrote nothing; the general path said why
    assert _counters(pg, office.id) == before


def test_the_future_bookings_limit_holds_across_sessions(pg: Session) -> None:
    office = make_office(pg)
    _book(pg, 9, office_id=office.id)
    for n, day in enumerate((TUESDAY + timedelta(days=1), TUESDAY + timedelta(days=2))):
        bookings.book(pg, office_id=office.id, day=day, code="C", phone=phone(100 + n), actor=OPERATOR, now=NOW,
                      policy=POLICY)  # open both sessions first, so the limit is met on the two-statement path
    bookings.book(pg, office_id=office.id, day=TUESDAY + timedelta(days=1), code="C", phone=phone(1),
                  actor=OPERATOR, now=NOW, policy=POLICY)
    _book(pg, 1, office_id=office.id)
    with pytest.raises(TooManyBookings):
        bookings.book(pg, office_id=office.id, day=TUESDAY + timedelta(days=2), code="C", phone=phone(1),
                      actor=OPERATOR, now=NOW, policy=POLICY)


def test_a_code_already_in_use_is_skipped_and_the_booking_keeps_its_seat(
        pg: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    office = make_office(pg)
    taken = _book(pg, 1, office_id=office.id).code
    codes = iter([taken, "123456789", "987654321"])
    monkeypatch.setattr(bookings, "new_code", lambda: next(codes))
    booking = _book(pg, 2, office_id=office.id)
    assert booking.code == "123456789"  # drawn again, as the general path does
    assert _counters(pg, office.id) == (2, 2, 2, 2)
    assert booking.queue_label == "S-002"
    history = pg.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking.id)).one()
    assert history.detail == {"queue": "S-002", "date": "2027-03-02", "session": "S"}


def test_the_window_asked_for_is_the_one_taken(pg: Session) -> None:
    office = make_office(pg)
    _book(pg, 1, office_id=office.id)
    booking = _book(pg, 2, office_id=office.id, window_position=3)
    window = pg.get(ArrivalWindow, booking.window_id)
    assert window is not None and window.position == 3 and window.booked == 1
    assert (booking.arrival_start, booking.arrival_end) == (window.start_time, window.end_time)


@pytest.mark.parametrize("number", [7, 999, 1000, 12345])
def test_the_database_writes_queue_labels_as_python_does(pg: Session, number: int) -> None:
    label = pg.scalar(select(Booking.queue_label_sql("C", number)))
    assert label == Booking(session_code="C", queue_number=number).queue_label


def _hold(db: Session, n: int, office_id: int, owner: str) -> Any:
    return bookings.hold_seat(db, office_id=office_id, day=TUESDAY, code="S", phone=phone(n), owner=owner,
                              channel=IVR.channel, now=NOW, policy=POLICY)


def test_a_hold_and_its_confirmation_are_two_statements_each(pg: Session, sent: list[str]) -> None:
    office = make_office(pg)
    _book(pg, 1, office_id=office.id)
    sent.clear()
    hold = _hold(pg, 2, office.id, "call:CA1")
    assert len(sent) == 2
    row = pg.get(OfficeSession, hold.session_id)
    assert row is not None
    pg.refresh(row)
    assert (row.held, row.booked) == (1, 1)
    sent.clear()
    booking = bookings.confirm_hold(pg, hold_id=hold.id, owner="call:CA1", actor=IVR, now=NOW + timedelta(seconds=30),
                                    policy=POLICY, name="Lê Văn Cường")
    assert len(sent) == 2
    pg.commit()
    pg.refresh(row)
    assert (row.held, row.booked) == (0, 2)
    assert pg.get(Hold, hold.id) is None
    assert (booking.queue_label, booking.channel, booking.name, booking.window_id) == (
        "S-002", IVR.channel, "Lê Văn Cường", hold.window_id)
    assert _counters(pg, office.id) == (2, 2, 2, 2)


def test_somebody_elses_hold_and_a_lapsed_one_are_refused_as_the_general_path_refuses(pg: Session) -> None:
    office = make_office(pg)
    _book(pg, 1, office_id=office.id)
    hold = _hold(pg, 2, office.id, "call:CA2")
    with pytest.raises(HoldExpired):
        bookings.confirm_hold(pg, hold_id=hold.id, owner="call:OTHER", actor=IVR, now=NOW, policy=POLICY)
    with pytest.raises(HoldExpired):
        bookings.confirm_hold(pg, hold_id=hold.id, owner="call:CA2", actor=IVR, now=NOW + POLICY.hold_ttl,
                              policy=POLICY)
    pg.commit()  # a refusal leaves everything as it was (the sweep is the scheduled job's, or the next booking's)
    assert _counters(pg, office.id) == (1, 1, 1, 1)
    row = pg.scalars(select(OfficeSession).where(OfficeSession.office_id == office.id)).one()
    pg.refresh(row)
    assert row.held == 1 and pg.scalars(select(Hold.id)).all() == [hold.id]


def test_choosing_again_lets_go_of_the_first_hold(pg: Session) -> None:
    office = make_office(pg)
    _book(pg, 1, office_id=office.id)
    first = _hold(pg, 2, office.id, "call:CA3")
    second = bookings.hold_seat(pg, office_id=office.id, day=TUESDAY, code="C", phone=phone(2), owner="call:CA3",
                                channel=IVR.channel, now=NOW, policy=POLICY)
    assert pg.scalars(select(Hold.id).where(Hold.owner == "call:CA3")).all() == [second.id]
    assert first.id != second.id


def test_the_booking_comes_with_its_office_as_read_and_the_rest_loads_on_first_use(pg: Session,
                                                                                  sent: list[str]) -> None:
    """The SMS and the IVR's read-back name the office without a query; a column the lock statement did not
    read (the crowd limit) is loaded when asked for, and the office is not written back at commit."""
    office = make_office(pg, name="Trung tâm Phục vụ hành chính công phường 1", address="Số 1, Cà Mau",
                         crowd_limit=12)
    office_id = office.id
    _book(pg, 1, office_id=office_id)  # the session's row: the first booking into it takes the general path
    pg.commit()
    pg.expunge_all()
    sent.clear()
    booking = _book(pg, 2, office_id=office_id)
    assert (booking.office.id, booking.office.name, booking.office.address) == (
        office_id, "Trung tâm Phục vụ hành chính công phường 1", "Số 1, Cà Mau")
    assert len(sent) == 2, sent  # the lock and the seat: nothing for the office
    assert booking.office.crowd_limit == 12
    assert len(sent) == 3 and "FROM offices" in sent[-1]
    pg.commit()
    assert not any(s.lstrip().upper().startswith("UPDATE OFFICES") for s in sent), sent
