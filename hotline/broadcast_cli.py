"""`flask --app wsgi broadcasts …`: compose, preview, schedule and steer broadcast notices from a shell.

The commands parse their options, call `actions.broadcasts` as the system (`cli` in the audit log and
as the broadcast's author) and print what came back: the console's rules, rows and audit entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

import click
from flask.cli import AppGroup
from flask_babel import gettext
from sqlalchemy import select

from actions import broadcasts as actions
from actions.context import Actor, Context
from booking.errors import BookingError
from booking.models import Office
from hotline.runtime import runtime
from notifications.models import AudienceKind

broadcasts_group = AppGroup("broadcasts", help="Broadcast SMS notices.")
CLI = Actor.system("cli")


@contextmanager
def _acting(*, writes: bool = True) -> Iterator[Context]:
    """The shell's context in one transaction (a read-only one unless `writes`); a broken rule is an error message."""
    rt = runtime()
    try:
        with rt.transaction() if writes else rt.reading() as db:
            yield rt.context(db, CLI)
    except BookingError as exc:
        raise click.ClickException(exc.render(gettext)) from exc


def _office_id(code: str) -> int:
    with runtime().reading() as db:
        office_id = db.scalar(select(Office.id).where(Office.code == code.strip()))
    if office_id is None:
        raise click.ClickException(f"No office has the code {code}.")
    return office_id


def _when(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date and time (YYYY-MM-DD HH:MM)", param_hint="--at") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=runtime().settings.tz)


@broadcasts_group.command("create")
@click.option("--text", "body", required=True, help="The message.")
@click.option("--office", help="Everyone booked at this office (code) …")
@click.option("--from", "start", help="… from this date (YYYY-MM-DD) …")
@click.option("--to", "end", help="… to this date …")
@click.option("--session", "session_code", help="… in this session only (S, C).")
@click.option("--recent", help="Everyone who booked at these offices (codes, comma-separated) …")
@click.option("--days", type=int, help="… in the last N days.")
@click.option("--csv", "csv_file", type=click.File("rb"), help="An uploaded list of numbers (CSV).")
@click.option("--urgent", is_flag=True, help="Also to opted-out numbers, and in quiet hours.")
@click.option("--title", default="")
def create(body: str, office: str | None, start: str | None, end: str | None, session_code: str | None,
           recent: str | None, days: int | None, csv_file: IO[bytes] | None, urgent: bool,
           title: str) -> None:
    """Create a draft broadcast to one audience; prints its id and the preview.

    One office's audience belongs to that office, as in the console; several offices' or a list's to
    the whole province.
    """
    spec: dict[str, Any]
    owner: int | None = None
    if office:
        owner = _office_id(office)
        kind, spec = AudienceKind.OFFICE_DATES, {"office_id": owner, "start": start, "end": end or start,
                                                 "session_code": session_code or None}
    elif recent:
        ids = [_office_id(c) for c in recent.split(",")]
        owner = ids[0] if len(ids) == 1 else None
        kind, spec = AudienceKind.RECENT_BOOKERS, {"office_ids": ids, "days": days}
    elif csv_file is not None:
        kind, spec = AudienceKind.UPLOAD, actions.list_spec(getattr(csv_file, "name", ""))
    else:
        raise click.UsageError("choose an audience: --office, --recent or --csv")
    rt = runtime()
    with _acting() as ctx:
        created = actions.create(ctx, body=body, audience=kind, spec=spec, language=rt.settings.default_language,
                                 office_id=owner, urgent=urgent, title=title,
                                 numbers=csv_file.read() if csv_file is not None else None)
        broadcast_id = created.broadcast.id
    if created.report is not None:
        report = created.report
        click.echo(f"List: {report.kept} numbers kept, {report.duplicates} duplicates, {report.refused} refused")
        for line, text, reason in report.errors:
            click.echo(f"  line {line}: {text!r} ({reason})")
    click.echo(f"Broadcast {broadcast_id} created (draft).")
    _preview(broadcast_id)


def _preview(broadcast_id: int) -> None:
    rt = runtime()
    with _acting(writes=False) as ctx:
        shown = actions.preview(ctx, broadcast_id=broadcast_id, price_per_segment=rt.settings.sms_price_per_segment)
    click.echo(f"{shown.recipients} recipients, {shown.segments} segment(s) each ({shown.encoding}), "
               f"{shown.total_segments} in all, about {shown.cost} {rt.settings.sms_price_currency}; skipped: "
               f"{shown.skipped_opted_out} opted out, {shown.skipped_not_mobile} not mobile")


@broadcasts_group.command("preview")
@click.argument("broadcast_id", type=int)
def preview(broadcast_id: int) -> None:
    """Recipients, segments and estimated cost."""
    _preview(broadcast_id)


@broadcasts_group.command("send")
@click.argument("broadcast_id", type=int)
@click.option("--at", "when", help="Local date and time to send, still to come (default: now).")
def send(broadcast_id: int, when: str | None) -> None:
    """Put the broadcast in the outbox now, or schedule it: the scheduler puts it there at that time."""
    if when:
        send_at = _when(when)
        with _acting() as ctx:
            actions.schedule(ctx, broadcast_id=broadcast_id, send_at=send_at)
        click.echo(f"Broadcast {broadcast_id} scheduled.")
        return
    with _acting() as ctx:
        queued = actions.send_now(ctx, broadcast_id=broadcast_id)
    click.echo(f"Broadcast {broadcast_id}: {queued} messages put in the outbox.")


STEERING = {"pause": actions.pause, "resume": actions.resume, "cancel": actions.cancel}


def _steer(broadcast_id: int, action: str) -> None:
    with _acting() as ctx:
        moved = STEERING[action](ctx, broadcast_id=broadcast_id)
    click.echo(f"Broadcast {broadcast_id}: {action} ({moved} messages).")


@broadcasts_group.command("pause")
@click.argument("broadcast_id", type=int)
def pause(broadcast_id: int) -> None:
    _steer(broadcast_id, "pause")


@broadcasts_group.command("resume")
@click.argument("broadcast_id", type=int)
def resume(broadcast_id: int) -> None:
    _steer(broadcast_id, "resume")


@broadcasts_group.command("cancel")
@click.argument("broadcast_id", type=int)
def cancel(broadcast_id: int) -> None:
    _steer(broadcast_id, "cancel")


@broadcasts_group.command("status")
@click.argument("broadcast_id", required=False, type=int)
def status(broadcast_id: int | None) -> None:
    """Progress of one broadcast (by message state), or a list of the latest 50."""
    rt = runtime()
    with _acting(writes=False) as ctx:
        if broadcast_id is None:
            for b in actions.listing(ctx, size=50)[0]:
                click.echo(f"{b.id:>5}  {b.status.value:<10} {b.recipients:>8}  {b.title or b.body[:50]}")
            return
        shown = actions.show(ctx, broadcast_id=broadcast_id, price_per_segment=rt.settings.sms_price_per_segment)
    counts = shown.progress
    click.echo(f"Broadcast {broadcast_id}: {shown.broadcast.status.value}; "
               + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing queued yet"))
