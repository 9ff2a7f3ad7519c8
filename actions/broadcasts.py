"""Broadcast notices: composing, previewing, scheduling, sending and steering them, for the console and the shell.

Who may do what is decided here, from `ctx.actor`: administrators (and the command line, which acts as
the system) may do everything. A manager's broadcasts are those whose whole audience lies within the
offices they manage and which they could have made themselves: never a province-wide one, a list owned
by no office, or an urgent one (urgency reaches numbers that opted out and ignores quiet hours, which is
the province's decision). The rules of audiences, texts and the outbox live in `notifications.broadcasts`;
every change writes one audit entry, the same whichever channel asked for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from accounts.models import Role
from actions import audit
from actions.audit import snapshot
from actions.context import Actor, Context
from actions.errors import NotAllowed
from booking.lookup import get_or_not_found
from booking.models import Office
from notifications import broadcasts
from notifications.broadcasts import NotInFuture, Preview, UploadReport
from notifications.models import AudienceKind, Broadcast, BroadcastStatus

CREATED = ("title", "body", "audience", "audience_spec", "urgent", "status")  # what the audit keeps of a new one
STEERED = ("status", "send_at", "recipients")  # what it keeps before and after every later change
FILE_NAME_LIMIT = 200  # characters of an uploaded list's name kept in the audience


@dataclass(frozen=True)
class Created:
    broadcast: Broadcast
    report: UploadReport | None  # what became of the uploaded list, when one was given


@dataclass(frozen=True)
class Shown:
    broadcast: Broadcast
    progress: dict[str, int]  # its messages by state
    preview: Preview | None  # who would get it and what it costs, while it has not gone out


# -- who may do what ------------------------------------------------------------------------------

def _reach(audience: AudienceKind, spec: dict[str, Any], owner: int | None) -> set[int] | None:
    """The offices whose people the audience is drawn from; None when it is not limited to any."""
    try:
        if audience is AudienceKind.OFFICE_DATES:
            return {int(spec["office_id"])}
        if audience is AudienceKind.RECENT_BOOKERS:
            return {int(i) for i in spec["office_ids"]}
    except (KeyError, TypeError, ValueError):
        return None
    return {owner} if owner is not None else None  # a list belongs to its owner


def _broadcasts(actor: Actor) -> bool:
    return actor.is_staff and actor.role in (Role.MANAGER, Role.ADMIN)


def may_see(actor: Actor, broadcast: Broadcast) -> bool:
    """Administrators see everything; a manager, what reaches only people of their offices.

    A broadcast made from the shell has no owning office, yet one to the people booked at one
    office is still that office's manager's business.
    """
    if not _broadcasts(actor):
        return False
    if actor.role is Role.ADMIN:
        return True
    offices = _reach(broadcast.audience, broadcast.audience_spec or {}, broadcast.office_id)
    mine = actor.office_ids
    return offices is not None and offices <= mine and (broadcast.office_id is None or broadcast.office_id in mine)


def may_steer(actor: Actor, broadcast: Broadcast) -> bool:
    """Schedule, send, pause, resume, cancel, add numbers: what one may see and could have composed."""
    return may_see(actor, broadcast) and (actor.role is Role.ADMIN or not broadcast.urgent)


def authorise_compose(ctx: Context, *, office_id: int | None, urgent: bool) -> None:
    """Whether the actor may compose a broadcast owned by `office_id` (None: the whole province), urgent or not.

    `create` checks this and the audience itself; a form calls it first, so that a manager asking for
    what is not theirs is refused before being told what else the form lacks.
    """
    actor = ctx.actor
    if not _broadcasts(actor):
        raise NotAllowed()
    if actor.role is Role.ADMIN:
        return
    if urgent or office_id is None or not actor.may_manage(office_id):
        raise NotAllowed()


def _authorise_audience(ctx: Context, audience: AudienceKind, spec: dict[str, Any], office_id: int | None,
                        urgent: bool) -> None:
    authorise_compose(ctx, office_id=office_id, urgent=urgent)
    if ctx.actor.role is not Role.ADMIN:
        offices = _reach(audience, spec, office_id)
        if offices is None or not offices <= ctx.actor.office_ids:
            raise NotAllowed()
    if office_id is not None:
        get_or_not_found(ctx.db, Office, office_id)  # an administrator may name an office that is not there


def _visible(ctx: Context, broadcast_id: int, *, lock: bool = False) -> Broadcast:
    """The broadcast, locked for a change when asked (so the scheduler cannot enqueue it meanwhile)."""
    broadcast = get_or_not_found(ctx.db, Broadcast, broadcast_id, with_for_update=True if lock else None)
    if not (may_steer if lock else may_see)(ctx.actor, broadcast):
        raise NotAllowed()
    return broadcast


# -- composing ---------------------------------------------------------------------------------------

def list_spec(file_name: str) -> dict[str, Any]:
    """The audience of an uploaded list: the file's own name, whatever folder it came from."""
    return {"file": os.path.basename(file_name.replace("\\", "/"))[:FILE_NAME_LIMIT]}


