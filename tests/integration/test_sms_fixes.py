"""Reminders that must not outlive their appointment, broadcasts that must stop when stopped, sends
recorded after their claim was taken back, and broadcasts with nobody to send to.

Each test runs on SQLite and on PostgreSQL. The sender here accepts everything and remembers what
it was asked to send; how texts reach Twilio is test_sms_sending.py's business.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from booking import bookings, office_settings, rehousing
from booking.citizens import set_broadcast_opt_out
from booking.models import Booking, CalendarDayKind, Office
from notifications import broadcasts, notices
from notifications.dispatcher import DispatchConfig, claim, dispatch_once, recover_stale_claims
from notifications.models import AudienceKind, Broadcast, BroadcastStatus, MessageKind, MessageStatus, OutboxMessage
from notifications.outbox import enqueue
from notifications.policy import SmsPolicy
from notifications.reminders import queue_reminders
from notifications.senders import Outgoing, SendResult
from tests.factories import NOW, OPERATOR, POLICY, at, make_office, phone
from tests.outbox import PlainLocalizer, fetch, fetch_all

SMS = SmsPolicy()
CONFIG = DispatchConfig(rate=0, concurrency=1, batch=50, lease=timedelta(minutes=5))
TUESDAY, WEDNESDAY = date(2027, 3, 2), date(2027, 3, 3)


class Recorder:
    """Accepts every message, as the provider would, and keeps the texts it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.sids: list[str] = []

    def send(self, message: Outgoing) -> SendResult:
        sid = f"SM{uuid.uuid4().hex}"
        self.sent.append(message.body)
        self.sids.append(sid)
        return SendResult("accepted", provider_sid=sid)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def dispatch(sessions: sessionmaker[Session], sender: Any, now: datetime | Callable[[], datetime] = NOW, *,
             worker: str = "w1") -> Counter[str]:
    clock = now if callable(now) else (lambda: now)
    counts = dispatch_once(sessions, sender, now=clock, policy=SMS, config=CONFIG, worker=worker)
    return Counter({k: v for k, v in counts.items() if v})


def run_reminders(sessions: sessionmaker[Session], now: datetime) -> int:
    with sessions.begin() as session:
        return queue_reminders(session, now=now, policy=SMS, evening=time(19, 0), before=timedelta(minutes=120),
                               localizer=PlainLocalizer)


