"""Broadcasts through `actions.broadcasts`: who may compose and steer which, and the console and the shell alike."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import Role
from actions import broadcasts as actions
from actions.context import Actor, Context
from actions.errors import NotAllowed
from actions.models import AuditEntry
from notifications.models import AudienceKind, Broadcast, BroadcastStatus, MessageStatus, OutboxMessage
from notifications.policy import SmsPolicy
from tests.console import app as app, client as client
from tests.console import csrf, signed_in
from tests.factories import NOW, POLICY, phone
from tests.integration.test_console_broadcasts import TUESDAY, compose, created_id, offices as offices, read, steer
from tests.outbox import PlainLocalizer, fetch_all

BODY = "Trung tâm nghỉ chiều thứ Ba"
ADMIN = Actor.staff("user:admin", Role.ADMIN, frozenset())
LIST = b"SDT\n0912 345 678\n0912345678\n0290 3831 234\n0987000001\n"  # two mobiles, a duplicate, a landline


def context(db: Session, actor: Actor) -> Context:
    return Context(db=db, actor=actor, now=NOW, policy=POLICY, sms=SmsPolicy(), localizer=PlainLocalizer)


def manager(office_id: int) -> Actor:
    return Actor.staff("user:hoa", Role.MANAGER, frozenset({office_id}))


def on_tuesday(office_id: int) -> dict[str, Any]:
    return {"audience": AudienceKind.OFFICE_DATES, "office_id": office_id,
            "spec": {"office_id": office_id, "start": TUESDAY, "end": TUESDAY}}


def written(db: Session) -> tuple[int, int, int]:
    """Broadcasts, outbox rows and broadcast audit entries in the database."""
    return (db.scalar(select(func.count()).select_from(Broadcast)) or 0,
            db.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.target_type == "broadcast")) or 0)


BEYOND: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "another office": lambda mine, other: on_tuesday(other),
    "their office owning another's people": lambda mine, other: {**on_tuesday(other), "office_id": mine},
    "their office and another": lambda mine, other: {"audience": AudienceKind.RECENT_BOOKERS, "office_id": mine,
                                                     "spec": {"office_ids": [mine, other], "days": 30}},
    "the whole province": lambda mine, other: {"audience": AudienceKind.RECENT_BOOKERS, "office_id": None,
                                               "spec": {"office_ids": [mine], "days": 30}},
    "a list of the whole province": lambda mine, other: {"audience": AudienceKind.UPLOAD, "office_id": None,
                                                         "spec": {"file": "danh-sach.csv"}},
    "urgently": lambda mine, other: {**on_tuesday(mine), "urgent": True},
}


@pytest.mark.parametrize("case", list(BEYOND))
def test_a_manager_may_not_compose_beyond_their_offices_or_urgently(
        db: Session, offices: tuple[int, int], case: str) -> None:
    """The action itself refuses, whatever edge calls it: the console's form cannot even ask for a foreign
    audience under the manager's own office, but an action called directly could."""
    mine, other = offices
    ctx = context(db, manager(mine))
    draft = BEYOND[case](mine, other)
    with pytest.raises(NotAllowed):
        actions.create(ctx, body=BODY, language="vi", numbers=LIST, **draft)
    with pytest.raises(NotAllowed):
        actions.preview_draft(ctx, body=BODY, price_per_segment=0.05, **draft)
    assert written(db) == (0, 0, 0)
    created = actions.create(ctx, body=BODY, language="vi", **on_tuesday(mine))  # their own office's people
    assert created.broadcast.created_by == "user:hoa" and written(db) == (1, 0, 1)


@pytest.mark.parametrize("actor", [Actor.staff("user:lan", Role.OPERATOR, frozenset()),
                                   Actor.sms_sender(phone(1)), Actor.token("crm", Role.MANAGER)])
def test_only_managers_and_administrators_broadcast(db: Session, offices: tuple[int, int], actor: Actor) -> None:
    mine, _ = offices
    notice = actions.create(context(db, ADMIN), body=BODY, language="vi", **on_tuesday(mine)).broadcast
    ctx = context(db, actor)
    with pytest.raises(NotAllowed):
        actions.create(ctx, body=BODY, language="vi", **on_tuesday(mine))
    for refused in (actions.send_now, actions.cancel):
        with pytest.raises(NotAllowed):
            refused(ctx, broadcast_id=notice.id)
    with pytest.raises(NotAllowed):
        actions.show(ctx, broadcast_id=notice.id, price_per_segment=0)
    assert actions.listing(ctx) == ([], False)
    assert written(db) == (1, 0, 1)


