"""Outbound call campaigns: the list, the hours and rate of calling, and what became of each person.

A campaign's list is read like a broadcast's (`notifications.broadcasts`: the same CSV reader and
number checks), except that a call reaches landlines too: only numbers that cannot take a call
from us (short codes, toll-free, premium) are refused. Calls are placed only within the campaign's
hours on the province's working days, and at most `rate_per_minute` in any 60 seconds however
many schedulers run: each claim first writes the campaign's row, which serialises the claims of
one campaign on both engines (PostgreSQL's row lock, SQLite's write lock), then counts the calls
placed in the last minute and takes what room is left with conditional UPDATEs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, func, insert, select, update
from sqlalchemy.orm import Session

from booking.calendar import ProvinceCalendar
from booking.errors import BookingError
from booking.i18n import N_
from booking.models import Campaign, CampaignStatus, CampaignTarget, TargetStatus
from booking.models.campaigns import FINISHED
from booking.phones import PhoneKind, parse_phone
from notifications.broadcasts import UploadReport, _numbers, text_lines

CALLABLE = (PhoneKind.MOBILE, PhoneKind.LANDLINE)
RATE_WINDOW = timedelta(seconds=60)
STALE_CLAIM = timedelta(minutes=10)
# A placed call whose status callback never came (Twilio gave up on our webhook): counted as not reached.
LOST_CALL = timedelta(hours=1)
# Twilio's CallStatus values that mean nobody answered (the call may be tried again).
UNANSWERED = frozenset({"no-answer", "busy", "failed", "canceled"})


class CampaignRefused(BookingError):
    code = "campaign_refused"


NOT_DRAFT = N_("Numbers can be added only to a campaign that has not started.")
BAD_RATE = N_("The rate must be between 1 and 60 calls a minute.")
BAD_ATTEMPTS = N_("The number of attempts must be between 1 and 10.")
BAD_DELAY = N_("The wait before calling again must be between 1 and 1440 minutes.")
BAD_HOURS = N_("The hours of calling must start before they end.")
NO_NUMBERS = N_("The list holds no number that can be called.")
CANNOT = N_("The campaign cannot be changed this way in its present state.")


def check_settings(*, rate: int, attempts: int, retry_minutes: int, starts: Any, ends: Any) -> None:
    if not 1 <= rate <= 60:
        raise CampaignRefused(BAD_RATE)
    if not 1 <= attempts <= 10:
        raise CampaignRefused(BAD_ATTEMPTS)
    if not 1 <= retry_minutes <= 1440:
        raise CampaignRefused(BAD_DELAY)
    if starts >= ends:
        raise CampaignRefused(BAD_HOURS)


def upload(session: Session, campaign: Campaign, data: bytes, *, keep_errors: int = 1000) -> UploadReport:
    """Read the uploaded list (as for broadcasts) and keep each callable number once."""
    if campaign.status is not CampaignStatus.DRAFT:
        raise CampaignRefused(NOT_DRAFT)
    report = UploadReport()
    seen = set(session.scalars(select(CampaignTarget.phone).where(CampaignTarget.campaign_id == campaign.id)))
    rows: list[dict[str, Any]] = []
    for line_no, text in _numbers(text_lines(data)):
        try:
            phone = parse_phone(text)
        except BookingError:
            phone = None
        if phone is None or phone.kind not in CALLABLE:
            report.refused += 1
            if len(report.errors) < keep_errors:
                report.errors.append((line_no, text, "invalid" if phone is None else "not_callable"))
            continue
        if phone.number in seen:
            report.duplicates += 1
            continue
        seen.add(phone.number)
        rows.append({"campaign_id": campaign.id, "phone": phone.number, "status": TargetStatus.PENDING,
                     "attempts": 0})
        report.kept += 1
    for start in range(0, len(rows), 5000):
        session.execute(insert(CampaignTarget), rows[start:start + 5000])
    campaign.targets_count += report.kept
    campaign.duplicates_count += report.duplicates
    campaign.refused_count += report.refused
    return report


# -- hours and rate -------------------------------------------------------------------------------

def within_hours(session: Session, campaign: Campaign, now: datetime, tz: ZoneInfo) -> bool:
    """A working day of the province calendar (not a weekend, holiday or bridge day) within the hours."""
    local = now.astimezone(tz)
    weekday = ProvinceCalendar.load(session, local.date(), local.date()).rule(local.date()).template_weekday
    working = weekday is not None and weekday < 5
    return working and campaign.hours_start <= local.time().replace(tzinfo=None) < campaign.hours_end


@dataclass(frozen=True)
class Claimed:
    target_id: int
    campaign_id: int
    phone: str
    attempt: int


def running(session: Session) -> list[int]:
    return list(session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING)
                                .order_by(Campaign.id)))


def claim_due(session: Session, campaign_id: int, *, now: datetime, tz: ZoneInfo) -> list[Claimed]:
    """The targets to call now, each marked calling by this claim alone (commit before calling)."""
    touched = cast(CursorResult[Any], session.execute(
        update(Campaign).where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.RUNNING)
        .values(updated_at=now)))
    if not touched.rowcount:
        return []
    # A claim whose call was never placed (its scheduler died before calling): to be called again.
    session.execute(update(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.status == TargetStatus.CALLING,
        CampaignTarget.last_call_sid.is_(None), CampaignTarget.last_attempt_at < now - STALE_CLAIM)
        .values(status=TargetStatus.PENDING))
    campaign = session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None or not within_hours(session, campaign, now, tz):
        return []
    recent = session.scalar(select(func.count()).select_from(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.last_attempt_at > now - RATE_WINDOW)) or 0
    room = campaign.rate_per_minute - recent
    if room <= 0:
        return []
    due = select(CampaignTarget.id, CampaignTarget.phone, CampaignTarget.attempts).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.status == TargetStatus.PENDING,
        (CampaignTarget.next_attempt_at.is_(None)) | (CampaignTarget.next_attempt_at <= now),
    ).order_by(CampaignTarget.next_attempt_at.is_not(None), CampaignTarget.next_attempt_at,
               CampaignTarget.id).limit(room)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = []
    for target_id, phone, attempts in session.execute(due).all():
        done = cast(CursorResult[Any], session.execute(
            update(CampaignTarget).where(CampaignTarget.id == target_id,
                                         CampaignTarget.status == TargetStatus.PENDING)
            .values(status=TargetStatus.CALLING, attempts=CampaignTarget.attempts + 1, last_attempt_at=now,
                    next_attempt_at=None, last_call_sid=None)))
        if done.rowcount:
            claimed.append(Claimed(target_id, campaign_id, phone, attempts + 1))
    return claimed


# -- what became of a call ------------------------------------------------------------------------

def lost_calls(session: Session, campaign_id: int, *, now: datetime) -> list[CampaignTarget]:
    """Targets still being called an hour after the call was placed: its end was never reported."""
    return list(session.scalars(select(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id, CampaignTarget.status == TargetStatus.CALLING,
        CampaignTarget.last_call_sid.is_not(None), CampaignTarget.last_attempt_at < now - LOST_CALL)
        .with_for_update()))


def placed(session: Session, target_id: int, sid: str) -> None:
    session.execute(update(CampaignTarget).where(CampaignTarget.id == target_id).values(last_call_sid=sid))


def not_reached(session: Session, target: CampaignTarget, *, now: datetime, refused: bool) -> TargetStatus:
    """No answer, busy, failed (or refused by the Calls API): called again after the delay, or given up."""
    campaign = session.get(Campaign, target.campaign_id)
    assert campaign is not None
    if target.attempts < campaign.max_attempts and campaign.status is not CampaignStatus.CANCELLED:
        target.status = TargetStatus.PENDING
        target.next_attempt_at = now + timedelta(minutes=campaign.retry_minutes)
    else:
        target.status = TargetStatus.FAILED if refused else TargetStatus.UNREACHABLE
    return target.status


def finish(session: Session, target: CampaignTarget, status: TargetStatus, *, booking_id: int | None = None) -> bool:
    """The call came to `status` (booked, declined); False when the target already had an outcome."""
    if target.status in FINISHED:
        return False
    target.status = status
    if booking_id is not None:
        target.booking_id = booking_id
    return True


def done_if_finished(session: Session, campaign_id: int, *, now: datetime) -> bool:
    """A running or paused campaign with nobody left to call is done."""
    left = session.scalar(select(func.count()).select_from(CampaignTarget).where(
        CampaignTarget.campaign_id == campaign_id,
        CampaignTarget.status.in_([TargetStatus.PENDING, TargetStatus.CALLING]))) or 0
    if left:
        return False
    done = cast(CursorResult[Any], session.execute(
        update(Campaign).where(Campaign.id == campaign_id,
                               Campaign.status.in_([CampaignStatus.RUNNING, CampaignStatus.PAUSED]))
        .values(status=CampaignStatus.DONE, updated_at=now)))
    return bool(done.rowcount)


def counts_of(session: Session, campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Targets by status, for each campaign (every status present, zero when none)."""
    ids = list(campaign_ids)
    found: dict[int, dict[str, int]] = {i: {s.value: 0 for s in TargetStatus} for i in ids}
    if not ids:
        return found
    for campaign_id, status, n in session.execute(
            select(CampaignTarget.campaign_id, CampaignTarget.status, func.count())
            .where(CampaignTarget.campaign_id.in_(ids))
            .group_by(CampaignTarget.campaign_id, CampaignTarget.status)).all():
        found[campaign_id][TargetStatus(status).value] = n
    return found