def create(ctx: Context, *, body: str, audience: AudienceKind, spec: dict[str, Any], language: str,
           office_id: int | None = None, urgent: bool = False, title: str = "", numbers: bytes | None = None,
           keep_errors: int = 1000) -> Created:
    """A draft broadcast to one audience; `numbers` is the uploaded file of a list audience, read at once."""
    _authorise_audience(ctx, audience, spec, office_id, urgent)
    broadcast = broadcasts.create(ctx.db, body=body, audience=audience, spec=spec, created_by=ctx.actor.name,
                                  now=ctx.now, urgent=urgent, office_id=office_id, title=title, language=language)
    report = None
    after = snapshot(broadcast, *CREATED)
    if audience is AudienceKind.UPLOAD and numbers is not None:
        report = broadcasts.upload(ctx.db, broadcast, broadcasts.text_lines(numbers), keep_errors=keep_errors)
        after.update(kept=report.kept, duplicates=report.duplicates, refused=report.refused)
    _audit(ctx, "broadcast.create", broadcast, after=after)
    return Created(broadcast, report)


def preview_draft(ctx: Context, *, body: str, audience: AudienceKind, spec: dict[str, Any],
                  office_id: int | None = None, urgent: bool = False,
                  price_per_segment: float) -> Preview | None:
    """Who would get a broadcast not yet saved, and what it would cost; None for a list not yet uploaded."""
    _authorise_audience(ctx, audience, spec, office_id, urgent)
    if audience is AudienceKind.UPLOAD:
        return None
    # Never added to the session: the service counts its audience as it would a saved one's.
    draft = Broadcast(body=body, audience=audience, audience_spec=spec, office_id=office_id, urgent=urgent)
    return broadcasts.preview(ctx.db, draft, now=ctx.now, policy=ctx.sms, price_per_segment=price_per_segment)


# -- reading -----------------------------------------------------------------------------------------

def preview(ctx: Context, *, broadcast_id: int, price_per_segment: float) -> Preview:
    """Recipients, segments and the estimated cost of a saved broadcast."""
    return broadcasts.preview(ctx.db, _visible(ctx, broadcast_id), now=ctx.now, policy=ctx.sms,
                              price_per_segment=price_per_segment)


def show(ctx: Context, *, broadcast_id: int, price_per_segment: float) -> Shown:
    """One broadcast, its messages by state and, until it goes out, its preview."""
    broadcast = _visible(ctx, broadcast_id)
    shown = None
    if broadcast.status in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
        shown = broadcasts.preview(ctx.db, broadcast, now=ctx.now, policy=ctx.sms,
                                   price_per_segment=price_per_segment)
    return Shown(broadcast, broadcasts.progress(ctx.db, broadcast.id), shown)