def reminders(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    return [m for m in fetch_all(sessions) if m.kind is MessageKind.REMINDER]


def book(db: Session, office: Office, n: int, *, day: date = TUESDAY, code: str = "S",
         now: datetime = NOW) -> Booking:
    booking = bookings.book(db, office_id=office.id, day=day, code=code, phone=phone(n), actor=OPERATOR, now=now,
                            policy=POLICY)
    db.commit()
    return booking


def move(db: Session, booking: Booking, *, now: datetime, day: date = TUESDAY, code: str = "C",
         window_position: int | None = None) -> None:
    """Move as the console and the API do: the move, then its notice, in one transaction."""
    was, was_session = booking.date, booking.session_code
    moved = bookings.move(db, booking_id=booking.id, office_id=booking.office_id, day=day, code=code, actor=OPERATOR,
                          now=now, policy=POLICY, window_position=window_position)
    notices.moved(db, moved, was=was, was_session=was_session, now=now, policy=SMS, loc=PlainLocalizer())
    db.commit()


# -- reminders of an appointment the booking no longer has ----------------------------------------

def test_a_reminder_held_for_the_morning_is_not_sent_once_the_closure_rehouses_its_booking(
        db: Session, sessions: sessionmaker[Session]) -> None:
    office = make_office(db)
    db.commit()
    book(db, office, 1, now=at(2027, 3, 1, 20, 0))  # Tuesday 07:30, booked after the evening reminder's time
    assert run_reminders(sessions, at(2027, 3, 2, 5, 30)) == 1  # held by quiet hours until 07:00
    # At 06:00 the office closes for the day and its bookings move to the soonest session with room;
    # the domain function alone, so that the dispatcher must catch the stale text by itself.
    _, affected = office_settings.close(db, office_id=office.id, start=TUESDAY, end=TUESDAY, reason="Bão",
                                        actor="user:hoa", now=at(2027, 3, 2, 6, 0))
    moved, stuck = rehousing.move_to_soonest(db, affected, actor=OPERATOR, now=at(2027, 3, 2, 6, 0), policy=POLICY)
    db.commit()
    assert ([(b.date, b.session_code) for b in moved], stuck) == ([(WEDNESDAY, "S")], [])
    sender = Recorder()
    assert dispatch(sessions, sender, at(2027, 3, 2, 7, 0)) == Counter(refused=1)
    assert sender.sent == []
    (stale,) = reminders(sessions)
    assert (stale.status, stale.error_code) == (MessageStatus.CANCELLED, "booking_moved")
    # The new appointment, on Wednesday morning, is reminded of the evening before.
    assert run_reminders(sessions, at(2027, 3, 2, 19, 0)) == 1
    assert dispatch(sessions, sender, at(2027, 3, 2, 19, 0)) == Counter(sent=1)
    assert sender.sent == [reminders(sessions)[-1].body] and ": Wed 03/03, arrive 07:30" in sender.sent[0]


def test_a_reminder_sent_under_the_old_key_format_is_not_sent_again(db: Session,
                                                                     sessions: sessionmaker[Session]) -> None:
    """Before the key named the whole appointment it read reminder:evening:<booking>:<date>:<session>."""
    office = make_office(db)
    db.commit()
    booking = book(db, office, 1)
    sent = enqueue(db, kind=MessageKind.REMINDER, recipient=booking.phone, body="Nhắc lịch", language="vi",
                   now=at(2027, 3, 1, 19, 0), policy=SMS, booking_id=booking.id,
                   dedupe_key=f"reminder:evening:{booking.id}:{TUESDAY.isoformat()}:S")
    assert sent is not None
    sent.status = MessageStatus.DELIVERED
    db.commit()
    assert run_reminders(sessions, at(2027, 3, 1, 19, 5)) == 0
    assert [m.id for m in reminders(sessions)] == [sent.id]


def test_a_move_cancels_the_waiting_reminder_and_the_new_appointment_is_reminded_even_in_the_same_session(
        db: Session, sessions: sessionmaker[Session]) -> None:
    office = make_office(db)
    db.commit()
    booking = book(db, office, 1, code="C")  # Tuesday 13:30-14:00
    assert run_reminders(sessions, at(2027, 3, 1, 19, 0)) == 1
    move(db, booking, now=at(2027, 3, 1, 19, 0), window_position=1)  # same session, 14:00-14:30
    (old,) = reminders(sessions)
    assert (old.status, old.error_code) == (MessageStatus.CANCELLED, "booking_moved")  # at once, not at send time
    assert run_reminders(sessions, at(2027, 3, 1, 19, 1)) == 1
    sender = Recorder()
    assert dispatch(sessions, sender, at(2027, 3, 1, 19, 1)) == Counter(sent=2)  # the move's notice and the reminder
    assert sender.sent[-1].startswith("Reminder") and "arrive 14:00-14:30" in sender.sent[-1]
    assert not any("13:30" in body for body in sender.sent)
    # Back to the first window, with the same queue number: the very appointment first reminded of.
    move(db, booking, now=at(2027, 3, 1, 19, 30), window_position=0)
    assert run_reminders(sessions, at(2027, 3, 1, 19, 31)) == 1
    assert dispatch(sessions, sender, at(2027, 3, 1, 19, 31)) == Counter(sent=2)
    assert sender.sent[-1].startswith("Reminder") and "arrive 13:30-14:00" in sender.sent[-1]


# -- reminders of a session closed after it was booked --------------------------------------------

def test_a_session_closed_after_it_was_booked_gets_no_reminder(db: Session, sessions: sessionmaker[Session]) -> None:
    office = make_office(db)
    db.commit()
    book(db, office, 1, code="C")
    office_settings.set_calendar_day(db, day=TUESDAY, kind=CalendarDayKind.DAY_OFF, note="nghỉ bù")
    db.commit()  # the booking stays booked, in a closed session, for the office to deal with
    for moment in (at(2027, 3, 1, 19, 0), at(2027, 3, 2, 11, 30)):
        assert run_reminders(sessions, moment) == 0
    assert reminders(sessions) == []


def test_a_reminder_waiting_when_its_session_closes_is_dropped_and_comes_back_if_the_session_reopens(
        db: Session, sessions: sessionmaker[Session]) -> None:
    office = make_office(db)
    db.commit()
    book(db, office, 1, code="C")
    assert run_reminders(sessions, at(2027, 3, 1, 19, 0)) == 1
    office_settings.set_calendar_day(db, day=TUESDAY, kind=CalendarDayKind.DAY_OFF, note="nghỉ bù")
    db.commit()
    sender = Recorder()
    assert dispatch(sessions, sender, at(2027, 3, 1, 19, 1)) == Counter(refused=1)
    assert sender.sent == [] and reminders(sessions)[0].error_code == "session_closed"
    office_settings.remove_calendar_day(db, day=TUESDAY)  # the day off was announced in error
    db.commit()
    assert run_reminders(sessions, at(2027, 3, 1, 19, 2)) == 1
    assert dispatch(sessions, sender, at(2027, 3, 1, 19, 2)) == Counter(sent=1)


# -- reminders that would come too late, or twice -------------------------------------------------

def early_office(db: Session) -> Office:
    office = make_office(db)
    for weekday in range(5):
        office_settings.set_template(db, office_id=office.id, weekday=weekday, code="S", start=time(7, 0),
                                     end=time(11, 30), capacity=40)
    db.commit()
    return office


def test_an_early_sessions_reminder_held_by_quiet_hours_until_the_start_is_not_queued(
        db: Session, sessions: sessionmaker[Session]) -> None:
    booking = book(db, early_office(db), 1)  # Tuesday 07:00-07:30; two hours before is 05:00, in quiet hours
    assert run_reminders(sessions, at(2027, 3, 1, 19, 0)) == 1  # the evening one goes as usual
    assert dispatch(sessions, Recorder(), at(2027, 3, 1, 19, 0)) == Counter(sent=1)
    for moment in (at(2027, 3, 2, 5, 0), at(2027, 3, 2, 6, 59), at(2027, 3, 2, 7, 0)):
        assert run_reminders(sessions, moment) == 0
    assert [m.dedupe_key for m in reminders(sessions)] == [f"reminder:evening:{booking.id}:{booking.office_id}:"
                                                           f"2027-03-02:S:0700:1"]


def test_a_reminder_still_waiting_at_the_arrival_time_is_dropped(db: Session, sessions: sessionmaker[Session]) -> None:
    office = make_office(db)
    db.commit()
    book(db, office, 1, now=at(2027, 3, 1, 20, 0))  # Tuesday 07:30, booked after the evening reminder's time
    assert run_reminders(sessions, at(2027, 3, 2, 5, 30)) == 1  # due at 07:00
    sender = Recorder()  # the dispatcher is down from 07:00 to 07:30
    assert dispatch(sessions, sender, at(2027, 3, 2, 7, 30)) == Counter(refused=1)
    assert sender.sent == [] and reminders(sessions)[0].error_code == "too_late"


def test_after_an_outage_only_the_latest_reminder_owed_is_queued(
        db: Session, sessions: sessionmaker[Session]) -> None:
    office = make_office(db)
    db.commit()
    booking = book(db, office, 1, code="C")  # Tuesday 13:30
    # The scheduler was down from Monday evening until Tuesday noon: both reminders are owed.
    assert run_reminders(sessions, at(2027, 3, 2, 12, 0)) == 1
    assert run_reminders(sessions, at(2027, 3, 2, 12, 1)) == 0
    assert [m.dedupe_key for m in reminders(sessions)] == [f"reminder:before:{booking.id}:{office.id}:"
                                                           f"2027-03-02:C:1330:1"]


def test_a_reminder_falling_due_while_the_last_one_still_waits_is_not_sent_as_well(
        db: Session, sessions: sessionmaker[Session]) -> None:
    office = make_office(db)
    db.commit()
    book(db, office, 1, code="C")
    assert run_reminders(sessions, at(2027, 3, 1, 19, 0)) == 1  # the dispatcher is down until Tuesday noon
    assert run_reminders(sessions, at(2027, 3, 2, 11, 30)) == 0
    assert run_reminders(sessions, at(2027, 3, 2, 11, 31)) == 0
    assert [(m.status, m.error_code) for m in reminders(sessions)] == [
        (MessageStatus.QUEUED, None), (MessageStatus.CANCELLED, "superseded")]
    sender = Recorder()
    assert dispatch(sessions, sender, at(2027, 3, 2, 12, 0)) == Counter(sent=1)
    assert run_reminders(sessions, at(2027, 3, 2, 12, 1)) == 0


# -- broadcasts paused or cancelled while a message is claimed ------------------------------------

def queued_broadcast(db: Session, numbers: list[str], *, urgent: bool = False) -> int:
    broadcast = broadcasts.create(db, body="Thông báo lịch làm việc", audience=AudienceKind.UPLOAD, spec={},
                                  created_by="user:hoa", now=NOW, urgent=urgent)
    broadcasts.upload(db, broadcast, numbers)
    broadcasts.schedule(db, broadcast, send_at=NOW, now=NOW)
    broadcasts.enqueue(db, broadcast, now=NOW, policy=SMS)
    db.commit()
    return broadcast.id


def act(sessions: sessionmaker[Session], action: str, broadcast_id: int, now: datetime = NOW) -> int:
    with sessions.begin() as session:
        result: int = getattr(broadcasts, action)(session, broadcasts.get(session, broadcast_id), now=now)
        return result


def status_of(sessions: sessionmaker[Session], broadcast_id: int) -> BroadcastStatus:
    with sessions() as session:
        return broadcasts.get(session, broadcast_id).status


def test_claims_taken_back_after_their_lease_wait_or_end_with_their_broadcast(
        db: Session, sessions: sessionmaker[Session]) -> None:
    going, paused, cancelled = (queued_broadcast(db, [phone(n), phone(n + 1)]) for n in (10, 20, 30))
    with sessions.begin() as session:  # a dispatcher claims everything, then dies
        assert len(claim(session, now=NOW, policy=SMS, limit=50, worker="dead")) == 6
    assert act(sessions, "pause", paused) == 0 and act(sessions, "cancel", cancelled) == 0  # nothing they can reach
    later = NOW + CONFIG.lease + timedelta(seconds=1)
    with sessions.begin() as session:
        assert recover_stale_claims(session, now=later, lease=CONFIG.lease) == 6
    assert {(m.broadcast_id, m.status) for m in fetch_all(sessions)} == {
        (going, MessageStatus.QUEUED), (paused, MessageStatus.HELD), (cancelled, MessageStatus.CANCELLED)}
    sender = Recorder()
    assert dispatch(sessions, sender, later) == Counter(sent=2)
    assert act(sessions, "resume", paused, later) == 2
    assert dispatch(sessions, sender, later) == Counter(sent=2)
    assert len(sender.sent) == 4
    assert [status_of(sessions, b) for b in (going, paused, cancelled)] == [
        BroadcastStatus.DONE, BroadcastStatus.DONE, BroadcastStatus.CANCELLED]


@pytest.mark.parametrize(("stop", "settled"), [(BroadcastStatus.PAUSED, MessageStatus.HELD),
                                                (BroadcastStatus.CANCELLED, MessageStatus.CANCELLED)])
def test_a_message_claimed_as_its_broadcast_stops_is_not_sent(
        db: Session, sessions: sessionmaker[Session], stop: BroadcastStatus, settled: MessageStatus) -> None:
    broadcast_id = queued_broadcast(db, [phone(1)], urgent=True)
    # Pausing or cancelling settles the messages it can see waiting; one a dispatcher claims at that
    # very moment is out of its reach, and caught when the dispatcher looks at what it claimed.
    with sessions.begin() as session:
        session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(status=stop))
    sender = Recorder()
    assert dispatch(sessions, sender) == Counter(refused=1)
    (message,) = fetch_all(sessions)
    assert sender.sent == [] and (message.status, message.claimed_by) == (settled, None)


