"""What managers do to an office: close it (and what becomes of the people booked), reopen it, change its
sessions, capacity and crowd limit. The same for the console's roster and settings pages and the API.

Each function authorises (`Actor.may_manage`; a province-wide closure is the administrators'), applies
`booking.office_settings` and `booking.rehousing`, tells the people affected and writes one audit
entry, in the caller's transaction.

When the people affected are told. Each gets one text about their own appointment (moved: where and
when it is now; cancelled: why, and to call the hotline), tied to their booking, in their language,
sent once however often the manager presses the button. A broadcast to "everyone booked those days"
could not say who was moved where, counts only those still booked when it is queued, and is written
in one language for all. The texts keep the SMS quiet hours (`SmsPolicy`) unless the appointment is
close at hand: one that starts within `CLOSE_AT_HAND` of the decision is told at once, even at night,
since by the end of the quiet hours the person may already be on the way; anyone else is told when
the quiet hours end. A moved appointment counts from its old time (that is when the person would
come). The rule is the same for every edge, because only this module decides it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select

from accounts.models import Role
from actions import audit, waitlist
from actions.audit import snapshot
from actions.context import Context
from actions.errors import NotAllowed
from booking import bookings, office_settings, rehousing
from booking.calendar import LATEST
from booking.errors import BookingError, NotFound
from booking.i18n import N_
from booking.lookup import get_or_not_found
from booking.models import (
    Booking, Channel, ChannelReserve, Closure, Office, OfficeSession, SessionOverride, SessionTemplate,
)
from booking.schedule import plan_session
from notifications import notices
from notifications.models import MessageKind, OutboxMessage

T = TypeVar("T")
CLOSE_AT_HAND = timedelta(hours=12)  # an appointment this near is told at once, quiet hours or not


class Disposition(StrEnum):
    """What becomes of the people booked in sessions that will not be held."""

    LEAVE = "leave"  # they stay booked, untold, for the manager to decide later
    CANCEL_AND_NOTIFY = "cancel_and_notify"  # cancelled, each told by SMS
    MOVE = "move"  # each moved to the soonest later session with room and told; whoever cannot be, cancelled and told


class Outcome(StrEnum):
    KEPT = "kept"
    CANCELLED = "cancelled"
    MOVED = "moved"


class PlanChanged(BookingError):
    """The bookings a confirmed closure affects are not those its preview showed."""

    code = "plan_changed"
    message = N_("The appointments on those days have changed since the preview: look at the new preview and "
                 "confirm again.")


@dataclass(frozen=True)
class Appointment:
    office_id: int
    date: date
    session: str
    queue: str
    arrival_start: time
    arrival_end: time

    @classmethod
    def of(cls, booking: Booking) -> Appointment:
        return cls(booking.office_id, booking.date, booking.session_code, booking.queue_label, booking.arrival_start,
                   booking.arrival_end)

    def plain(self) -> dict[str, Any]:
        return {"office_id": self.office_id, "date": self.date.isoformat(), "session": self.session,
                "queue": self.queue, "arrival": self.arrival_start.strftime("%H:%M")}


@dataclass(frozen=True)
class Fate:
    """What became of one booking: where it was, where it is now (moved), and when its text goes (None: none)."""

    code: str
    phone: str
    was: Appointment
    outcome: Outcome
    now_at: Appointment | None = None
    tried_to_move: bool = False  # cancelled because no later session had room
    notice_due: datetime | None = None

    def plain(self) -> dict[str, Any]:
        fate: dict[str, Any] = {"code": self.code, "was": self.was.plain(), "outcome": self.outcome.value}
        if self.now_at is not None:
            fate["now"] = self.now_at.plain()
        return fate


class _Fates:
    """What became of the people a change affects, counted the way the previews show them."""

    reason: str
    disposition: Disposition
    fates: tuple[Fate, ...]

    @property
    def affected(self) -> int:
        return len(self.fates)

    @property
    def moved(self) -> list[Fate]:
        return [f for f in self.fates if f.outcome is Outcome.MOVED]

    @property
    def cancelled(self) -> list[Fate]:
        return [f for f in self.fates if f.outcome is Outcome.CANCELLED]

    @property
    def cannot_move(self) -> list[Fate]:
        return [f for f in self.fates if f.tried_to_move]

    def _audited(self, **head: Any) -> dict[str, Any]:
        return {**head, "reason": self.reason, "disposition": self.disposition.value, "affected": self.affected,
                "bookings": [f.plain() for f in self.fates]}

    def _fingerprint(self, *head: object) -> str:
        material = json.dumps([*head, [f.plain() for f in self.fates]], sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ClosureOutcome(_Fates):
    """A closure as applied, or as it would be (`closure_id` None: a preview)."""

    closure_id: int | None
    office_id: int | None
    start: date
    end: date
    reason: str
    disposition: Disposition
    fates: tuple[Fate, ...]

    @property
    def fingerprint(self) -> str:
        """Names what the closure does to whom: a confirmation carries its preview's, and is refused if it differs."""
        return self._fingerprint(self.office_id, self.start.isoformat(), self.end.isoformat(), self.disposition.value)

    def audited(self) -> dict[str, Any]:
        """The audit entry's `after`, whichever edge closed the office."""
        return self._audited(closure_id=self.closure_id, office_id=self.office_id, start=self.start, end=self.end)