def test_a_manager_may_not_steer_another_offices_a_province_or_an_urgent_broadcast(
        db: Session, offices: tuple[int, int]) -> None:
    """An urgent notice to the manager's own office is theirs to read, not to send, pause or stop: they could
    not have made it. Each refusal comes before the broadcast's own state is looked at, and changes nothing."""
    mine, other = offices
    admin = context(db, ADMIN)
    theirs = actions.create(admin, body=BODY, language="vi", **on_tuesday(other)).broadcast
    province = actions.create(admin, body=BODY, language="vi", audience=AudienceKind.UPLOAD,
                              spec=actions.list_spec("danh-sach.csv"), numbers=LIST).broadcast
    urgent = actions.create(admin, body=BODY, language="vi", urgent=True, **on_tuesday(mine)).broadcast
    for notice in (theirs, province, urgent):
        actions.send_now(admin, broadcast_id=notice.id)
    before = written(db)
    ctx = context(db, manager(mine))
    steering: list[Callable[[int], object]] = [
        lambda i: actions.send_now(ctx, broadcast_id=i), lambda i: actions.pause(ctx, broadcast_id=i),
        lambda i: actions.resume(ctx, broadcast_id=i), lambda i: actions.cancel(ctx, broadcast_id=i),
        lambda i: actions.schedule(ctx, broadcast_id=i, send_at=NOW + timedelta(hours=1)),
        lambda i: actions.add_numbers(ctx, broadcast_id=i, numbers=LIST)]
    for notice in (theirs, province, urgent):
        for change in steering:
            with pytest.raises(NotAllowed):
                change(notice.id)
    for hidden in (theirs, province):
        with pytest.raises(NotAllowed):
            actions.show(ctx, broadcast_id=hidden.id, price_per_segment=0)
    assert actions.show(ctx, broadcast_id=urgent.id, price_per_segment=0).progress == {"queued": 4}  # urgent: the opted-out too
    assert actions.listing(ctx) == ([urgent], False)
    assert written(db) == before
    assert {b.status for b in (theirs, province, urgent)} == {BroadcastStatus.SENDING}


def test_a_managers_forms_posted_directly_are_refused_for_what_is_not_theirs(
        client: FlaskClient, offices: tuple[int, int], db: Session, sessions: sessionmaker[Session]) -> None:
    """Posting a button's form by hand: the manager could send, pause and cancel an urgent notice to their
    office (the console checked only whose office it was). Now every change is refused with a 403."""
    mine, other = offices
    admin = context(db, ADMIN)
    urgent = actions.create(admin, body=BODY, language="vi", urgent=True, **on_tuesday(mine)).broadcast.id
    draft = actions.create(admin, body=BODY, language="vi", urgent=True, **on_tuesday(mine)).broadcast.id
    theirs = actions.create(admin, body=BODY, language="vi", **on_tuesday(other)).broadcast.id
    actions.send_now(admin, broadcast_id=urgent)
    db.commit()
    signed_in(client, "hoa")
    token = csrf(client, "/console/broadcasts/new")
    for broadcast_id in (urgent, draft, theirs):
        for action in ("send", "pause", "resume", "cancel", "schedule", "numbers"):
            response = client.post(f"/console/broadcasts/{broadcast_id}/{action}", content_type="multipart/form-data",
                                   data={"csrf_token": token, "send_at": "2027-03-01T14:00",
                                         "numbers": (io.BytesIO(b"0912345678\n"), "them.csv")})
            assert response.status_code == 403, (broadcast_id, action)
    assert compose(client, other).status_code == 403
    assert compose(client, "", audience="recent_bookers", days="30").status_code == 403
    assert compose(client, mine, urgent="y", action="preview").status_code == 403
    assert read(db, select(Broadcast.id, Broadcast.status).order_by(Broadcast.id)) == [
        (urgent, BroadcastStatus.SENDING), (draft, BroadcastStatus.DRAFT), (theirs, BroadcastStatus.DRAFT)]
    assert {m.status for m in fetch_all(sessions)} == {MessageStatus.QUEUED}
    assert [a for (a,) in read(db, select(AuditEntry.action).where(AuditEntry.actor == "user:hoa"))] == []


# -- the console and the shell alike -------------------------------------------------------------------