# -- a send recorded after its claim was taken back -----------------------------------------------

@pytest.mark.parametrize("meanwhile", [None, "pause", "cancel"])
def test_a_send_recorded_after_its_lease_ran_out_is_sent_and_not_sent_again(
        db: Session, sessions: sessionmaker[Session], meanwhile: str | None) -> None:
    broadcast_id = queued_broadcast(db, [phone(1)])
    clock = Clock(NOW)

    class SlowProvider(Recorder):
        def send(self, message: Outgoing) -> SendResult:
            # The provider takes longer than the lease: the leader takes the claim back meanwhile.
            if meanwhile:
                act(sessions, meanwhile, broadcast_id)
            clock.now = NOW + CONFIG.lease + timedelta(seconds=1)
            with sessions.begin() as session:
                assert recover_stale_claims(session, now=clock(), lease=CONFIG.lease) == 1
            return super().send(message)

    sender = SlowProvider()
    assert dispatch(sessions, sender, clock) == Counter(sent=1)
    (message,) = fetch_all(sessions)
    assert (message.status, message.provider_sid, message.claimed_at) == (MessageStatus.SENT, sender.sids[0], None)
    if meanwhile == "pause":
        act(sessions, "resume", broadcast_id, clock())
    assert dispatch(sessions, sender, clock() + timedelta(minutes=1)) == Counter()
    assert len(sender.sent) == 1
    assert status_of(sessions, broadcast_id) is (
        BroadcastStatus.CANCELLED if meanwhile == "cancel" else BroadcastStatus.DONE)


