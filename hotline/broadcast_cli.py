"""`flask --app wsgi broadcasts …`: compose, preview, schedule and steer broadcast notices from a shell."""

from __future__ import annotations

from datetime import datetime
from typing import IO, Any

import click
from flask.cli import AppGroup
from flask_babel import gettext
from sqlalchemy import select

from booking.errors import BookingError
from booking.models import Office
from hotline.runtime import runtime
from notifications import broadcasts
from notifications.models import AudienceKind, Broadcast

broadcasts_group = AppGroup("broadcasts", help="Broadcast SMS notices.")


def _office_id(code: str) -> int:
    with runtime().reading() as db:
        office_id = db.scalar(select(Office.id).where(Office.code == code))
    if office_id is None:
        raise click.ClickException(f"No office has the code {code}.")
    return office_id


def _when(text: str | None) -> datetime:
    rt = runtime()
    if not text:
        return rt.now()
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=rt.settings.tz)


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
    """Create a draft broadcast to one audience; prints its id and the preview."""
    spec: dict[str, Any]
    if office:
        kind, spec = AudienceKind.OFFICE_DATES, {"office_id": _office_id(office), "start": start, "end": end or start,
                                                 "session_code": session_code}
    elif recent:
        kind, spec = AudienceKind.RECENT_BOOKERS, {"office_ids": [_office_id(c) for c in recent.split(",")],
                                                   "days": days}
    elif csv_file is not None:
        kind, spec = AudienceKind.UPLOAD, {"file": getattr(csv_file, "name", "")}
    else:
        raise click.UsageError("choose an audience: --office, --recent or --csv")
    rt = runtime()
    try:
        with rt.transaction() as db:
            broadcast = broadcasts.create(db, body=body, audience=kind, spec=spec, created_by="cli", now=rt.now(),
                                          urgent=urgent, title=title, language=rt.settings.default_language)
            if csv_file is not None:
                report = broadcasts.upload(db, broadcast, broadcasts.text_lines(csv_file.read()))
                click.echo(f"List: {report.kept} numbers kept, {report.duplicates} duplicates, "
                           f"{report.refused} refused")
                for line, text, reason in report.errors:
                    click.echo(f"  line {line}: {text!r} ({reason})")
            broadcast_id = broadcast.id
    except BookingError as exc:
        raise click.ClickException(exc.render(gettext)) from exc
    click.echo(f"Broadcast {broadcast_id} created (draft).")
    _preview(broadcast_id)


def _preview(broadcast_id: int) -> None:
    rt = runtime()
    with rt.reading() as db:
        shown = broadcasts.preview(db, broadcasts.get(db, broadcast_id), now=rt.now(), policy=rt.sms,
                                   price_per_segment=rt.settings.sms_price_per_segment)
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
@click.option("--at", "when", help="Local date and time to send (default: now).")
def send(broadcast_id: int, when: str | None) -> None:
    """Schedule the broadcast; the scheduler puts it in the outbox at that time."""
    rt = runtime()
    try:
        with rt.transaction() as db:
            broadcasts.schedule(db, broadcasts.get(db, broadcast_id), send_at=_when(when), now=rt.now())
    except BookingError as exc:
        raise click.ClickException(exc.render(gettext)) from exc
    click.echo(f"Broadcast {broadcast_id} scheduled.")


def _steer(broadcast_id: int, action: str) -> None:
    rt = runtime()
    try:
        with rt.transaction() as db:
            moved = getattr(broadcasts, action)(db, broadcasts.get(db, broadcast_id), now=rt.now())
    except BookingError as exc:
        raise click.ClickException(exc.render(gettext)) from exc
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
    """Progress of one broadcast (by message state), or a list of all."""
    with runtime().reading() as db:
        if broadcast_id is None:
            for b in db.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(50)):
                click.echo(f"{b.id:>5}  {b.status.value:<10} {b.recipients:>8}  {b.title or b.body[:50]}")
            return
        broadcast = broadcasts.get(db, broadcast_id)
        counts = broadcasts.progress(db, broadcast_id)
    click.echo(f"Broadcast {broadcast_id}: {broadcast.status.value}; "
               + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing queued yet"))
