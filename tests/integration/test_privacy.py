"""Personal data kept only as long as needed (issue 13, Law 91/2025/QH15): the nightly purge, a citizen's
export and erasure, on both engines.

The test clock is Monday 1 March 2027, 09:00. With the default retention a booking dated before
1 March 2026 has expired, a sent SMS created before 1 December 2026, a call started before 30 January
2027, a failed sign-in before 1 December 2026, and an audit entry is deleted when written before
2 March 2022.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import LoginAttempt, Role
from actions import audit, privacy
from actions import bookings as booking_actions
from actions.context import Actor, Context
from actions.errors import NotAllowed
from actions.models import AuditEntry
from actions.retention import ERASED, Retention, mask, purge
from booking import bookings
from booking.bookings import Actor as HistoryActor
from booking.errors import InvalidPhone
from booking.models import (Booking, BookingEvent, BookingStatus, CallbackRequest, Campaign, CampaignStatus,
                            CampaignTarget, Channel, Citizen, Hold, TargetStatus, WaitlistEntry, WaitlistStatus)
from booking.reports import Period, booking_report
from hotline.ivr.call_reports import call_report
from hotline.ivr.models import Call, CallOutcome
from hotline.scheduler import build, leadership_for
from notifications.models import (AudienceKind, Broadcast, BroadcastNumber, BroadcastStatus, MessageKind, MessageStatus,
                                  OutboxMessage)
from notifications.policy import SmsPolicy
from notifications.campaigns import outcomes_in as campaign_outcomes
from notifications.reports import sms_report
from tests.factories import NOW, OPERATOR, POLICY, VN, at, make_office, phone
from tests.integration.test_waitlist import full_office, join
from tests.outbox import PlainLocalizer

OLD_DAY, RECENT_DAY = date(2026, 2, 3), date(2026, 3, 3)  # a Tuesday a year and a month ago, and within the year
SENDER = HistoryActor(f"sms:{phone(7)}", Channel.WEB)  # an SMS reply's actor name carries the number
ADMIN = Actor.staff("user:admin", Role.ADMIN, frozenset())


def _ctx(db: Session, actor: Actor = ADMIN) -> Context:
    return Context(db=db, actor=actor, now=NOW, policy=POLICY, sms=SmsPolicy(), localizer=PlainLocalizer)


def _book(db: Session, office_id: int, day: date, n: int, *, name: str | None = "Nguyễn Văn An",
          code: str = "S") -> Booking:
    return bookings.book(db, office_id=office_id, day=day, code=code, phone=phone(n), actor=OPERATOR,
                         now=at(day.year, day.month, day.day - 1), policy=POLICY, name=name)


def _served(db: Session, booking: Booking) -> None:
    d = booking.date
    bookings.check_in(db, code=booking.code, actor=OPERATOR, now=at(d.year, d.month, d.day, 8))
    bookings.mark_served(db, booking_id=booking.id, actor=OPERATOR, now=at(d.year, d.month, d.day, 9))


def _sms(db: Session, n: int, status: MessageStatus, created: datetime, *, booking: Booking | None = None,
         broadcast: Broadcast | None = None) -> OutboxMessage:
    message = OutboxMessage(
        kind=MessageKind.BROADCAST if broadcast else MessageKind.CONFIRMATION, recipient=phone(n),
        body=f"Lịch hẹn của quý vị, số {phone(n)}", language="vi", encoding="ucs2", segments=2, urgent=False,
        status=status, due_at=created, attempts=1, booking_id=booking.id if booking else None,
        broadcast_id=broadcast.id if broadcast else None, error_message=f"Số {phone(n)} không nhận được",
        dedupe_key=f"broadcast:{broadcast.id}:{phone(n)}" if broadcast else None, created_at=created,
        params={"code": "123456789", "phone": phone(n)}, zalo_error=f"-124 {phone(n)} has no Zalo account",
        updated_at=created)
    db.add(message)
    return message


def _call(db: Session, sid: str, n: int, started: datetime, outcome: CallOutcome) -> Call:
    call = Call(sid=sid, caller=phone(n), state="goodbye", context={"office": "Năm Căn", "heard": "đặt lịch mai"},
                last_token="tok", last_response="<Response><Say>Nguyễn Văn An</Say></Response>", status="ended",
                started_at=started, updated_at=started, ended_at=started + timedelta(seconds=75),
                outcome=outcome, outcome_at=started, ended_in="goodbye", duration_seconds=75,
                booked_at=started + timedelta(seconds=40) if outcome is CallOutcome.BOOKED else None)
    db.add(call)
    return call


def _campaign(db: Session, office: int, status: CampaignStatus, ended: datetime,
              targets: list[tuple[int, TargetStatus]]) -> Campaign:
    campaign = Campaign(office_id=office, title="Mời làm căn cước", status=status, hours_start=time(8),
                        hours_end=time(17), created_by="user:hoa", created_at=ended - timedelta(days=7),
                        updated_at=ended, targets_count=len(targets))
    db.add(campaign)
    db.flush()
    for n, outcome in targets:
        called = outcome is not TargetStatus.PENDING
        db.add(CampaignTarget(campaign_id=campaign.id, phone=phone(n), name="Lý Thị Hoa", status=outcome,
                              attempts=1 if called else 0, last_attempt_at=ended - timedelta(days=1) if called else None))
    return campaign


@pytest.fixture
def office(db: Session) -> int:
    return make_office(db, code="NAMCAN", name="Trung tâm Phục vụ hành chính công xã Năm Căn").id


@pytest.fixture
def records(db: Session, office: int) -> dict[str, int]:
    """A year and more of records, some expired and some not, committed."""
    old = [_book(db, office, OLD_DAY, 1), _book(db, office, OLD_DAY, 2, name="Trần Thị Bình")]
    for b in old:
        _served(db, b)
    cancelled = _book(db, office, OLD_DAY, 3, code="C")
    bookings.cancel(db, booking_id=cancelled.id, actor=SENDER, now=at(2026, 2, 2, 10), policy=POLICY,
                    reason="Tôi là Lê Văn Cường, bận việc")
    recent = _book(db, office, RECENT_DAY, 4, name="Phạm Thị Dung")
    _served(db, recent)
    db.add(Citizen(phone=phone(8), name="Võ Văn Em", broadcast_opt_out=True, opted_out_at=at(2025, 5, 1),
                   created_at=at(2025, 5, 1)))
    done = Broadcast(body="Thông báo", audience=AudienceKind.UPLOAD, audience_spec={}, status=BroadcastStatus.DONE,
                     recipients=2, created_by="user:admin", created_at=at(2026, 10, 1), updated_at=at(2026, 10, 1))
    db.add(done)
    db.flush()
    db.add_all([BroadcastNumber(broadcast_id=done.id, phone=phone(1)),
                BroadcastNumber(broadcast_id=done.id, phone=phone(5))])
    for n, status in ((1, WaitlistStatus.EXPIRED), (6, WaitlistStatus.WAITING)):
        db.add(WaitlistEntry(office_id=office, session_id=old[0].session_id, date=OLD_DAY, session_code="S",
                             phone=phone(n), name="Hồ Văn Giàu", channel=Channel.IVR, created_by="ivr:CA1",
                             status=status, created_at=at(2026, 2, 1), updated_at=at(2026, 2, 3)))
    for n, when in ((5, at(2026, 6, 1)), (7, at(2027, 2, 1))):  # drafts nobody sent: the older one's list expires
        draft = Broadcast(body="Nháp", audience=AudienceKind.UPLOAD, audience_spec={}, status=BroadcastStatus.DRAFT,
                          recipients=0, created_by="user:admin", created_at=when, updated_at=when)
        db.add(draft)
        db.flush()
        db.add(BroadcastNumber(broadcast_id=draft.id, phone=phone(n)))
    _campaign(db, office, CampaignStatus.DONE, at(2026, 2, 10), [
        (1, TargetStatus.BOOKED), (2, TargetStatus.DECLINED), (3, TargetStatus.UNREACHABLE)])
    _campaign(db, office, CampaignStatus.CANCELLED, at(2026, 2, 12), [(5, TargetStatus.PENDING)])
    _campaign(db, office, CampaignStatus.PAUSED, at(2026, 2, 12), [(6, TargetStatus.FAILED)])  # not over yet
    _campaign(db, office, CampaignStatus.DONE, at(2027, 1, 5), [(4, TargetStatus.DECLINED)])  # within the year
    _sms(db, 1, MessageStatus.DELIVERED, at(2026, 2, 2), booking=old[0])
    _sms(db, 5, MessageStatus.FAILED, at(2026, 10, 1), broadcast=done)
    _sms(db, 2, MessageStatus.QUEUED, at(2026, 10, 2), booking=old[1])  # never sent: kept until it is
    _sms(db, 4, MessageStatus.SENT, at(2027, 2, 1), booking=recent)
    _call(db, "CA-old", 1, at(2027, 1, 10), CallOutcome.BOOKED)
    _call(db, "CA-old-hangup", 6, at(2026, 6, 1), CallOutcome.HUNG_UP)
    _call(db, "CA-new", 4, at(2027, 2, 20), CallOutcome.CHECKED)
    db.flush()  # a call-back points at its call
    db.add_all([
        CallbackRequest(phone=phone(1), call_sid="CA-old", context={"office": "Năm Căn"}, requested_at=at(2027, 1, 10),
                        done_at=at(2027, 1, 10, 11), done_by="user:lan", note="Đã gọi lại cho anh An"),
        CallbackRequest(phone=phone(6), context={"office": "Năm Căn"}, requested_at=at(2027, 1, 5)),  # still open
        CallbackRequest(phone=phone(4), context={}, requested_at=at(2027, 2, 20), done_at=at(2027, 2, 20, 10),
                        done_by="user:lan", note="Đã gọi"),
        LoginAttempt(username="lan", ip="203.0.113.5", at=at(2026, 11, 1)),
        LoginAttempt(username="lan", ip="203.0.113.5", at=at(2027, 2, 1)),
    ])
    audit.record(db, actor="user:lan", action="booking.create", target_type="booking", target_id=old[0].code,
                 now=at(2026, 2, 2), office_id=office, after={"phone": phone(1), "date": OLD_DAY, "status": "booked"})
    audit.record(db, actor=f"sms:{phone(3)}", action="citizen.notices_off", target_type="citizen",
                 target_id=phone(3), now=at(2026, 2, 1), after={"receives_notices": False})
    audit.record(db, actor="user:lan", action="booking.create", target_type="booking", target_id=recent.code,
                 now=at(2026, 3, 2), office_id=office, after={"phone": phone(4)})
    audit.record(db, actor="user:admin", action="office.update", target_type="office", target_id=office,
                 now=at(2021, 6, 1), after={"name": "Năm Căn"})
    db.commit()
    return {"old": old[0].id, "old2": old[1].id, "cancelled": cancelled.id, "recent": recent.id}


def _fresh(db: Session) -> None:
    db.rollback()
    db.expire_all()


def test_the_purge_anonymises_what_has_expired_and_keeps_the_rest(db: Session, sessions: sessionmaker[Session],
                                                                    records: dict[str, int]) -> None:
    counts = purge(sessions.begin, now=NOW, tz=VN, retention=Retention(), size=2)  # batches of two
    assert counts == {"bookings": 3, "waitlist": 1, "messages": 2, "broadcast_numbers": 3, "campaign_targets": 4,
                      "calls": 2, "callbacks": 1, "citizens": 4, "login_attempts": 1, "audit_redacted": 2,
                      "audit_deleted": 1}
    _fresh(db)
    old, old2, cancelled, recent = (db.get(Booking, records[k]) for k in ("old", "old2", "cancelled", "recent"))
    assert old and old2 and cancelled and recent
    # Same session, both still "served": each gets a marker of its own, so the one-live-booking index holds.
    assert (old.phone, old.name, old2.phone, old2.name) == (f"{ERASED}:{old.id}", None, f"{ERASED}:{old2.id}", None)
    assert (old.office_id, old.date, old.session_code, old.status, old.channel) == (
        recent.office_id, OLD_DAY, "S", BookingStatus.SERVED, Channel.OPERATOR)
    assert (recent.phone, recent.name) == (phone(4), "Phạm Thị Dung")
    events = {e.action: e for e in db.scalars(select(BookingEvent).where(BookingEvent.booking_id == cancelled.id))}
    assert events["cancelled"].detail == {} and events["cancelled"].actor == "sms:erased"
    messages = {m.recipient: m for m in db.scalars(select(OutboxMessage).where(OutboxMessage.recipient != ERASED))}
    erased = list(db.scalars(select(OutboxMessage).where(OutboxMessage.recipient == ERASED)))
    assert sorted(m.status for m in erased) == [MessageStatus.DELIVERED, MessageStatus.FAILED]
    assert all(m.body == "" and m.error_message is None and m.dedupe_key is None and m.segments == 2 for m in erased)
    assert all(m.params is None and m.zalo_error == ERASED for m in erased)  # that Zalo failed is counted
    assert messages[phone(2)].status is MessageStatus.QUEUED and phone(2) in messages[phone(2)].body  # not sent yet
    assert messages[phone(4)].body.endswith(phone(4))
    waiting = {e.status: e for e in db.scalars(select(WaitlistEntry))}
    assert (waiting[WaitlistStatus.EXPIRED].phone, waiting[WaitlistStatus.EXPIRED].name) == (
        f"{ERASED}:w{waiting[WaitlistStatus.EXPIRED].id}", None)
    assert waiting[WaitlistStatus.WAITING].phone == phone(6)  # still in line: it may yet be offered a seat
    assert db.scalars(select(BroadcastNumber.phone)).all() == [phone(7)]  # the recent draft's list stays
    assert db.scalars(select(Broadcast.recipients).where(Broadcast.status == BroadcastStatus.DONE)).one() == 2
    targets = {t.id: t for t in db.scalars(select(CampaignTarget))}
    kept = {t.phone: t for t in targets.values() if not t.phone.startswith(ERASED)}
    assert set(kept) == {phone(4), phone(6)} and all(t.name == "Lý Thị Hoa" for t in kept.values())
    gone = [t for t in targets.values() if t.phone.startswith(ERASED)]
    assert all((t.phone, t.name) == (f"{ERASED}:{t.id}", None) for t in gone)
    assert sorted(t.status for t in gone) == sorted([TargetStatus.BOOKED, TargetStatus.DECLINED,
                                                     TargetStatus.UNREACHABLE, TargetStatus.PENDING])
    assert all(t.attempts == 1 and t.last_attempt_at == at(2026, 2, 9) for t in gone if t.status is not TargetStatus.PENDING)
    calls = {c.sid: c for c in db.scalars(select(Call))}
    for sid in ("CA-old", "CA-old-hangup"):
        assert (calls[sid].caller, calls[sid].context, calls[sid].last_response, calls[sid].last_token) == (
            ERASED, {}, "", None)
        assert calls[sid].duration_seconds == 75 and calls[sid].ended_in == "goodbye"
    assert calls["CA-new"].caller == phone(4) and calls["CA-new"].context["heard"] == "đặt lịch mai"
    callbacks = {c.requested_at: c for c in db.scalars(select(CallbackRequest))}
    assert (callbacks[at(2027, 1, 10)].phone, callbacks[at(2027, 1, 10)].note) == (ERASED, "")
    assert callbacks[at(2027, 1, 5)].phone == phone(6)  # still waiting for its call back
    assert callbacks[at(2027, 2, 20)].phone == phone(4)
    # The old bookings' citizens go; the recent one's stays; an opt-out stays, nameless; the open
    # call-back's number stays.
    citizens = {c.phone: c for c in db.scalars(select(Citizen))}
    assert set(citizens) == {phone(4), phone(8)} and citizens[phone(8)].name is None
    assert citizens[phone(8)].broadcast_opt_out
    assert [a.at for a in db.scalars(select(LoginAttempt))] == [at(2027, 2, 1)]
    entries = {e.at: e for e in db.scalars(select(AuditEntry))}
    assert set(entries) == {at(2026, 2, 2), at(2026, 2, 1), at(2026, 3, 2)}  # the 2021 entry is gone
    assert entries[at(2026, 2, 2)].after == {"phone": ERASED, "date": "2026-02-03", "status": "booked"}
    assert (entries[at(2026, 2, 1)].actor, entries[at(2026, 2, 1)].target_id) == ("sms:erased", ERASED)
    assert entries[at(2026, 3, 2)].after == {"phone": phone(4)}


def test_a_second_purge_changes_nothing(db: Session, sessions: sessionmaker[Session], records: dict[str, int]) -> None:
    first = purge(sessions.begin, now=NOW, tz=VN, retention=Retention())
    again = purge(sessions.begin, now=NOW, tz=VN, retention=Retention())
    assert any(first.values()) and set(again.values()) == {0}


def test_reports_count_the_same_after_the_purge(db: Session, sessions: sessionmaker[Session],
                                                records: dict[str, int], office: int) -> None:
    period = Period(date(2026, 1, 1), date(2026, 12, 31))
    calls = Period(date(2026, 6, 1), date(2027, 2, 28))
    start, end = at(2026, 1, 1, 0), at(2027, 3, 1, 0)

    def figures() -> tuple[object, ...]:
        _fresh(db)
        result = (booking_report(db, office_ids=None, period=period, today=NOW.astimezone(VN).date()),
                  booking_report(db, office_ids=[office], period=period, today=NOW.astimezone(VN).date()),
                  sms_report(db, start=start, end=end, office_ids=None),
                  sms_report(db, start=start, end=end, office_ids=[office]),
                  call_report(db, period=calls, tz=VN),
                  campaign_outcomes(db, office_ids=None, start=start, end=end),
                  campaign_outcomes(db, office_ids=[office], start=start, end=end))
        db.rollback()
        return result

    before = figures()
    assert before[0].total.total == 4 and before[2].total.total == 4 and before[4].calls == 3  # type: ignore[attr-defined]
    assert before[5] == before[6] == {"pending": 0, "calling": 0, "booked": 1, "declined": 2, "unreachable": 1,
                                      "failed": 1}
    purge(sessions.begin, now=NOW, tz=VN, retention=Retention())
    assert figures() == before


def test_a_shorter_retention_purges_more(db: Session, sessions: sessionmaker[Session], records: dict[str, int]) -> None:
    counts = purge(sessions.begin, now=NOW, tz=VN, retention=Retention(booking_days=300, call_days=1))
    assert counts["bookings"] == 4 and counts["calls"] == 3


# -- a citizen's own data --------------------------------------------------------------------------

def test_export_gives_everything_under_a_number_however_it_is_written(db: Session, records: dict[str, int]) -> None:
    data = privacy.export(_ctx(db), phone="098 000 0001")
    assert data["phone"] == phone(1)
    assert [b["name"] for b in data["bookings"]] == ["Nguyễn Văn An"]
    assert data["bookings"][0]["office"] == "Trung tâm Phục vụ hành chính công xã Năm Căn"
    assert [h["action"] for h in data["bookings"][0]["history"]][:1] == ["created"]
    assert [m["text"] for m in data["messages"]] == [f"Lịch hẹn của quý vị, số {phone(1)}"]
    assert [c["outcome"] for c in data["calls"]] == ["booked"] and data["calls"][0]["collected"]["office"] == "Năm Căn"
    assert [c["note"] for c in data["callbacks"]] == ["Đã gọi lại cho anh An"]
    assert len(data["broadcast_lists"]) == 1 and data["citizen"]["name"] == "Nguyễn Văn An"
    assert [(w["status"], w["name"]) for w in data["waitlist"]] == [("expired", "Hồ Văn Giàu")]
    assert [(t["campaign"], t["status"], t["name"], t["attempts"]) for t in data["campaign_targets"]] == [
        ("Mời làm căn cước", "booked", "Lý Thị Hoa", 1)]
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.export")).one()
    assert (entry.actor, entry.target_id, entry.after) == ("user:admin", mask(phone(1)), {
        "bookings": 1, "messages": 1, "calls": 1, "callbacks": 1, "waitlist": 1, "broadcast_lists": 1,
        "campaign_targets": 1})
    assert "0000001" not in str((entry.target_id, entry.after))


def test_only_administrators_export_or_erase(db: Session, records: dict[str, int], office: int) -> None:
    for actor in (Actor.staff("user:lan", Role.OPERATOR, frozenset()),
                  Actor.staff("user:hoa", Role.MANAGER, frozenset({office})),
                  Actor.caller("CA1", verified_mobile=phone(1)), Actor.sms_sender(phone(1))):
        with pytest.raises(NotAllowed):
            privacy.export(_ctx(db, actor), phone=phone(1))
        with pytest.raises(NotAllowed):
            privacy.erase(_ctx(db, actor), phone=phone(1))
    with pytest.raises(InvalidPhone):
        privacy.export(_ctx(db), phone="not a number")


def test_erasure_anonymises_a_number_everywhere_and_audits_only_its_last_digits(
        db: Session, records: dict[str, int]) -> None:
    live = _call(db, "CA-live", 1, NOW - timedelta(minutes=1), CallOutcome.CHECKED)
    live.status, live.ended_at, live.outcome = "active", None, None
    db.commit()
    result = privacy.erase(_ctx(db), phone="0980000001")
    db.commit()
    assert result.cancelled == [] and result.counts["bookings"] == 1 and result.counts["calls"] == 1
    assert result.counts["waitlist"] == 1 and result.counts["campaign_targets"] == 1
    _fresh(db)
    old = db.get(Booking, records["old"])
    assert old and (old.phone, old.name, old.status) == (f"{ERASED}:{old.id}", None, BookingStatus.SERVED)
    assert db.scalars(select(OutboxMessage).where(OutboxMessage.recipient == phone(1))).all() == []
    assert db.scalars(select(Call.caller).where(Call.sid == "CA-old")).one() == ERASED
    on_the_line = db.get(Call, "CA-live")  # its next webhook needs what it collected
    assert on_the_line and on_the_line.caller == phone(1) and on_the_line.context["office"] == "Năm Căn"
    assert db.get(Citizen, phone(1)) is None
    assert sorted(db.scalars(select(BroadcastNumber.phone))) == [phone(5), phone(5), phone(7)]
    target = db.scalars(select(CampaignTarget).where(CampaignTarget.status == TargetStatus.BOOKED)).one()
    assert (target.phone, target.name, target.attempts) == (f"{ERASED}:{target.id}", None, 1)  # the outcome stays
    entries = list(db.scalars(select(AuditEntry)))
    assert not any(phone(1) in str((e.actor, e.target_id, e.before, e.after)) for e in entries)
    erased = next(e for e in entries if e.action == "privacy.erase")
    assert erased.target_id == "…001" and erased.after and erased.after["bookings"] == 1
    # Somebody else's records are untouched.
    assert db.get(Booking, records["recent"]).phone == phone(4)  # type: ignore[union-attr]
    assert privacy.export(_ctx(db), phone=phone(1))["bookings"] == []


def test_erasure_with_upcoming_bookings_asks_first_then_cancels_and_tells_the_person(
        db: Session, office: int) -> None:
    upcoming = bookings.book(db, office_id=office, day=date(2027, 3, 2), code="S", phone=phone(9), actor=OPERATOR,
                             now=NOW, policy=POLICY, name="Đỗ Thị Giang")
    db.commit()
    with pytest.raises(privacy.UpcomingBookings, match="1 upcoming"):
        privacy.erase(_ctx(db), phone=phone(9))
    db.rollback()
    assert db.get(Booking, upcoming.id).phone == phone(9)  # type: ignore[union-attr]
    result = privacy.erase(_ctx(db), phone=phone(9), cancel_upcoming=True)
    db.commit()
    assert result.cancelled == [upcoming.code]
    _fresh(db)
    booking = db.get(Booking, upcoming.id)
    assert booking and booking.status is BookingStatus.CANCELLED and booking.seat_released_at is not None
    assert booking.name is None and booking.phone.startswith(ERASED)
    # The cancellation notice still goes out; the nightly purge takes its text once it has been sent.
    notice = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == MessageKind.CANCELLATION)).one()
    assert notice.recipient == phone(9) and notice.status is MessageStatus.QUEUED
    assert db.scalars(select(AuditEntry.target_id).where(AuditEntry.action == "privacy.erase")).one() == "…009"


def test_erasure_takes_the_number_off_live_waitlists_and_passes_a_held_seat_on(db: Session) -> None:
    office_id = full_office(db)
    offered, next_in_line = join(db, office_id, 10, name="Mai Văn Hùng"), join(db, office_id, 11)
    booking_actions.cancel(_ctx(db), code=db.scalars(select(Booking.code).where(Booking.phone == phone(1))).one())
    db.commit()
    db.refresh(offered)
    hold_id = offered.hold_id
    assert offered.status is WaitlistStatus.OFFERED and hold_id is not None
    result = privacy.erase(_ctx(db), phone=phone(10))
    db.commit()
    assert result.counts["waitlist"] == 1
    _fresh(db)
    gone = db.get(WaitlistEntry, offered.id)
    assert gone and (gone.status, gone.phone, gone.name) == (WaitlistStatus.CANCELLED, f"{ERASED}:w{gone.id}", None)
    assert db.scalars(select(Hold).where(Hold.owner == f"waitlist:{offered.id}")).all() == []  # its hold released
    after = db.get(WaitlistEntry, next_in_line.id)
    assert after and after.status is WaitlistStatus.OFFERED and after.phone == phone(11)  # the seat went on
    left = db.scalars(select(AuditEntry).where(AuditEntry.action == "waitlist.leave")).one()
    assert (left.actor, left.target_id) == ("user:admin", str(offered.id))
    assert left.before and left.before["status"] == "offered" and left.after and left.after["phone"] == ERASED


# -- the nightly job -------------------------------------------------------------------------------

def test_the_leading_scheduler_purges_nightly_at_half_past_two_local_time(
        make_app: Callable[..., Flask], db: Session, records: dict[str, int]) -> None:
    app = make_app(retention_call_days=60)
    leadership = leadership_for(app, "solo")
    scheduler = build(app, leadership)
    job = scheduler.get_job("purge")
    fire = job.trigger.get_next_fire_time(None, NOW).astimezone(VN)
    assert (fire.date(), fire.hour, fire.minute) == (date(2027, 3, 2), 2, 30)
    assert job.func() is None  # not the leader yet: nothing is purged
    db.rollback()
    assert db.get(Booking, records["old"]).phone == phone(1)  # type: ignore[union-attr]
    db.rollback()
    assert leadership.tick() and leadership.leading
    counts = job.func()
    assert counts["bookings"] == 3 and counts["calls"] == 1  # the settings' retention: calls kept 60 days
    leadership.resign()


def test_an_administrator_may_run_the_purge_by_hand(make_app: Callable[..., Flask], db: Session,
                                                    records: dict[str, int]) -> None:
    result = make_app().test_cli_runner().invoke(args=["scheduler", "purge"])
    assert result.exit_code == 0, result.output
    assert "bookings: 3" in result.output and "login_attempts: 1" in result.output
    db.rollback()
    assert db.get(Booking, records["old"]).name is None  # type: ignore[union-attr]