def race_for_a_taken_back_claim(sessions: sessionmaker[Session], *, first: str, second: str
                                ) -> tuple[Counter[str], OutboxMessage, Counter[str], Recorder, Recorder]:
    """The only message queued is claimed by a first dispatcher whose send outlasts its lease: it is
    taken back and claimed again by a second, which is still sending it when the first hears
    `first`; then the second hears `second` ("accepted" or "transient").

    Returns the first's counts, the message as the first left it, the second's counts and both senders.
    """
    (message_id,) = [m.id for m in fetch_all(sessions)]
    clock = Clock(NOW)
    go, claimed_again = threading.Event(), threading.Event()
    counts: list[Counter[str]] = []
    threads: list[threading.Thread] = []

    def answer(outcome: str, sender: Recorder, message: Outgoing) -> SendResult:
        if outcome == "accepted":
            return Recorder.send(sender, message)
        return SendResult("transient", error_code="503", error_message="Service Unavailable")

    class SecondDispatcher(Recorder):
        def send(self, message: Outgoing) -> SendResult:
            claimed_again.set()
            assert go.wait(30)  # still in flight while the first records its answer
            return answer(second, self, message)

    other = SecondDispatcher()

    class FirstDispatcher(Recorder):
        def send(self, message: Outgoing) -> SendResult:
            clock.now = NOW + CONFIG.lease + timedelta(seconds=1)
            with sessions.begin() as session:
                assert recover_stale_claims(session, now=clock(), lease=CONFIG.lease) == 1
            thread = threading.Thread(target=lambda: counts.append(dispatch(sessions, other, clock, worker="w2")))
            threads.append(thread)
            thread.start()
            assert claimed_again.wait(30)
            return answer(first, self, message)

    own = FirstDispatcher()
    first_counts = dispatch(sessions, own, clock)
    left = fetch(sessions, message_id)
    go.set()
    threads[0].join(timeout=30)
    assert dispatch(sessions, Recorder(), clock() + timedelta(hours=2)) == Counter()  # nothing more to send
    return first_counts, left, counts[0], own, other


