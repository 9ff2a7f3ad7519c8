"""A booking rush against a running app, with every answer classified, and the checks that follow it.

Threads book through the API (each booking a new phone) and ring the hotline until stopped. An
answer is either a success (201 booked, 409 refused for a full session: the service worked), a
clean error the client may retry (503 with Retry-After for the API; for a call, valid TwiML that
apologises and hangs up), or unexpected, which a fault test counts as a failure. Used by
tests/faults/test_database_outage.py (a TCP proxy cut) and bench/fault_pg_restart.py (a real
PostgreSQL restart).
"""

from __future__ import annotations

import itertools
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from actions.models import AuditEntry
from booking.models import ArrivalWindow, Booking, BookingStatus, Hold, OfficeSession
from notifications.models import MessageKind, OutboxMessage

BASE = "http://localhost"


@dataclass
class Answer:
    at: float  # seconds since the rush started
    kind: str  # api, voice
    outcome: str  # booked, refused, retry, answered, apology, unexpected
    ms: float
    detail: str = ""


@dataclass
class Outcomes:
    answers: list[Answer] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # booking codes answered 201
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer, code: str | None = None) -> None:
        with self.lock:
            self.answers.append(answer)
            if code:
                self.codes.append(code)

    def count(self, start: float = 0.0, end: float = float("inf")) -> Counter[str]:
        with self.lock:
            return Counter(f"{a.kind}:{a.outcome}" for a in self.answers if start <= a.at < end)

    @property
    def unexpected(self) -> list[Answer]:
        return [a for a in self.answers if a.outcome == "unexpected"]


class Rush:
    """`api_threads` booking clients and `voice_threads` callers against `app`, until `stop()`."""

    def __init__(self, app: Flask, *, office_id: int, day: date, token: str, api_threads: int = 6,
                 voice_threads: int = 1, phone_prefix: str = "+8497") -> None:
        self.app, self.office_id, self.day, self.token = app, office_id, day, token
        self.api_threads, self.voice_threads = api_threads, voice_threads
        self.phone_prefix = phone_prefix
        self.outcomes = Outcomes()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = 0.0
        self._sids = itertools.count(1)
        self._auth_token = app.extensions["hotline"].settings.twilio_auth_token

    def clock(self) -> float:
        return time.monotonic() - self._started

    def start(self) -> None:
        self._started = time.monotonic()
        for n in range(self.api_threads):
            self._threads.append(threading.Thread(target=self._booker, args=(n,), name=f"rush-api-{n}", daemon=True))
        for n in range(self.voice_threads):
            self._threads.append(threading.Thread(target=self._caller, name=f"rush-voice-{n}", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 60) -> Outcomes:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
        stuck = [t.name for t in self._threads if t.is_alive()]
        assert not stuck, f"requests still hanging after {timeout} s: {stuck}"
        return self.outcomes

    # -- the API ----------------------------------------------------------------------------------

    def book(self, client: FlaskClient, phone: str) -> tuple[Answer, str | None]:
        started = time.monotonic()
        response = client.post("/api/v1/bookings", headers={"Authorization": f"Bearer {self.token}"}, json={
            "office_id": self.office_id, "date": self.day.isoformat(), "session": "S", "phone": phone})
        ms = (time.monotonic() - started) * 1000
        body: Any = response.get_json(silent=True) or {}
        status = response.status_code
        if status == 201:
            return Answer(self.clock(), "api", "booked", ms), body["booking"]["code"]
        if status == 409:
            return Answer(self.clock(), "api", "refused", ms), None
        if status == 503 and response.headers.get("Retry-After") and body.get("error", {}).get("code") == "unavailable":
            return Answer(self.clock(), "api", "retry", ms), None
        return Answer(self.clock(), "api", "unexpected", ms, f"{status} {response.get_data(as_text=True)[:300]}"), None

    def _booker(self, n: int) -> None:
        client = self.app.test_client()
        for i in itertools.count():
            if self._stop.is_set():
                return
            answer, code = self._guarded("api", self.book, client, f"{self.phone_prefix}{n:02d}{i:05d}")
            self.outcomes.add(answer, code)

    # -- the hotline ------------------------------------------------------------------------------

    def _post(self, client: FlaskClient, path: str, params: dict[str, str]) -> Answer:
        url = BASE + path
        signature = RequestValidator(self._auth_token).compute_signature(url, params)
        started = time.monotonic()
        response = client.post(url, data=params, headers={"X-Twilio-Signature": signature})
        ms = (time.monotonic() - started) * 1000
        text = response.get_data(as_text=True)
        if response.status_code != 200 or response.mimetype != "text/xml":
            return Answer(self.clock(), "voice", "unexpected", ms, f"{response.status_code} {text[:300]}")
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return Answer(self.clock(), "voice", "unexpected", ms, f"not XML: {text[:300]}")
        gather = root.find("Gather")
        if root.tag == "Response" and gather is not None:
            return Answer(self.clock(), "voice", "answered", ms, gather.attrib.get("action", ""))
        if root.tag == "Response" and root.find("Say") is not None and root.find("Hangup") is not None:
            return Answer(self.clock(), "voice", "apology", ms)
        return Answer(self.clock(), "voice", "unexpected", ms, text[:300])

    def _caller(self) -> None:
        client = self.app.test_client()
        while not self._stop.is_set():
            sid = f"CA{next(self._sids):032x}"
            params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": "+84912345678", "To": "+842903821022",
                      "CallStatus": "in-progress", "Direction": "inbound"}
            ring = self._guarded("voice", self._post, client, "/ivr/voice", params)
            self.outcomes.add(ring)
            if ring.outcome == "answered" and ring.detail:
                self.outcomes.add(self._guarded("voice", self._post, client, ring.detail, {**params, "Digits": "1"}))

    def _guarded(self, kind: str, request: Callable[..., Any], *args: Any) -> Any:
        """An exception escaping the app (a test client re-raises it) is an unexpected answer, not a crash."""
        started = time.monotonic()
        try:
            return request(*args)
        except Exception as exc:
            answer = Answer(self.clock(), kind, "unexpected", (time.monotonic() - started) * 1000,
                            f"{type(exc).__name__}: {exc}"[:300])
            return (answer, None) if kind == "api" else answer