def outcomes_in(session: Session, *, office_ids: Collection[int] | None, start: datetime,
                end: datetime) -> dict[str, int]:
    """The people campaigns of these offices (None: every office) last called in [start, end), by outcome."""
    query = (select(CampaignTarget.status, func.count()).join(Campaign, Campaign.id == CampaignTarget.campaign_id)
             .where(CampaignTarget.last_attempt_at >= start, CampaignTarget.last_attempt_at < end)
             .group_by(CampaignTarget.status))
    if office_ids is not None:
        query = query.where(Campaign.office_id.in_(list(office_ids)))
    found = {s.value: 0 for s in TargetStatus}
    for status, n in session.execute(query).all():
        found[TargetStatus(status).value] = n
    return found


def forget_number(session: Session, number: str, *, marker: str, now: datetime) -> int:
    """A number erased at its owner's request: its targets keep their outcomes under `marker:id`, without a name;
    nobody calls a number still to be called (it counts as declined)."""
    rows = list(session.scalars(select(CampaignTarget).where(CampaignTarget.phone == number).with_for_update()))
    for target in rows:
        target.phone, target.name = f"{marker}:{target.id}", None
        if target.status is TargetStatus.PENDING:
            target.status = TargetStatus.DECLINED
    session.flush()
    for campaign_id in {t.campaign_id for t in rows}:
        done_if_finished(session, campaign_id, now=now)
    return len(rows)