@pytest.mark.parametrize("second", ["transient", "accepted"])
def test_a_send_recorded_while_another_dispatcher_has_claimed_it_again_settles_it(
        db: Session, sessions: sessionmaker[Session], second: str) -> None:
    queued_broadcast(db, [phone(1)])
    counts, left, other_counts, first, _ = race_for_a_taken_back_claim(sessions, first="accepted", second=second)
    assert counts == Counter(sent=1) and left.status is MessageStatus.SENT
    # The second dispatcher's failure is no reason to try a third time; its success changes nothing
    # recorded: the first send's sid stays, the one its delivery reports come with.
    assert other_counts == (Counter(skipped=1) if second == "transient" else Counter(sent=1))
    (message,) = fetch_all(sessions)
    assert (message.status, message.provider_sid) == (MessageStatus.SENT, first.sids[0])


def test_a_late_failure_leaves_the_claim_another_dispatcher_holds_now_alone(
        db: Session, sessions: sessionmaker[Session]) -> None:
    """Guards the other dispatcher's claim: a failure heard after the lease ran out settled it.

    That failure used to put the message back in the queue under the second dispatcher's feet
    (claim cleared, due again after the backoff, for a third to send once more); now it is skipped.
    """
    queued_broadcast(db, [phone(1)], urgent=True)
    counts, left, other_counts, _, other = race_for_a_taken_back_claim(sessions, first="transient",
                                                                       second="accepted")
    assert counts == Counter(skipped=1)
    assert (left.status, left.claimed_by, left.attempts) == (MessageStatus.SENDING, "w2", 2)
    assert other_counts == Counter(sent=1)
    (message,) = fetch_all(sessions)
    assert (message.status, message.provider_sid) == (MessageStatus.SENT, other.sids[0])