def _rows(db: Session, broadcast_id: int) -> dict[str, Any]:
    """What a request left in the database, without what names the request itself (ids, who, from where)."""
    db.rollback()
    broadcast = db.get_one(Broadcast, broadcast_id)
    made = {column.key: getattr(broadcast, column.key) for column in Broadcast.__table__.columns
            if column.key not in ("id", "created_by")}
    outbox = sorted((m.recipient, m.kind, m.body, m.language, m.encoding, m.segments, m.urgent, m.status, m.due_at,
                     m.dedupe_key.replace(f":{broadcast_id}:", ":#:") if m.dedupe_key else None)
                    for m in db.scalars(select(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id)))
    entries = [(e.actor == broadcast.created_by, e.action, e.office_id, e.before, e.after, e.at)
               for e in db.scalars(select(AuditEntry).where(AuditEntry.target_type == "broadcast",
                                                            AuditEntry.target_id == str(broadcast_id))
                                   .order_by(AuditEntry.id))]
    db.rollback()
    return {"broadcast": made, "outbox": outbox, "audit": entries}


@pytest.mark.parametrize("audience", ["office_dates", "upload"])
def test_the_console_and_the_shell_make_the_same_rows_and_audit_entries(
        app: Flask, client: FlaskClient, offices: tuple[int, int], db: Session, tmp_path: Path,
        audience: str) -> None:
    """The same request from an administrator's console and from `flask broadcasts`: the same broadcast,
    outbox rows and audit entries (the shell wrote no audit at all, and left the broadcast to no office)."""
    mine, _ = offices
    signed_in(client, "admin")
    listing = tmp_path / "danh-sach.csv"
    listing.write_bytes(LIST)
    if audience == "upload":
        console = created_id(compose(client, "", audience="upload", start="", body=BODY,
                                     numbers=(io.BytesIO(LIST), "danh-sach.csv")))
        options = ["--csv", str(listing)]
    else:
        console = created_id(compose(client, mine, body=BODY, urgent="y"))
        options = ["--office", "NAMCAN", "--from", TUESDAY, "--urgent"]
    steer(client, console, "send")

    runner = app.test_cli_runner()
    made = runner.invoke(args=["broadcasts", "create", "--text", BODY, *options])
    assert made.exit_code == 0, made.output
    shell = int(made.output.split("Broadcast ")[1].split(" ")[0])
    sent = runner.invoke(args=["broadcasts", "send", str(shell)])
    assert sent.exit_code == 0 and "messages put in the outbox" in sent.output, sent.output

    by_console, by_shell = _rows(db, console), _rows(db, shell)
    assert by_shell == by_console
    assert [action for _, action, *_ in by_shell["audit"]] == ["broadcast.create", "broadcast.send"]
    assert all(by_author for by_author, *_ in by_shell["audit"]) and len(by_shell["outbox"]) >= 2


def test_the_shell_refuses_a_time_gone_by_or_unreadable_and_a_broadcast_not_there(
        app: Flask, offices: tuple[int, int], db: Session) -> None:
    """`send --at` with a time that is no time, and `status` of an id no broadcast has, ended in a traceback;
    a time gone by was scheduled (the console refuses it). Each is now a message (the shell speaks the default
    language), and nothing changes."""
    db.rollback()
    runner = app.test_cli_runner()
    made = runner.invoke(args=["broadcasts", "create", "--text", BODY, "--office", "NAMCAN", "--from", TUESDAY])
    broadcast_id = made.output.split("Broadcast ")[1].split(" ")[0]
    unreadable = runner.invoke(args=["broadcasts", "send", broadcast_id, "--at", "ngày mai"])
    assert unreadable.exit_code == 2 and "is not a date and time" in unreadable.output, unreadable.output
    past = runner.invoke(args=["broadcasts", "send", broadcast_id, "--at", "2027-03-01 08:00"])
    assert past.exit_code == 1 and "thời điểm trong tương lai" in past.output, past.output
    missing = runner.invoke(args=["broadcasts", "status", "999999"])
    assert missing.exit_code == 1 and "Không tìm thấy." in missing.output, missing.output
    later = runner.invoke(args=["broadcasts", "send", broadcast_id, "--at", "2027-03-01 14:00"])
    assert later.exit_code == 0, later.output
    assert read(db, select(Broadcast.status)) == [(BroadcastStatus.SCHEDULED,)]
    assert [a for (a,) in read(db, select(AuditEntry.action).where(AuditEntry.actor == "cli"))] == [
        "broadcast.create", "broadcast.schedule"]
