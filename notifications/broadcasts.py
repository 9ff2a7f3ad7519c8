"""Broadcast notices: an audience, a text, a time; enqueued in one statement, however many people.

Audiences are queries (people booked at an office on some dates, people who booked recently) or
an uploaded list of numbers, kept in `broadcast_numbers`. Putting a broadcast in the outbox is a
single INSERT … SELECT run by the database, so a province's million numbers never pass through
Python's memory, and opted-out or non-mobile numbers are filtered in the same statement.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Select, and_, func, insert, literal, not_, or_, select, update
from sqlalchemy.orm import Session

from booking.errors import BookingError, InvalidSettings
from booking.i18n import N_
from booking.lookup import get_or_not_found
from booking.models import Booking, BookingStatus, Citizen
from booking.phones import PhoneKind, parse_phone
from booking.plain_text import TextRefused, clean
from database.base import UTCDateTime
from notifications.models import (
    AudienceKind, Broadcast, BroadcastNumber, BroadcastStatus, MessageKind, MessageStatus, OutboxMessage,
)
from notifications.policy import SmsPolicy
from notifications.sms import size_of

MOBILE_PREFIXES = ("+843", "+845", "+847", "+848", "+849")  # E.164 Vietnamese mobiles; landlines are +842…
PHONE_HEADERS = {"phone", "mobile", "msisdn", "so dien thoai", "số điện thoại", "sdt", "sđt", "dien thoai",
                 "điện thoại", "so thue bao", "số thuê bao"}


def create(session: Session, *, body: str, audience: AudienceKind, spec: dict[str, Any], created_by: str,
           now: datetime, urgent: bool = False, office_id: int | None = None, title: str = "",
           language: str = "vi", kind: MessageKind = MessageKind.BROADCAST) -> Broadcast:
    if not body.strip():
        raise InvalidSettings(detail="a broadcast needs a text")
    _check_spec(audience, spec)
    broadcast = Broadcast(title=title, body=body.strip(), language=language, urgent=urgent, audience=audience, kind=kind,
                          audience_spec=spec, office_id=office_id, status=BroadcastStatus.DRAFT,
                          created_by=created_by, created_at=now, updated_at=now)
    session.add(broadcast)
    session.flush()
    return broadcast


def _check_spec(audience: AudienceKind, spec: dict[str, Any]) -> None:
    try:
        if audience is AudienceKind.OFFICE_DATES:
            int(spec["office_id"])
            if date.fromisoformat(spec["start"]) > date.fromisoformat(spec["end"]):
                raise InvalidSettings(detail="the dates are the wrong way round")
        elif audience is AudienceKind.RECENT_BOOKERS and (
                not [int(i) for i in spec["office_ids"]] or int(spec["days"]) < 1):
            raise InvalidSettings(detail="choose offices and a number of days")
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidSettings(detail="the audience is incomplete") from exc


def audience(broadcast: Broadcast, now: datetime) -> Select[str]:
    """The distinct phone numbers a broadcast is for, as a query."""
    spec = broadcast.audience_spec
    if broadcast.audience is AudienceKind.UPLOAD:
        return select(BroadcastNumber.phone).where(BroadcastNumber.broadcast_id == broadcast.id)
    if broadcast.audience is AudienceKind.OFFICE_DATES:
        query = select(Booking.phone).where(
            Booking.office_id == int(spec["office_id"]),
            Booking.date.between(date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"])),
            Booking.status.in_([BookingStatus.BOOKED, BookingStatus.CHECKED_IN]))
        if spec.get("session_code"):
            query = query.where(Booking.session_code == spec["session_code"])
        return query.distinct()
    since = now - timedelta(days=int(spec["days"]))
    return select(Booking.phone).where(Booking.office_id.in_([int(i) for i in spec["office_ids"]]),
                                       Booking.created_at >= since).distinct()


def _mobile(column: Any) -> Any:
    return and_(func.length(column) == 12, or_(*[column.like(prefix + "%") for prefix in MOBILE_PREFIXES]))


def _opted_out(column: Any) -> Any:
    return select(Citizen.phone).where(Citizen.phone == column, Citizen.broadcast_opt_out.is_(True)).exists()


@dataclass(frozen=True)
class Preview:
    recipients: int
    skipped_opted_out: int
    skipped_not_mobile: int
    encoding: str
    segments: int
    cost: float

    @property
    def total_segments(self) -> int:
        return self.recipients * self.segments


def preview(session: Session, broadcast: Broadcast, *, now: datetime, policy: SmsPolicy,
            price_per_segment: float) -> Preview:
    """How many will get it, how many are skipped and why, and what it will cost."""
    phones = audience(broadcast, now).subquery()
    phone = phones.c.phone
    total, mobiles, opted = session.execute(select(
        func.count(), func.count().filter(_mobile(phone)),
        func.count().filter(and_(_mobile(phone), _opted_out(phone))),
    ).select_from(phones)).one()
    skipped_opted = 0 if broadcast.urgent else opted
    recipients = mobiles - skipped_opted
    size = size_of(policy.text(broadcast.body))
    return Preview(recipients, skipped_opted, total - mobiles, size.encoding, size.segments,
                   round(recipients * size.segments * price_per_segment, 2))


class NotInFuture(BookingError):
    """A person scheduling a broadcast for a time that has passed: it would go out at once, as "send now" does."""

    code = "not_in_future"
    message = N_("Choose a time in the future, or send it now.")


def schedule(session: Session, broadcast: Broadcast, *, send_at: datetime, now: datetime) -> None:
    if broadcast.status not in (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED):
        raise InvalidSettings(detail="only a draft can be scheduled")
    broadcast.status, broadcast.send_at, broadcast.updated_at = BroadcastStatus.SCHEDULED, send_at, now


def enqueue(session: Session, broadcast: Broadcast, *, now: datetime, policy: SmsPolicy) -> int:
    """Put one message per recipient in the outbox, in one statement; returns how many."""
    if broadcast.status is not BroadcastStatus.SCHEDULED:
        raise InvalidSettings(detail="the broadcast is not scheduled")
    body = policy.text(broadcast.body)
    size = size_of(body)
    due = policy.due(now, urgent=broadcast.urgent)
    phones = audience(broadcast, now).subquery()
    phone = phones.c.phone
    wanted = select(
        literal(broadcast.kind.value), phone, literal(body), literal(broadcast.language),
        literal(size.encoding), literal(size.segments), literal(broadcast.urgent),
        literal(MessageStatus.QUEUED.value), literal(due, UTCDateTime()), literal(0), literal(broadcast.id),
        literal(f"broadcast:{broadcast.id}:") + phone, literal(now, UTCDateTime()), literal(now, UTCDateTime()),
    ).select_from(phones).where(_mobile(phone))
    if not broadcast.urgent:
        wanted = wanted.where(not_(_opted_out(phone)))
    counted = preview(session, broadcast, now=now, policy=policy, price_per_segment=0)
    result = session.execute(insert(OutboxMessage).from_select(
        ["kind", "recipient", "body", "language", "encoding", "segments", "urgent", "status", "due_at", "attempts",
         "broadcast_id", "dedupe_key", "created_at", "updated_at"], wanted))
    # An INSERT without RETURNING gives a CursorResult; Session.execute is typed for any statement.
    rowcount = cast(CursorResult[Any], result).rowcount
    queued = rowcount if rowcount is not None and rowcount >= 0 else counted.recipients
    # With nobody to send to, no dispatch would ever find it finished: it is done now.
    broadcast.status = BroadcastStatus.SENDING if queued else BroadcastStatus.DONE
    broadcast.recipients = queued
    broadcast.skipped_opted_out, broadcast.skipped_not_mobile = counted.skipped_opted_out, counted.skipped_not_mobile
    broadcast.updated_at = now
    return queued


def enqueue_due(session: Session, *, now: datetime, policy: SmsPolicy) -> int:
    """The scheduled job: every broadcast whose time has come goes into the outbox."""
    queued = 0
    for broadcast in session.scalars(select(Broadcast).where(
            Broadcast.status == BroadcastStatus.SCHEDULED, Broadcast.send_at <= now)
            .order_by(Broadcast.send_at).with_for_update(skip_locked=True)):
        queued += enqueue(session, broadcast, now=now, policy=policy)
    return queued


def pause(session: Session, broadcast: Broadcast, *, now: datetime) -> int:
    if broadcast.status is not BroadcastStatus.SENDING:
        raise InvalidSettings(detail="only a broadcast being sent can be paused")
    broadcast.status, broadcast.updated_at = BroadcastStatus.PAUSED, now
    return _move(session, broadcast.id, MessageStatus.QUEUED, MessageStatus.HELD, now)


def resume(session: Session, broadcast: Broadcast, *, now: datetime) -> int:
    if broadcast.status is not BroadcastStatus.PAUSED:
        raise InvalidSettings(detail="only a paused broadcast can be resumed")
    moved = _move(session, broadcast.id, MessageStatus.HELD, MessageStatus.QUEUED, now)
    # Its last messages may have been settled while it was paused (sent from a claim that pausing
    # could not reach): then no dispatch will ever find it finished.
    waiting = moved or session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.broadcast_id == broadcast.id,
        OutboxMessage.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING])).limit(1)) is not None
    broadcast.status = BroadcastStatus.SENDING if waiting else BroadcastStatus.DONE
    broadcast.updated_at = now
    return moved


def cancel(session: Session, broadcast: Broadcast, *, now: datetime) -> int:
    """Stop a broadcast; messages already handed to the provider cannot be called back."""
    if broadcast.status in (BroadcastStatus.CANCELLED, BroadcastStatus.DONE):
        raise InvalidSettings(detail="the broadcast has already ended")
    broadcast.status, broadcast.updated_at = BroadcastStatus.CANCELLED, now
    return _move(session, broadcast.id, MessageStatus.QUEUED, MessageStatus.CANCELLED, now) + _move(
        session, broadcast.id, MessageStatus.HELD, MessageStatus.CANCELLED, now)


def _move(session: Session, broadcast_id: int, source: MessageStatus, target: MessageStatus, now: datetime) -> int:
    return len(session.execute(
        update(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == source)
        .values(status=target, updated_at=now).returning(OutboxMessage.id)).all())


def progress(session: Session, broadcast_id: int) -> dict[str, int]:
    """Messages of the broadcast by state: queued, sent, delivered, failed, …"""
    return progress_of(session, [broadcast_id]).get(broadcast_id, {})


def progress_of(session: Session, broadcast_ids: Collection[int]) -> dict[int, dict[str, int]]:
    """`progress` for several broadcasts in one query (a list page); those with no message yet are absent."""
    counts: dict[int, dict[str, int]] = {}
    if not broadcast_ids:
        return counts
    for broadcast_id, status, count in session.execute(
            select(OutboxMessage.broadcast_id, OutboxMessage.status, func.count())
            .where(OutboxMessage.broadcast_id.in_(list(broadcast_ids)))
            .group_by(OutboxMessage.broadcast_id, OutboxMessage.status)):
        assert broadcast_id is not None  # only these broadcasts' messages were selected
        counts.setdefault(broadcast_id, {})[status.value if hasattr(status, "value") else str(status)] = count
    return counts


def get(session: Session, broadcast_id: int) -> Broadcast:
    return get_or_not_found(session, Broadcast, broadcast_id)


# -- uploaded lists -----------------------------------------------------------------------------

@dataclass
class UploadReport:
    """What became of an uploaded list: numbers kept, duplicates, and the lines that were refused."""

    kept: int = 0
    duplicates: int = 0
    refused: int = 0
    # (line number, text as given, reason), the first `keep_errors` of them
    errors: list[tuple[int, str, str]] = field(default_factory=list)


class UnreadableList(BookingError):
    """An uploaded file that is no list of numbers: binary, or with a field no list has; nothing is kept."""

    code = "unreadable_list"
    message = N_("Line %(line)s of the file is not text (it holds the character %(character)s): save the list as "
                 "CSV or text and upload it again.")


CELL_LIMIT = 4000  # characters in one field of an uploaded list: more is a file that is not one
CELL_TOO_LONG = N_("Line %(line)s of the file has a field longer than %(limit)s characters (a quotation mark that "
                   "is never closed makes the rest of the file one field): is this the list of numbers?")


def _rows(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each row of a CSV, every cell through the text gate (`clean`).

    Windows-1258 writes tone marks as combining characters: `clean` composes them as people type them.
    """
    reader = csv.reader(lines)
    for line_no in itertools.count(1):
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # lines split on every ending leave one: a field past the reader's 131,072 characters
            raise UnreadableList(CELL_TOO_LONG, line=line_no, limit=CELL_LIMIT) from exc
        try:
            cells = [clean(cell, limit=CELL_LIMIT, multiline=True) for cell in row]
        except TextRefused as refused:
            if refused.reason == "too_long":
                raise UnreadableList(CELL_TOO_LONG, line=line_no, limit=CELL_LIMIT) from None
            raise UnreadableList(line=line_no, character=refused.code_point) from None
        yield line_no, cells


