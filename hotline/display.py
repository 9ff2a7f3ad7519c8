"""The office's public screen: the numbers being served at each desk and the next ones, for the TV in the hall.

/display/<office code> is a page that refreshes itself: a static script (under the 'self' policy)
polls /display/<office code>/board.json every few seconds and chimes when a desk's number changes or is
called again; without script, a <meta http-equiv=refresh> reloads it. Both carry queue numbers and
desk names only, never a name or a phone. The language is the app's (?lang=vi|en, remembered).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template
from flask_babel import format_time
from sqlalchemy import select

from actions import desk
from actions.context import Actor, Proof
from booking.errors import NotFound
from booking.models import Channel, Office
from booking.queue import Board
from hotline.runtime import runtime

blueprint = Blueprint("display", __name__)

VIEWER = Actor("display", Channel.WEB, Proof.NONE)
POLL_SECONDS = 4
REFRESH_SECONDS = 15  # without script


def _board(office_code: str) -> tuple[Office, Board]:
    rt = runtime()
    with rt.reading() as db:
        try:
            board = desk.board(rt.context(db, VIEWER), office_code=office_code)
        except NotFound:
            abort(404)
        office = db.scalars(select(Office).where(Office.code == office_code)).one()
        db.expunge(office)
    return office, board


def shown(board: Board) -> dict[str, Any]:
    """The board as the screen's script reads it: numbers and desks, nothing about anybody."""
    return {"desks": [asdict(d) for d in board.desks], "next": list(board.next), "waiting": board.waiting,
            "time": format_time(runtime().now(), "HH:mm")}


@blueprint.get("/display/<code>")
def display(code: str) -> str:
    office, board = _board(code)
    return render_template("display.html", office=office, board=board, poll=POLL_SECONDS, refresh=REFRESH_SECONDS,
                           time=format_time(runtime().now(), "HH:mm"))


@blueprint.get("/display/<code>/board.json")
def display_json(code: str) -> tuple[Response, int, dict[str, str]]:
    _office, board = _board(code)
    return jsonify(shown(board)), 200, {"Cache-Control": "no-store"}