def listing(ctx: Context, *, before: int | None = None, size: int = 50) -> tuple[list[Broadcast], bool]:
    """The newest `size` broadcasts older than `before` that the actor may see, and whether more are left.

    Who may see a broadcast depends on its audience (JSON), so the rows are read in chunks and
    sifted until the page is full: sifting a single LIMIT would hand a manager a short page.
    """
    if not _broadcasts(ctx.actor):
        return [], False
    query = select(Broadcast).order_by(Broadcast.id.desc())
    if ctx.actor.role is not Role.ADMIN:
        query = query.where(or_(Broadcast.office_id.in_(ctx.actor.office_ids), Broadcast.office_id.is_(None)))
    shown: list[Broadcast] = []
    while True:
        chunk = list(ctx.db.scalars((query.where(Broadcast.id < before) if before else query).limit(size + 1)))
        for broadcast in chunk[:size]:
            if may_see(ctx.actor, broadcast):
                if len(shown) == size:
                    return shown, True
                shown.append(broadcast)
        if len(chunk) <= size:
            return shown, False
        before = chunk[size - 1].id


def progress_of(ctx: Context, shown: list[Broadcast]) -> dict[int, dict[str, int]]:
    """Messages by state of broadcasts the actor was shown (by `listing`), in one query."""
    return broadcasts.progress_of(ctx.db, [b.id for b in shown if may_see(ctx.actor, b)])


# -- changing ----------------------------------------------------------------------------------------

def _audit(ctx: Context, action: str, broadcast: Broadcast, *, after: dict[str, Any],
           before: dict[str, Any] | None = None) -> None:
    audit.record(ctx.db, actor=ctx.actor.name, action=action, target_type="broadcast", target_id=broadcast.id,
                 office_id=broadcast.office_id, before=before, after=after, now=ctx.now, ip=ctx.actor.ip)


def _steer(ctx: Context, action: str, broadcast_id: int, work: Callable[[Broadcast], int]) -> int:
    """Lock the broadcast, let `work` change it through the service, audit; how many messages (or numbers) moved."""
    broadcast = _visible(ctx, broadcast_id, lock=True)
    before = snapshot(broadcast, *STEERED)
    moved = work(broadcast)
    _audit(ctx, f"broadcast.{action}", broadcast, before=before,
           after={**snapshot(broadcast, *STEERED), "messages": moved})
    return moved


def schedule(ctx: Context, *, broadcast_id: int, send_at: datetime) -> None:
    """Send the broadcast at `send_at`, a time still to come: the scheduler puts it in the outbox then."""
    if send_at <= ctx.now:
        raise NotInFuture()

    def work(broadcast: Broadcast) -> int:
        broadcasts.schedule(ctx.db, broadcast, send_at=send_at, now=ctx.now)
        return 0

    _steer(ctx, "schedule", broadcast_id, work)


def send_now(ctx: Context, *, broadcast_id: int) -> int:
    """Put the broadcast in the outbox now (its messages still wait out quiet hours unless it is urgent)."""

    def work(broadcast: Broadcast) -> int:
        broadcasts.schedule(ctx.db, broadcast, send_at=ctx.now, now=ctx.now)
        return broadcasts.enqueue(ctx.db, broadcast, now=ctx.now, policy=ctx.sms)

    return _steer(ctx, "send", broadcast_id, work)


def pause(ctx: Context, *, broadcast_id: int) -> int:
    """Hold the messages not yet sent; returns how many."""
    return _steer(ctx, "pause", broadcast_id, lambda b: broadcasts.pause(ctx.db, b, now=ctx.now))


def resume(ctx: Context, *, broadcast_id: int) -> int:
    """Queue the held messages again; returns how many."""
    return _steer(ctx, "resume", broadcast_id, lambda b: broadcasts.resume(ctx.db, b, now=ctx.now))


def cancel(ctx: Context, *, broadcast_id: int) -> int:
    """Stop the broadcast; returns how many messages will not be sent."""
    return _steer(ctx, "cancel", broadcast_id, lambda b: broadcasts.cancel(ctx.db, b, now=ctx.now))


def add_numbers(ctx: Context, *, broadcast_id: int, numbers: bytes, keep_errors: int = 1000) -> UploadReport:
    """Add an uploaded file's numbers to a draft's list; the audit counts the numbers kept."""
    reports: list[UploadReport] = []

    def work(broadcast: Broadcast) -> int:
        reports.append(broadcasts.upload(ctx.db, broadcast, broadcasts.text_lines(numbers), keep_errors=keep_errors))
        return reports[0].kept

    _steer(ctx, "upload", broadcast_id, work)
    return reports[0]
