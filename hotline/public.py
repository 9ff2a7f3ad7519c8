"""Public pages: the offices and the seats they still have, and the liveness probe."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking.availability import availability
from booking.models import Office
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


@blueprint.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    return "ok\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