def _numbers(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line number, text) of each number in a CSV, from the phone column when a header names one."""
    column = 0
    for line_no, row in _rows(lines):
        if not row or not any(cell.strip() for cell in row):
            continue
        if line_no == 1:
            headers = [cell.strip().lower() for cell in row]
            named = [i for i, h in enumerate(headers) if h in PHONE_HEADERS]
            if named:
                column = named[0]
                continue
            if not any(ch.isdigit() for ch in row[0]):
                continue  # a header we do not know: the numbers are in the first column
        if column < len(row):
            yield line_no, row[column].strip()


def upload(session: Session, broadcast: Broadcast, lines: Iterable[str], *, keep_errors: int = 1000,
           chunk: int = 10_000) -> UploadReport:
    """Read a list of numbers (CSV, any common Vietnamese spelling), keep the mobiles once each.

    The file is streamed and written in chunks, so memory holds the set of numbers seen (needed
    to report duplicates) and one chunk, not the file.
    """
    if broadcast.audience is not AudienceKind.UPLOAD or broadcast.status is not BroadcastStatus.DRAFT:
        raise InvalidSettings(detail="numbers can be added only to a draft broadcast to an uploaded list")
    report = UploadReport()
    seen: set[str] = set()
    pending: list[str] = []

    def refuse(line_no: int, text: str, reason: str) -> None:
        report.refused += 1
        if len(report.errors) < keep_errors:
            report.errors.append((line_no, text, reason))

    def flush() -> None:
        if pending:
            session.execute(insert(BroadcastNumber), [{"broadcast_id": broadcast.id, "phone": p} for p in pending])
            pending.clear()

    seen.update(session.scalars(select(BroadcastNumber.phone).where(BroadcastNumber.broadcast_id == broadcast.id)))
    for line_no, text in _numbers(lines):
        try:
            phone = parse_phone(text)
        except BookingError:
            refuse(line_no, text, "invalid")
            continue
        if phone.kind is not PhoneKind.MOBILE:
            refuse(line_no, text, "not_mobile")
            continue
        if phone.number in seen:
            report.duplicates += 1
            continue
        seen.add(phone.number)
        pending.append(phone.number)
        report.kept += 1
        if len(pending) >= chunk:
            flush()
    flush()
    return report


def text_lines(data: bytes) -> Iterator[str]:
    """Lines of an uploaded file, in UTF-8 (with or without BOM) or, failing that, Windows-1258.

    A line may end in \\r\\n, \\n or \\r alone (Excel's "CSV (Macintosh)"): split on any of them and
    handed over as they are, which is how the csv module wants its lines.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1258", errors="replace")
    return iter(io.StringIO(text, newline=""))
