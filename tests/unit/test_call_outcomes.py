"""How a call's outcome is derived from the states it enters (no database, no app)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from hotline.ivr.models import Call, CallOutcome
from hotline.ivr.webhooks import OUTCOME_STATES, _Entered
from ivr_flows.engine import Engine, Event
from ivr_flows.hotline import HOTLINE
from ivr_flows.model import Flow, State, say
from tests.factories import NOW


def test_every_outcome_state_is_a_state_of_the_flow() -> None:
    """Guards against a renamed state silently taking an outcome out of the call centre's figures."""
    assert sorted(set(OUTCOME_STATES) - set(HOTLINE.states)) == []
    assert any(state.dial for state in HOTLINE.states.values())  # a transfer to find in the dial webhook


def test_the_trace_sees_every_state_the_engine_passes_through() -> None:
    """The webhooks learn the states a turn passed through by watching the engine look them up."""
    flow = Flow.of("tiny", start="menu", no_answer="menu", states=[
        State("menu", say=(say("main_menu"),), keys={"1": "confirm"}),
        State("confirm", effect="confirm", outcomes={"booked": "booked"}),
        State("booked", say=(say("booked"),), next="after"),
        State("after", say=(say("booked_menu"),), keys={"1": "menu"}),
    ])
    states = _Entered(flow.states)
    engine = Engine(dataclasses.replace(flow, states=states), lambda _name, _context: "booked")
    context: dict[str, Any] = {}
    turn = engine.handle("menu", 0, context, Event("keys", "1"))
    assert turn.state == "after"
    assert states.names == ["menu", "confirm", "booked", "after"]  # the first is where the caller answered


def test_a_later_outcome_replaces_the_first_only_when_it_weighs_more() -> None:
    call = Call(sid="CA" + "0" * 32, state="main_menu", started_at=NOW, updated_at=NOW)
    call.record(CallOutcome.CHECKED, NOW + timedelta(seconds=10))
    call.record(CallOutcome.CANCELLED, NOW + timedelta(seconds=20))  # a booking is heard before it is cancelled
    assert (call.outcome, call.outcome_at) == (CallOutcome.CANCELLED, NOW + timedelta(seconds=20))
    call.record(CallOutcome.BOOKED, NOW + timedelta(seconds=30))
    call.record(CallOutcome.CHECKED, NOW + timedelta(seconds=40))
    assert call.outcome is CallOutcome.CANCELLED and call.seconds_to_book == 30
    call.record(CallOutcome.BOOKED, NOW + timedelta(seconds=50))
    assert call.seconds_to_book == 30  # the first booking of the call
    call.record(CallOutcome.TRANSFERRED, NOW + timedelta(seconds=60))
    call.end(NOW + timedelta(seconds=90))
    assert (call.outcome, call.ended_in, call.duration_seconds) == (CallOutcome.TRANSFERRED, "main_menu", 90)
    assert not call.contained


def test_a_call_that_ends_with_nothing_done_is_a_hang_up_where_it_was() -> None:
    call = Call(sid="CA" + "1" * 32, state="choose_session", started_at=NOW, updated_at=NOW)
    call.end(NOW + timedelta(seconds=12.6))
    assert (call.outcome, call.ended_in, call.duration_seconds, call.status) == \
        (CallOutcome.HUNG_UP, "choose_session", 13, "ended")
