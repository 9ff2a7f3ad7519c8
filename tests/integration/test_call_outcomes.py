"""What the call centre needs to know: each call's outcome, duration and time to book, the period's
call figures on the reports page, and the call series in /metrics, on both engines.

Calls are driven by the states of the flow (read off the call's row) and the transitions the flow
defines, never by what the prompts say: another engineer may rewrite the prompts and menus.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from accounts.models import Role
from accounts.users import create_user
from booking.reports import Period
from hotline.ivr.call_reports import call_report
from hotline.ivr.models import Call, CallOutcome
from ivr_flows.hotline import HOTLINE
from tests.console import PASSWORD, signed_in
from tests.factories import NOW, VN
from tests.integration.test_observability import scrape, value
from tests.ivr_caller import Caller
from tests.ivr_caller import office as office

TOKEN = "secret-token"
TODAY = date(2027, 3, 1)
STEP = timedelta(seconds=20)  # every request of a call comes this long after the one before


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: Clock) -> Flask:
    return make_app(clock=clock, twilio_auth_token=TOKEN, operator_numbers="+842903821022")


@pytest.fixture
def client(app: Flask, db: Session) -> FlaskClient:
    db.rollback()
    return app.test_client()


class Line:
    """One caller, who presses whatever key of the current state leads where the test wants to go."""

    def __init__(self, client: FlaskClient, db: Session, clock: Clock, number: str = "+84912345678") -> None:
        self.caller = Caller(client, TOKEN, caller=number, before_request=self._tick)
        self.db, self.clock = db, clock
        self.started = NOW

    def _tick(self) -> None:
        self.db.rollback()
        self.clock.now += STEP

    @property
    def sid(self) -> str:
        return self.caller.sid

    def row(self) -> Call:
        self.db.rollback()
        found = self.db.get(Call, self.sid)
        assert found is not None
        return found

    @property
    def state(self) -> str:
        return self.row().state

    def ring(self) -> Line:
        self.caller.ring()
        self.started = self.row().started_at
        return self

    def towards(self, *targets: str) -> Line:
        """For each target, the key (or first menu item) of the current state that leads to it."""
        for target in targets:
            state = HOTLINE.states[self.state]
            keys = [k for k, to in state.keys.items() if to == target]
            if not keys and state.choices is not None and state.choices.then == target:
                keys = ["1"]
            assert keys, f"{state.name} leads nowhere near {target!r}"
            self.caller.press(keys[0])
        return self

    def dial_result(self, status: str) -> None:
        assert self.caller.last is not None
        dial = self.caller.last.find("Dial")
        assert dial is not None, "the call is not being transferred"
        self.caller.post(dial.attrib["action"], self.caller._params(DialCallStatus=status))

    def hang_up(self) -> Call:
        assert self.caller.hang_up() == 204
        return self.row()


@pytest.fixture
def calls(client: FlaskClient, db: Session, clock: Clock) -> Callable[..., Line]:
    return lambda number="+84912345678": Line(client, db, clock, number)


def _book(calls: Callable[..., Line]) -> Line:
    call = calls().ring().towards("book")
    assert call.state == HOTLINE.states["choose_session"].name  # the only office and field are not asked for
    return call.towards("need_phone", "confirm")


def test_a_booking_call_records_when_it_booked_and_how_long_it_lasted(calls: Callable[..., Line], office: int,
                                                                      clock: Clock) -> None:
    call = _book(calls)
    booked = call.row()
    assert booked.outcome is CallOutcome.BOOKED and booked.status == "active"
    assert booked.booked_at == call.started + 3 * STEP and booked.seconds_to_book == 60
    ended = call.hang_up()
    assert ended.outcome is CallOutcome.BOOKED and ended.contained
    assert ended.ended_in == booked.state and ended.ended_at == call.started + 4 * STEP
    assert ended.duration_seconds == 80 and ended.outcome_at == booked.booked_at


def test_checking_then_cancelling_counts_as_a_cancellation(calls: Callable[..., Line], office: int) -> None:
    _book(calls).hang_up()
    call = calls().ring().towards("manage")
    assert call.state == "choose_booking"
    assert call.row().outcome is CallOutcome.CHECKED  # hearing one's bookings is already something done
    call.towards("booking_detail", "confirm_cancel", "cancel")
    ended = call.hang_up()
    assert ended.outcome is CallOutcome.CANCELLED and ended.booked_at is None
    assert ended.outcome_at == call.started + 4 * STEP and ended.contained


def test_hanging_up_before_anything_is_done_records_the_state(calls: Callable[..., Line], office: int) -> None:
    """A call that ends with nothing done is a hang-up in the state it was in, with its duration."""
    call = calls().ring().towards("book")
    waiting = call.state
    ended = call.hang_up()
    assert (ended.outcome, ended.ended_in, ended.duration_seconds) == (CallOutcome.HUNG_UP, waiting, 40)
    assert not ended.contained and ended.booked_at is None
    assert call.hang_up().duration_seconds == 40  # Twilio may report the end twice: nothing changes


def test_an_answered_transfer_is_a_transfer_even_after_a_booking(calls: Callable[..., Line], office: int) -> None:
    """Containment means no operator: a caller who booked and then talked to one was not contained."""
    call = _book(calls)
    call.towards("main_menu", "operator")
    assert HOTLINE.states[call.state].dial
    call.dial_result("completed")
    ended = call.hang_up()
    assert ended.outcome is CallOutcome.TRANSFERRED and not ended.contained
    assert ended.booked_at == call.started + 3 * STEP  # still counts for the time to book


def test_an_unanswered_transfer_then_a_call_back(calls: Callable[..., Line], office: int) -> None:
    call = calls().ring().towards("operator")
    call.dial_result("no-answer")
    assert call.row().outcome is None
    call.towards("record_callback")
    assert call.hang_up().outcome is CallOutcome.CALLBACK


def test_a_transfer_reported_after_the_hang_up_still_counts_once(calls: Callable[..., Line], client: FlaskClient,
                                                                 office: int) -> None:
    """Twilio may report the end of the call before the end of the <Dial> the caller hung up in: the
    transfer's result must still make the call a transfer (it was a hang-up in dial_operator), and
    the call is counted in /metrics once, when its outcome is known."""
    before = scrape(client)
    call = calls().ring().towards("operator")
    transfer = call.caller.last
    ended = call.hang_up()
    assert ended.outcome is CallOutcome.HUNG_UP and ended.ended_in == call.state
    assert value(scrape(client), "hotline_calls_total", outcome="hung_up", missing=0) == \
        value(before, "hotline_calls_total", outcome="hung_up", missing=0)  # not counted yet
    call.caller.last = transfer
    call.dial_result("completed")
    assert call.caller.hung_up
    call.caller.last = transfer
    call.dial_result("completed")  # a retry
    row = call.row()
    assert row.outcome is CallOutcome.TRANSFERRED and row.duration_seconds == ended.duration_seconds
    after = scrape(client)
    for outcome, counted in (("transferred", 1), ("hung_up", 0)):
        assert value(after, "hotline_calls_total", outcome=outcome, missing=0) - \
            value(before, "hotline_calls_total", outcome=outcome, missing=0) == counted


def _day_of_calls(calls: Callable[..., Line]) -> dict[str, Line]:
    """Two bookings (one then transferred), a cancellation, two hang-ups and a call still going on."""
    made = {"booked": _book(calls)}
    made["booked"].hang_up()
    made["cancelled"] = calls().ring().towards("manage", "booking_detail", "confirm_cancel", "cancel")
    made["cancelled"].hang_up()
    made["hung_up_menu"] = calls().ring()
    made["hung_up_menu"].hang_up()
    made["hung_up_sessions"] = calls().ring().towards("book")
    made["hung_up_sessions"].hang_up()
    made["transferred"] = _book(calls).towards("main_menu", "operator")
    made["transferred"].dial_result("completed")
    made["transferred"].hang_up()
    made["going_on"] = calls().ring()
    return made


def test_the_periods_call_figures(calls: Callable[..., Line], db: Session, office: int) -> None:
    made = _day_of_calls(calls)
    db.rollback()
    report = call_report(db, period=Period(TODAY, TODAY), tz=VN)
    assert (report.calls, report.ended, report.in_progress) == (6, 5, 1)
    assert report.by_outcome == {CallOutcome.BOOKED: 1, CallOutcome.CHECKED: 0, CallOutcome.CANCELLED: 1,
                                 CallOutcome.RESCHEDULED: 0, CallOutcome.CALLBACK: 0, CallOutcome.TRANSFERRED: 1,
                                 CallOutcome.HUNG_UP: 2}
    assert report.contained == 2 and report.containment_rate == pytest.approx(2 / 5)
    assert report.transfers == 1 and report.hangups == 2
    assert report.hangups_by_state == sorted([(made["hung_up_menu"].row().ended_in or "", 1),
                                              (made["hung_up_sessions"].row().ended_in or "", 1)])
    assert report.booking_calls == 2 and report.median_seconds_to_book == 60
    durations = sorted(c.row().duration_seconds or 0 for name, c in made.items() if name != "going_on")
    assert report.median_duration_seconds == durations[2]
    db.rollback()
    assert call_report(db, period=Period(TODAY - timedelta(days=1), TODAY - timedelta(days=1)), tz=VN).calls == 0


def test_an_empty_period_has_no_rates(db: Session) -> None:
    report = call_report(db, period=Period(TODAY, TODAY), tz=VN)
    assert report.calls == 0 and report.containment_rate is None and report.median_seconds_to_book is None


def _admin(db: Session, client: FlaskClient) -> FlaskClient:
    create_user(db, username="admin", password_hash=generate_password_hash(PASSWORD), role=Role.ADMIN, now=NOW)
    db.commit()
    return signed_in(client, "admin")


def test_the_reports_page_shows_the_call_figures(calls: Callable[..., Line], client: FlaskClient, db: Session,
                                                 office: int) -> None:
    _day_of_calls(calls)
    page = _admin(db, client).get("/console/reports?start=2027-03-01&end=2027-03-01").get_data(as_text=True)
    section = page[page.index('id="calls-heading"'):page.index('id="offices-heading"')]
    assert "Calls to the hotline" in section
    assert "<dt>Calls</dt><dd>6</dd>" in section and "5 ended, 1 still going on" in section
    assert "<dt>Containment</dt><dd>40.0%</dd>" in section
    assert "<dt>Transferred to an operator</dt><dd>1</dd>" in section
    assert "<dt>Median time to book</dt><dd>1 min 00 s</dd>" in section
    assert "<th scope=\"row\">Hung up with nothing done</th><td>2</td><td>40.0%</td>" in section
    assert "<code>main_menu</code></th><td>1</td>" in section
    client.get("/console/login?lang=vi")
    vietnamese = client.get("/console/reports?start=2027-03-01&end=2027-03-01").get_data(as_text=True)
    assert "Cuộc gọi đến tổng đài" in vietnamese and "1 phút 00 giây" in vietnamese


def test_metrics_count_calls_by_outcome_hang_ups_by_state_and_time_to_book(
        calls: Callable[..., Line], client: FlaskClient, office: int) -> None:
    before = scrape(client)
    made = _day_of_calls(calls)
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels, missing=0) - value(before, name, **labels, missing=0)

    assert [delta("hotline_calls_total", outcome=o) for o in ("booked", "cancelled", "transferred", "hung_up")] == \
        [1, 1, 1, 2]
    assert delta("hotline_call_hangups_total", state="main_menu") == 1
    assert delta("hotline_call_hangups_total", state=made["hung_up_sessions"].row().ended_in or "") == 1
    assert delta("hotline_call_time_to_book_seconds_count") == 2
    assert delta("hotline_call_time_to_book_seconds_sum") == 120
    assert delta("hotline_call_time_to_book_seconds_bucket", le="60.0") == 2
    assert delta("hotline_call_duration_seconds_count", outcome="hung_up") == 2