def consistency_problems(db: Session, office_id: int) -> list[str]:
    """What a half-written booking would leave behind: counters that disagree with rows, lost SMS or audits."""
    problems = []
    for row in db.scalars(select(OfficeSession).where(OfficeSession.office_id == office_id)):
        live = db.scalar(select(func.count()).select_from(Booking).where(
            Booking.session_id == row.id, Booking.status == BookingStatus.BOOKED))
        held = db.scalar(select(func.count()).select_from(Hold).where(Hold.session_id == row.id))
        if (row.booked, row.held) != (live, held):
            problems.append(f"session {row.id}: counters booked={row.booked} held={row.held}, "
                            f"rows booked={live} held={held}")
        windows = db.scalars(select(ArrivalWindow).where(ArrivalWindow.session_id == row.id)).all()
        if sum(w.booked for w in windows) != row.booked or sum(w.held for w in windows) != row.held:
            problems.append(f"session {row.id}: its windows do not add up to its counters")
        queue = sorted(db.scalars(select(Booking.queue_number).where(Booking.session_id == row.id)))
        if queue != list(range(1, len(queue) + 1)):
            problems.append(f"session {row.id}: queue numbers have gaps or repeats")
    bookings = db.scalar(select(func.count()).select_from(Booking).where(Booking.office_id == office_id)) or 0
    confirmations = db.scalar(select(func.count()).select_from(OutboxMessage).join(
        Booking, Booking.id == OutboxMessage.booking_id).where(
        Booking.office_id == office_id, OutboxMessage.kind == MessageKind.CONFIRMATION)) or 0
    audits = db.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.office_id == office_id, AuditEntry.action == "booking.create")) or 0
    if not bookings == confirmations == audits:
        problems.append(f"{bookings} bookings but {confirmations} confirmation SMS and {audits} audit entries")
    return problems


def missing_codes(db: Session, codes: list[str]) -> list[str]:
    """Bookings answered 201 that the database does not have."""
    found = set(db.scalars(select(Booking.code).where(Booking.code.in_(codes)))) if codes else set()
    return [code for code in codes if code not in found]
