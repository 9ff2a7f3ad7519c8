"""The flow engine, table-driven: a state and an event go in, the next state and its words come out."""

from __future__ import annotations

from typing import Any

import pytest

from ivr_flows.engine import Engine, Event, fold
from ivr_flows.hotline import HOTLINE
from ivr_flows.model import Choices, Each, Flow, FlowError, Input, State, date, say, text
from ivr_flows.prompts import PROMPTS

TOY = Flow.of("toy", start="fetch", no_answer="bye", states=[
    State("fetch", effect="load", outcomes={"ok": "hello", "empty": "bye"}),
    State("hello", say=(say("welcome"),), next="menu"),
    State("menu", say=(say("main_menu"),), keys={"1": "pick", "2": "code", "0": "bye"},
          speech={"có": "1", "không": "0"}),
    State("pick", say=(say("sessions_intro", office=text("office")),),
          choices=Choices("items", say("session_choice", date=date("item.date"), n=text("n")), store="chosen",
                          then="bye"),
          keys={"*": "menu"}),
    State("code", say=(say("ask_code"),), input=Input("typed", then="bye", max_digits=9, min_digits=9)),
    State("bye", say=(say("goodbye"),), hangup=True),
])


def run_effect(name: str, context: dict[str, Any]) -> str:
    context.setdefault("ran", []).append(name)
    context.update(office="Năm Căn", items=[{"date": "2027-03-02", "say_as": ["thứ ba"]},
                                            {"date": "2027-03-03", "say_as": ["thứ tư"]}])
    return "ok"


ENGINE = Engine(TOY, run_effect)


def keys_of(turn: Any) -> list[str]:
    return [s.key for s in turn.spoken]


def test_start_runs_effects_and_stops_at_the_first_question() -> None:
    turn = ENGINE.start({})
    assert turn.state == "menu" and turn.context["ran"] == ["load"]
    assert keys_of(turn) == ["welcome", "main_menu"] and turn.wait is not None and turn.wait.max_digits == 1


@pytest.mark.parametrize("state, event, expected_state, expected_keys", [
    ("menu", Event("keys", "1"), "pick", ["sessions_intro", "session_choice", "session_choice"]),
    ("menu", Event("keys", "0"), "bye", ["goodbye"]),
    ("menu", Event("speech", "Có ạ"), "pick", ["sessions_intro", "session_choice", "session_choice"]),
    ("menu", Event("speech", "KHONG"), "bye", ["goodbye"]),
    ("menu", Event("keys", "7"), "menu", ["wrong_key", "main_menu"]),
    ("menu", Event("speech", "xin chào"), "menu", ["wrong_key", "main_menu"]),
    ("menu", Event("silence"), "menu", ["silence", "main_menu"]),
    ("pick", Event("keys", "2"), "bye", ["goodbye"]),
    ("pick", Event("keys", "3"), "pick", ["wrong_key", "sessions_intro", "session_choice", "session_choice"]),
    ("pick", Event("speech", "ngày thứ tư"), "bye", ["goodbye"]),
    ("pick", Event("keys", "*"), "menu", ["main_menu"]),
    ("code", Event("keys", "123456789"), "bye", ["goodbye"]),
    ("code", Event("keys", "1234"), "code", ["wrong_key", "ask_code"]),
    ("code", Event("keys", "12a"), "code", ["wrong_key", "ask_code"]),
])
def test_transitions(state: str, event: Event, expected_state: str, expected_keys: list[str]) -> None:
    context = {"office": "Năm Căn", "items": [{"date": "2027-03-02", "say_as": ["thứ ba"]},
                                              {"date": "2027-03-03", "say_as": ["thứ tư"]}]}
    turn = ENGINE.handle(state, 0, context, event)
    assert (turn.state, keys_of(turn)) == (expected_state, expected_keys)


def test_choice_is_stored_and_values_are_resolved() -> None:
    context: dict[str, Any] = {"office": "Năm Căn", "items": [{"date": "2027-03-02"}, {"date": "2027-03-03"}]}
    shown = ENGINE.handle("menu", 0, context, Event("keys", "1"))
    assert shown.spoken[0].params == {"office": ("text", "Năm Căn")}
    assert shown.spoken[2].params == {"date": ("date", "2027-03-03"), "n": ("text", "2")}
    ENGINE.handle("pick", 0, context, Event("keys", "2"))
    assert context["chosen"] == {"date": "2027-03-03"}


def test_free_input_is_stored() -> None:
    context: dict[str, Any] = {}
    ENGINE.handle("code", 0, context, Event("keys", "123456789#"))
    assert context["typed"] == "123456789"


def test_silence_twice_then_the_flow_gives_up() -> None:
    first = ENGINE.handle("menu", 0, {}, Event("silence"))
    second = ENGINE.handle("menu", first.retries, {}, Event("silence"))
    assert (first.retries, second.retries) == (1, 2) and second.state == "menu"
    third = ENGINE.handle("menu", second.retries, {}, Event("silence"))
    assert third.state == "bye" and keys_of(third) == ["silence", "goodbye"] and third.hangup


def test_a_flow_with_a_dead_end_does_not_build() -> None:
    with pytest.raises(FlowError, match="missing state 'nowhere'"):
        Flow.of("broken", start="a", no_answer="a", states=[State("a", keys={"1": "nowhere"})])


def test_a_state_must_do_exactly_one_thing() -> None:
    with pytest.raises(FlowError, match="exactly one"):
        Flow.of("broken", start="a", no_answer="a", states=[State("a", next="a", hangup=True)])


def test_an_effect_with_an_unknown_outcome_is_caught() -> None:
    engine = Engine(TOY, lambda name, context: "surprise")
    with pytest.raises(FlowError, match="unknown outcome"):
        engine.start({})


def test_a_loop_that_never_asks_is_caught() -> None:
    looping = Flow.of("loop", start="a", no_answer="a", states=[State("a", next="b"), State("b", next="a")])
    with pytest.raises(FlowError, match="without asking"):
        Engine(looping, lambda name, context: "ok").start({})


def test_every_prompt_of_the_hotline_has_a_text() -> None:
    assert HOTLINE.prompt_keys() - set(PROMPTS) == set()
    assert {"wrong_key", "silence", "error"} <= set(PROMPTS)


@pytest.mark.parametrize("said, folded", [("Đồng Ý", "dong y"), ("  Có  ạ ", "co a"), ("KHÔNG", "khong")])
def test_speech_is_matched_without_case_or_diacritics(said: str, folded: str) -> None:
    assert fold(said) == folded


def test_an_optional_list_missing_from_a_call_begun_before_a_deploy_says_nothing() -> None:
    """A list a newer release stores (a booking's result dates) is absent from an older call's context."""
    listed = Flow.of("listed", start="read", no_answer="read", states=[
        State("read", say=(say("goodbye"),), each=Each("booking.results", say("welcome"), optional=True),
              hangup=True),
    ])
    engine = Engine(listed, run_effect)
    assert keys_of(engine.start({"booking": {}})) == ["goodbye"]
    assert keys_of(engine.start({"booking": {"results": [{}, {}]}})) == ["goodbye", "welcome", "welcome"]
    strict = Flow.of("strict", start="read", no_answer="read", states=[
        State("read", say=(say("goodbye"),), each=Each("booking.results", say("welcome")), hangup=True),
    ])
    with pytest.raises(FlowError):
        Engine(strict, run_effect).start({"booking": {}})