@dataclass(frozen=True)
class OverCapacity(_Fates):
    """The people booked beyond what one session now holds, moved or cancelled (or as they would be: a preview)."""

    office_id: int
    date: date
    session: str
    reason: str
    disposition: Disposition
    fates: tuple[Fate, ...]

    @property
    def fingerprint(self) -> str:
        """As a closure's: the confirmation carries the preview's, and is refused if the extras changed since."""
        return self._fingerprint(self.office_id, self.date.isoformat(), self.session, self.disposition.value)

    def audited(self) -> dict[str, Any]:
        return self._audited(date=self.date, session=self.session)


# -- who may -----------------------------------------------------------------------------------------

def _manages(ctx: Context, office_id: int) -> None:
    if not ctx.actor.may_manage(office_id):
        raise NotAllowed()


def _may_close(ctx: Context, office_id: int | None) -> None:
    """An office's managers close it; only administrators close the whole province."""
    if office_id is None:
        if not (ctx.actor.is_staff and ctx.actor.role is Role.ADMIN):
            raise NotAllowed()
    else:
        _manages(ctx, office_id)


def _audit(ctx: Context, action: str, target_type: str, target_id: object, *, office_id: int | None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    audit.record(ctx.db, actor=ctx.actor.name, action=action, target_type=target_type, target_id=target_id,
                 office_id=office_id, before=before, after=after, now=ctx.now, ip=ctx.actor.ip)


# -- what becomes of the people booked -------------------------------------------------------------

def _close_at_hand(ctx: Context, booking: Booking) -> bool:
    return rehousing.appointment_start(booking) - ctx.now <= CLOSE_AT_HAND


def _due(message: OutboxMessage | None) -> datetime | None:
    return None if message is None else message.due_at


def _dispose(ctx: Context, affected: list[Booking], disposition: Disposition, *, reason: str,
             kind: MessageKind) -> tuple[Fate, ...]:
    """Leave, cancel or move `affected` (in queue order), and text each person what became of them."""
    was = {b.id: (Appointment.of(b), _close_at_hand(ctx, b)) for b in affected}
    if disposition is Disposition.LEAVE:
        return tuple(Fate(b.code, b.phone, was[b.id][0], Outcome.KEPT) for b in affected)
    fates: dict[int, Fate] = {}
    left = affected
    if disposition is Disposition.MOVE:
        moved, left = rehousing.move_to_soonest(ctx.db, affected, actor=ctx.actor.history, now=ctx.now,
                                                policy=ctx.policy)
        for booking in moved:
            before, urgent = was[booking.id]
            sms = notices.closure_moved(ctx.db, booking, was=before.date, was_session=before.session, reason=reason,
                                        urgent=urgent, now=ctx.now, policy=ctx.sms, loc=ctx.loc(booking.language))
            fates[booking.id] = Fate(booking.code, booking.phone, before, Outcome.MOVED, Appointment.of(booking),
                                     notice_due=_due(sms))
    for booking in left:
        before, urgent = was[booking.id]
        booking = bookings.cancel(ctx.db, booking_id=booking.id, actor=ctx.actor.history, now=ctx.now,
                                  policy=ctx.policy, reason=reason)
        sms = notices.closure_cancelled(ctx.db, booking, reason=reason, kind=kind, urgent=urgent, now=ctx.now,
                                        policy=ctx.sms, loc=ctx.loc(booking.language))
        fates[booking.id] = Fate(booking.code, booking.phone, before, Outcome.CANCELLED,
                                 tried_to_move=disposition is Disposition.MOVE, notice_due=_due(sms))
    return tuple(fates[b.id] for b in affected)


# -- closures ---------------------------------------------------------------------------------------

def _close(ctx: Context, *, office_id: int | None, start: date, end: date, reason: str,
           disposition: Disposition) -> ClosureOutcome:
    _may_close(ctx, office_id)
    closure, affected = office_settings.close(ctx.db, office_id=office_id, start=start, end=end, reason=reason,
                                              actor=ctx.actor.name, now=ctx.now)
    fates = _dispose(ctx, affected, Disposition(disposition), reason=closure.reason, kind=MessageKind.CLOSURE)
    outcome = ClosureOutcome(closure.id, office_id, start, end, closure.reason, Disposition(disposition), fates)
    _audit(ctx, "office.close", "closure", closure.id, office_id=office_id, after=outcome.audited())
    return outcome


def preview_closure(ctx: Context, *, office_id: int | None, start: date, end: date, reason: str,
                    disposition: Disposition) -> ClosureOutcome:
    """What `close_office` would do now: who is booked those days, who would go where, who cannot be moved.

    It runs `close_office`'s own code in a savepoint and rolls the savepoint back, rather than
    working the moves out without writing: where each person can go depends on every rule of a
    move (room in the session and its arrival window, seats kept for channels, the person's other
    bookings, the people moved before them), and a second calculation of those would sooner or
    later disagree with the first. The price is a short write transaction (the office's plan lock)
    for the preview, which is rare and quick. Nothing of it remains: no closure, no texts, no audit.
    """
    return replace(_rolled_back(ctx, lambda: _close(ctx, office_id=office_id, start=start, end=end, reason=reason,
                                                    disposition=disposition)), closure_id=None)


def _rolled_back(ctx: Context, change: Callable[[], T]) -> T:
    """What `change` would do now, run in a savepoint that is rolled back: nothing of it remains."""
    savepoint = ctx.db.begin_nested()
    try:
        return change()
    finally:
        savepoint.rollback()


def close_office(ctx: Context, *, office_id: int | None, start: date, end: date, reason: str,
                 disposition: Disposition, expect: str | None = None) -> ClosureOutcome:
    """Close an office (None: every office) from `start` to `end`; leave, cancel or move those booked.

    With `expect`, the fingerprint of the preview the manager confirmed, a closure that would now
    do something else (someone booked or cancelled since, a later session filled up) is refused
    with `PlanChanged`, and nothing is written: the manager is shown the new preview.
    """
    outcome = _close(ctx, office_id=office_id, start=start, end=end, reason=reason, disposition=disposition)
    if expect is not None and expect != outcome.fingerprint:
        raise PlanChanged()
    return outcome


def _closure_state(closure: Closure) -> dict[str, Any]:
    return snapshot(closure, "office_id", "start_date", "end_date", "reason", "created_by")


def reopen(ctx: Context, *, closure_id: int, office_id: int | None = None) -> Closure:
    """Lift a closure; its sessions take bookings again (cancelled appointments stay cancelled).

    `office_id` is the office the request came through: a closure of another office is not found
    there. A province-wide closure is shown on every office's page but only administrators lift it.
    """
    closure = ctx.db.get(Closure, closure_id)
    if closure is None or (office_id is not None and closure.office_id not in (office_id, None)):
        raise NotFound()
    if closure.office_id is None and ctx.actor.role is not Role.ADMIN:
        raise NotFound()
    _may_close(ctx, closure.office_id)
    before = _closure_state(closure)
    office_settings.reopen(ctx.db, closure_id=closure_id)
    _audit(ctx, "office.reopen", "closure", closure_id, office_id=before["office_id"], before=before)
    return closure


# -- one session on one date -----------------------------------------------------------------------

def session_state(ctx: Context, office: Office, day: date, code: str) -> dict[str, Any]:
    """What the office holds in one session on one date, for the audit log."""
    planned = plan_session(ctx.db, office, day, code)
    row = ctx.db.scalar(select(OfficeSession).where(OfficeSession.office_id == office.id, OfficeSession.date == day,
                                                    OfficeSession.code == code))
    state: dict[str, Any] = {"date": day, "session": code, "in_plan": planned is not None}
    if planned is not None:
        state.update(start=planned.start_time, end=planned.end_time, capacity=planned.capacity)
    if row is not None:
        state.update(booked=row.booked, closed=row.closed)
    return state


def set_session_on_date(ctx: Context, *, office_id: int, day: date, code: str, capacity: int | None = None,
                        start: time | None = None, end: time | None = None, note: str = "") -> SessionOverride:
    """One session's capacity and/or hours on one date, or a session added that day.

    One end of the hours given is completed from the plan, so that the rule "starts before it ends"
    is checked on the hours the session will have. The current hours sent back (a form comes filled
    in with them) change no hours, and so do not trip the rule that a booked session keeps its hours.
    """
    _manages(ctx, office_id)
    office = get_or_not_found(ctx.db, Office, office_id)
    planned = plan_session(ctx.db, office, day, code)
    if planned is not None and (start is not None or end is not None):
        start, end = start or planned.start_time, end or planned.end_time
        if (start, end) == (planned.start_time, planned.end_time):
            start = end = None
    before = session_state(ctx, office, day, code)
    override = office_settings.set_session_for_date(ctx.db, office_id=office_id, day=day, code=code,
                                                    capacity=capacity, start=start, end=end, note=note)
    _audit(ctx, "session.change", "office", office_id, office_id=office_id, before=before,
           after=session_state(ctx, office, day, code))
    waitlist.offer_office(ctx, office_id=office_id)  # a raised capacity frees seats for those waiting
    return override


def cancel_session_on_date(ctx: Context, *, office_id: int, day: date, code: str, note: str = "",
                           disposition: Disposition = Disposition.LEAVE) -> tuple[Fate, ...]:
    """The office holds no such session that day; the people booked in it are left, cancelled or moved."""
    _manages(ctx, office_id)
    office = get_or_not_found(ctx.db, Office, office_id)
    before = session_state(ctx, office, day, code)
    affected = office_settings.cancel_session_for_date(ctx.db, office_id=office_id, day=day, code=code, note=note)
    fates = _dispose(ctx, affected, disposition, reason=note, kind=MessageKind.CANCELLATION)
    after = session_state(ctx, office, day, code) | {
        "cancelled": True, "disposition": disposition.value, "bookings": [f.code for f in fates],
        "fates": [f.plain() for f in fates]}
    _audit(ctx, "session.cancel", "office", office_id, office_id=office_id, before=before, after=after)
    return fates


class NothingToDecide(BookingError):
    """Leaving the people over a session's capacity as they are is no decision to confirm: they already are."""

    code = "invalid_settings"
    message = N_("Choose to move them or to cancel them.")


def _settle(ctx: Context, *, office_id: int, day: date, code: str, reason: str,
            disposition: Disposition) -> OverCapacity:
    _manages(ctx, office_id)
    if disposition is Disposition.LEAVE:
        raise NothingToDecide()
    office_settings.lock_plans(ctx.db, office_id)  # as a closure: the plan first, then the sessions moved into
    extras = office_settings.beyond_capacity(ctx.db, office_id=office_id, start=day, end=day, code=code)
    fates = _dispose(ctx, extras.get((day, code), []), disposition, reason=reason, kind=MessageKind.CANCELLATION)
    outcome = OverCapacity(office_id, day, code, reason, disposition, fates)
    _audit(ctx, "session.over_capacity", "office", office_id, office_id=office_id, after=outcome.audited())
    return outcome


def preview_over_capacity(ctx: Context, *, office_id: int, day: date, code: str, reason: str,
                          disposition: Disposition) -> OverCapacity:
    """Who is booked beyond what the session now holds and where each would go: `settle_over_capacity`'s own
    code, rolled back (see `preview_closure`)."""
    return _rolled_back(ctx, lambda: _settle(ctx, office_id=office_id, day=day, code=code, reason=reason,
                                             disposition=disposition))


def settle_over_capacity(ctx: Context, *, office_id: int, day: date, code: str, reason: str,
                         disposition: Disposition, expect: str | None = None) -> OverCapacity:
    """Move (or cancel) exactly the people booked beyond the session's capacity or crowd limit, each told once.

    After a lower capacity or crowd limit the seats already taken stay taken (`booking.office_settings`
    drops nobody); the extras are the last booked (`beyond_capacity`). Moved as a closure moves people
    (`booking.rehousing`: the soonest later session with room, and cancelled if there is none), and
    refused with `PlanChanged` if `expect` is not what the session's extras would now undergo.
    """
    outcome = _settle(ctx, office_id=office_id, day=day, code=code, reason=reason, disposition=disposition)
    if expect is not None and expect != outcome.fingerprint:
        raise PlanChanged()
    return outcome


# -- the office's usual week, crowd limit and reserves --------------------------------------------

def _template_state(template: SessionTemplate | None) -> dict[str, Any] | None:
    return None if template is None else snapshot(template, "weekday", "code", "start_time", "end_time", "capacity")


def _template(ctx: Context, office_id: int, weekday: int, code: str) -> SessionTemplate | None:
    return ctx.db.scalar(select(SessionTemplate).where(
        SessionTemplate.office_id == office_id, SessionTemplate.weekday == weekday, SessionTemplate.code == code))


def set_template(ctx: Context, *, office_id: int, weekday: int, code: str, start: time, end: time,
                 capacity: int) -> SessionTemplate:
    """Add or change one session of the usual week."""
    _manages(ctx, office_id)
    before = _template_state(_template(ctx, office_id, weekday, code))
    template = office_settings.set_template(ctx.db, office_id=office_id, weekday=weekday, code=code, start=start,
                                            end=end, capacity=capacity)
    _audit(ctx, "template.set", "office", office_id, office_id=office_id, before=before,
           after=_template_state(template))
    waitlist.offer_office(ctx, office_id=office_id)
    return template


def _today(ctx: Context, office: Office) -> date:
    return ctx.now.astimezone(ZoneInfo(office.timezone)).date()


def remove_template(ctx: Context, *, office_id: int, weekday: int, code: str) -> list[Booking]:
    """Drop one session of the usual week; returns the people still booked on its coming dates."""
    _manages(ctx, office_id)
    office = get_or_not_found(ctx.db, Office, office_id)
    template = _template(ctx, office_id, weekday, code)
    if template is None:
        raise NotFound()
    before = _template_state(template)
    office_settings.remove_template(ctx.db, office_id=office_id, weekday=weekday, code=code)
    _audit(ctx, "template.remove", "office", office_id, office_id=office_id, before=before)
    return [b for b in office_settings.stranded_bookings(ctx.db, start=_today(ctx, office), end=LATEST,
                                                         office_id=office_id, code=code)
            if b.date.weekday() == weekday]


def set_crowd_limit(ctx: Context, *, office_id: int, crowd_limit: int, window_minutes: int | None = None) -> Office:
    """How many may be on the premises at once; sessions from today on are spread again."""
    _manages(ctx, office_id)
    office = get_or_not_found(ctx.db, Office, office_id)
    before = snapshot(office, "crowd_limit", "window_minutes")
    office = office_settings.set_crowd_limit(ctx.db, office_id=office_id, crowd_limit=crowd_limit,
                                             window_minutes=window_minutes, today=_today(ctx, office))
    _audit(ctx, "office.crowd_limit", "office", office_id, office_id=office_id, before=before,
           after=snapshot(office, "crowd_limit", "window_minutes"))
    waitlist.offer_office(ctx, office_id=office_id)
    return office


RESERVE_FIELDS = ("session_code", "channel", "seats", "release_minutes_before")


def set_channel_reserve(ctx: Context, *, office_id: int, session_code: str, channel: Channel, seats_kept: int,
                        release_minutes_before: int) -> ChannelReserve:
    """Seats of a session kept for one channel until a time before it."""
    _manages(ctx, office_id)
    existing = ctx.db.scalar(select(ChannelReserve).where(
        ChannelReserve.office_id == office_id, ChannelReserve.session_code == session_code,
        ChannelReserve.channel == channel))
    before = snapshot(existing, *RESERVE_FIELDS) if existing is not None else None
    saved = office_settings.set_channel_reserve(ctx.db, office_id=office_id, session_code=session_code,
                                                channel=channel, seats_kept=seats_kept,
                                                release_minutes_before=release_minutes_before)
    _audit(ctx, "reserve.set", "office", office_id, office_id=office_id, before=before,
           after=snapshot(saved, *RESERVE_FIELDS))
    return saved