# -- broadcasts with nobody left to send to -------------------------------------------------------

def test_a_broadcast_that_queues_nobody_is_done_at_once(db: Session, sessions: sessionmaker[Session]) -> None:
    broadcast = broadcasts.create(db, body="Thông báo", audience=AudienceKind.UPLOAD, spec={}, created_by="user:hoa",
                                  now=NOW)
    broadcasts.upload(db, broadcast, [phone(1), phone(2)])
    for n in (1, 2):
        set_broadcast_opt_out(db, phone(n), opted_out=True, now=NOW)
    broadcasts.schedule(db, broadcast, send_at=NOW, now=NOW)
    assert broadcasts.enqueue_due(db, now=NOW, policy=SMS) == 0
    db.commit()
    assert (broadcast.recipients, broadcast.skipped_opted_out) == (0, 2)
    assert dispatch(sessions, Recorder()) == Counter()
    assert status_of(sessions, broadcast.id) is BroadcastStatus.DONE


def test_a_broadcast_resumed_with_nothing_left_to_send_is_done(db: Session, sessions: sessionmaker[Session]) -> None:
    broadcast_id = queued_broadcast(db, [phone(1)])

    class PausedMidSend(Recorder):
        def send(self, message: Outgoing) -> SendResult:
            assert act(sessions, "pause", broadcast_id) == 0  # its only message is already on its way
            return super().send(message)

    assert dispatch(sessions, PausedMidSend()) == Counter(sent=1)
    assert status_of(sessions, broadcast_id) is BroadcastStatus.PAUSED
    assert act(sessions, "resume", broadcast_id) == 0
    assert status_of(sessions, broadcast_id) is BroadcastStatus.DONE
