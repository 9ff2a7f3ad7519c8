"""Outbound call campaigns: a manager's list called within office hours to offer the soonest sessions.

Managers act on the campaigns of the offices they manage (administrators on all); every change is
audited, and so is what each call comes to (booked, declined, unreachable, failed). The scheduler's
side (`claim_due`, `call_placed`, `call_not_reached`) acts as the system; the call's own flow
records its booking or refusal through `booked` and `declined`, as the person called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from accounts.models import Role
from actions import audit
from actions.audit import snapshot
from actions.broadcasts import list_spec
from actions.context import Context
from actions.errors import NotAllowed
from booking.lookup import get_or_not_found
from booking.models import Campaign, CampaignStatus, CampaignTarget, Office, TargetStatus
from notifications import campaigns
from notifications.broadcasts import UploadReport
from notifications.campaigns import CANNOT, CampaignRefused, Claimed

SETTINGS = ("title", "language", "status", "rate_per_minute", "max_attempts", "retry_minutes", "hours_start",
            "hours_end", "targets_count")
# Which status each change leaves from, and where it goes.
CHANGES = {
    "start": ({CampaignStatus.DRAFT}, CampaignStatus.RUNNING),
    "pause": ({CampaignStatus.RUNNING}, CampaignStatus.PAUSED),
    "resume": ({CampaignStatus.PAUSED}, CampaignStatus.RUNNING),
    "cancel": ({CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED}, CampaignStatus.CANCELLED),
}


@dataclass(frozen=True)
class Created:
    campaign: Campaign
    report: UploadReport


def _audit(ctx: Context, action: str, campaign: Campaign, *, after: dict[str, Any],
           before: dict[str, Any] | None = None) -> None:
    audit.record(ctx.db, actor=ctx.actor.name, action=action, target_type="campaign", target_id=campaign.id,
                 office_id=campaign.office_id, before=before, after=after, now=ctx.now, ip=ctx.actor.ip)


def _may(ctx: Context, office_id: int) -> None:
    if not ctx.actor.may_manage(office_id):
        raise NotAllowed()


def _visible(ctx: Context, campaign_id: int, *, lock: bool = False) -> Campaign:
    campaign = get_or_not_found(ctx.db, Campaign, campaign_id, with_for_update=True if lock else None)
    _may(ctx, campaign.office_id)
    return campaign


def create(ctx: Context, *, office_id: int, title: str, language: str, rate_per_minute: int, max_attempts: int,
           retry_minutes: int, hours_start: time, hours_end: time, numbers: bytes, file_name: str = "") -> Created:
    """A draft campaign of the office with its list, read at once (as a broadcast's list)."""
    _may(ctx, office_id)
    get_or_not_found(ctx.db, Office, office_id)
    campaigns.check_settings(rate=rate_per_minute, attempts=max_attempts, retry_minutes=retry_minutes,
                             starts=hours_start, ends=hours_end)
    campaign = Campaign(office_id=office_id, title=title.strip()[:200], language=language if language in ("vi", "en")
                        else "vi", status=CampaignStatus.DRAFT, rate_per_minute=rate_per_minute,
                        max_attempts=max_attempts, retry_minutes=retry_minutes, hours_start=hours_start,
                        hours_end=hours_end, file_name=list_spec(file_name)["file"], created_by=ctx.actor.name,
                        created_at=ctx.now, updated_at=ctx.now, targets_count=0, duplicates_count=0,
                        refused_count=0)
    ctx.db.add(campaign)
    ctx.db.flush()
    report = campaigns.upload(ctx.db, campaign, numbers)
    if not report.kept:
        raise campaigns.CampaignRefused(campaigns.NO_NUMBERS)  # the transaction rolls back: nothing kept
    _audit(ctx, "campaign.create", campaign, after={**snapshot(campaign, *SETTINGS),
                                                     "duplicates": report.duplicates, "refused": report.refused})
    return Created(campaign, report)


def change(ctx: Context, *, campaign_id: int, to: str) -> Campaign:
    """Start, pause, resume or cancel (the campaign's row locked, so the job sees one or the other)."""
    if to not in CHANGES:
        raise NotAllowed()
    campaign = _visible(ctx, campaign_id, lock=True)
    sources, target = CHANGES[to]
    if campaign.status not in sources:
        raise CampaignRefused(CANNOT)
    before = {"status": campaign.status.value}
    campaign.status, campaign.updated_at = target, ctx.now
    _audit(ctx, f"campaign.{to}", campaign, before=before, after={"status": target.value})
    return campaign


def show(ctx: Context, *, campaign_id: int) -> tuple[Campaign, dict[str, int]]:
    campaign = _visible(ctx, campaign_id)
    return campaign, campaigns.counts_of(ctx.db, [campaign.id])[campaign.id]


def listing(ctx: Context) -> tuple[list[Campaign], dict[int, dict[str, int]]]:
    """The campaigns of the offices the actor manages, newest first, with their targets by status."""
    if not (ctx.actor.is_staff and ctx.actor.role in (Role.MANAGER, Role.ADMIN)):
        raise NotAllowed()
    query = select(Campaign).order_by(Campaign.id.desc()).limit(200)
    if ctx.actor.role is not Role.ADMIN:
        query = query.where(Campaign.office_id.in_(ctx.actor.office_ids))
    shown = list(ctx.db.scalars(query))
    return shown, campaigns.counts_of(ctx.db, [c.id for c in shown])


# -- the scheduler's side (the system) ------------------------------------------------------------

def _target_audit(ctx: Context, target: CampaignTarget, action: str, **after: object) -> None:
    campaign = ctx.db.get(Campaign, target.campaign_id)
    assert campaign is not None
    audit.record(ctx.db, actor=ctx.actor.name, action=action, target_type="campaign_target", target_id=target.id,
                 office_id=campaign.office_id, now=ctx.now, ip=ctx.actor.ip,
                 after={"campaign": campaign.id, "status": target.status.value, "attempts": target.attempts, **after})


def claim_due(ctx: Context, *, tz: ZoneInfo) -> list[Claimed]:
    """Each running campaign's calls due now, within its hours and its rate."""
    if not ctx.actor.is_staff:
        raise NotAllowed()
    found: list[Claimed] = []
    for campaign_id in campaigns.running(ctx.db):
        for lost in campaigns.lost_calls(ctx.db, campaign_id, now=ctx.now):
            campaigns.not_reached(ctx.db, lost, now=ctx.now, refused=False)
            _target_audit(ctx, lost, "campaign.not_reached", why="no status callback")
        found += campaigns.claim_due(ctx.db, campaign_id, now=ctx.now, tz=tz)
    return found


def _done_if_finished(ctx: Context, campaign_id: int) -> None:
    if campaigns.done_if_finished(ctx.db, campaign_id, now=ctx.now):
        campaign = get_or_not_found(ctx.db, Campaign, campaign_id)
        _audit(ctx, "campaign.done", campaign, after={"status": CampaignStatus.DONE.value,
                                                      **campaigns.counts_of(ctx.db, [campaign_id])[campaign_id]})


def call_placed(ctx: Context, *, target_id: int, sid: str) -> None:
    campaigns.placed(ctx.db, target_id, sid)
    target = get_or_not_found(ctx.db, CampaignTarget, target_id)
    _target_audit(ctx, target, "campaign.call", sid=sid)


def call_not_reached(ctx: Context, *, target_id: int, why: str, refused: bool = False,
                     sid: str | None = None) -> TargetStatus | None:
    """No answer, busy, failed or refused: tried again later, or unreachable (failed) after the last attempt.

    `sid`, from a status callback, must be the target's last call: a late callback of an earlier one changes nothing.
    """
    target = get_or_not_found(ctx.db, CampaignTarget, target_id, with_for_update=True)
    if target.status is not TargetStatus.CALLING or (sid is not None and sid != target.last_call_sid):
        return None
    status = campaigns.not_reached(ctx.db, target, now=ctx.now, refused=refused)
    _target_audit(ctx, target, "campaign.not_reached", why=why[:200])
    _done_if_finished(ctx, target.campaign_id)
    return status


def _outcome(ctx: Context, target_id: int, status: TargetStatus, booking_id: int | None = None) -> bool:
    target = get_or_not_found(ctx.db, CampaignTarget, target_id, with_for_update=True)
    if ctx.actor.name != f"ivr:{target.last_call_sid}" and not ctx.actor.is_staff:
        raise NotAllowed()  # only the call we placed to them (whose caller is the number we rang), or staff
    if not campaigns.finish(ctx.db, target, status, booking_id=booking_id):
        return False
    _target_audit(ctx, target, f"campaign.{status.value}", booking=booking_id)
    _done_if_finished(ctx, target.campaign_id)
    return True


def booked(ctx: Context, *, target_id: int, booking_id: int) -> bool:
    return _outcome(ctx, target_id, TargetStatus.BOOKED, booking_id)


def declined(ctx: Context, *, target_id: int) -> bool:
    return _outcome(ctx, target_id, TargetStatus.DECLINED)
