"""Public pages: the offices and the seats they still have, and the liveness and readiness probes.

/healthz says only that the process answers (a load balancer that restarts on it must not restart
every server because the database is down). /readyz says whether this server can do its work:
the database answers, its schema is the one this code needs, and a scheduler leads.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, render_template
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from booking.availability import availability
from booking.models import Office
from database.schema import head_revision
from hotline.leader import leader_heartbeat_age
from hotline.runtime import runtime

blueprint = Blueprint("public", __name__)


@blueprint.get("/")
def index() -> str:
    rt = runtime()
    now = rt.now()
    today = now.astimezone(rt.settings.tz).date()
    with rt.reading() as session:
        offices = list(session.scalars(select(Office).where(Office.active.is_(True))
                                       .options(selectinload(Office.templates)).order_by(Office.keypad_number, Office.id)))
        days = availability(session, offices, today, today + timedelta(days=6), now=now, policy=rt.policy)
    return render_template("index.html", offices=offices, days=days)


@blueprint.get("/privacy")
def privacy() -> str:
    """What the hotline keeps about a person, why, for how long, and their rights (Law 91/2025/QH15)."""
    settings = runtime().settings
    retention = {"bookings": settings.retention_booking_days, "sms": settings.retention_sms_days,
                 "calls": settings.retention_call_days}
    return render_template("privacy.html", retention=retention, hotline_number=settings.hotline_number)


@blueprint.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


_head_revision = functools.cache(head_revision)  # the migrations on disk do not change while we run


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int, dict[str, str]]:
    """200 when this server can serve; 503 naming the first check that failed (the later ones are skipped)."""
    rt = runtime()
    checks: dict[str, Any] = {"database": "skipped", "schema": "skipped", "scheduler": "skipped"}
    body: dict[str, Any] = {"status": "ready", "checks": checks}
    failing = None
    try:
        with rt.reading() as db:
            db.execute(text("SELECT 1"))
            checks["database"] = "ok"
            current, head = _schema_revision(db), _head_revision()
            if current != head:
                checks["schema"] = f"at {current or 'none'}, needs {head}"
                failing = "schema"
            else:
                checks["schema"] = "ok"
                failing = _scheduler_check(rt.settings.ready_require_scheduler, rt.settings.ready_heartbeat_seconds,
                                           leader_heartbeat_age(db, rt.now()), checks, body)
    except SQLAlchemyError as exc:
        checks["database"] = f"unavailable ({type(getattr(exc, 'orig', None) or exc).__name__})"
        failing = "database"
    headers = {"Cache-Control": "no-store"}
    if failing is None:
        return jsonify(body), 200, headers
    body.update(status="unavailable", failing=failing)
    return jsonify(body), 503, {**headers, "Retry-After": "5"}


def _schema_revision(db: Session) -> str | None:
    """The database's Alembic revision, read directly (alembic's own reader logs at every probe)."""
    if not inspect(db.connection()).has_table("alembic_version"):
        return None
    return db.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _scheduler_check(required: bool, limit: int, age: float | None, checks: dict[str, Any],
                     body: dict[str, Any]) -> str | None:
    if age is not None:
        body["leader_heartbeat_age_seconds"] = round(age, 1)
    if not required:
        checks["scheduler"] = "not required"
        return None
    if age is None:
        checks["scheduler"] = "no scheduler has led yet"
        return "scheduler"
    if age > limit:
        checks["scheduler"] = f"the leader's last heartbeat is {age:.0f} s old (limit {limit} s)"
        return "scheduler"
    checks["scheduler"] = "ok"
    return None
