"""The hotline's call flow as data: every name it uses exists, every state can be reached and left.

`Flow.of` already checks that transitions lead to existing states; these tests check what it
cannot: that effects are implemented at the edge (and every outcome they can give is handled),
that prompts exist with exactly the placeholders the flow fills, and that the graph has no
unreachable states, no dead ends and no menus that only lead back to themselves.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections import deque
from typing import Any

import pytest

from hotline.ivr import effects as effects_module
from hotline.ivr.effects import Effects
from ivr_flows.engine import SILENCE, WRONG_KEY, Engine, Event
from ivr_flows.hotline import ENTRIES, HOTLINE
from ivr_flows.model import Flow, Prompt, State, say
from ivr_flows.prompts import KEYS_ONLY, FIXED_LANGUAGE, PROMPTS

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def placeholders(key: str) -> set[str]:
    return set(PLACEHOLDER.findall(PROMPTS[key]))


def prompts_of(state: State) -> list[tuple[str, Prompt]]:
    """Every prompt a state can say, tagged with where it is said: say, each, choices or then_say."""
    found = [("say", p) for p in state.say] + [("then_say", p) for p in state.then_say]
    if state.each is not None:
        found.append(("each", state.each.prompt))
    if state.choices is not None:
        found.append(("choices", state.choices.prompt))
    return found


def successors(flow: Flow, state: State) -> set[str]:
    """Where a call can go from a state, including the flow's `no_answer` after too many retries."""
    found = set(flow.targets(state))
    if state.waits:
        found.add(flow.no_answer)  # a wrong key after the last retry (silence too, without on_silence)
    return found


def reachable(flow: Flow, start: str) -> set[str]:
    seen, queue = {start}, deque([start])
    while queue:
        for target in successors(flow, flow.states[queue.popleft()]):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


# -- effects ----------------------------------------------------------------------------------------


def test_every_effect_is_a_method_of_the_effects_table() -> None:
    missing = sorted(name for name in HOTLINE.effects() if not callable(getattr(Effects, name, None)))
    assert not missing, f"effects without an implementation in hotline/ivr/effects.py: {missing}"


@pytest.mark.parametrize("name", sorted(HOTLINE.effects()))
def test_every_effect_takes_the_context_only(name: str) -> None:
    parameters = list(inspect.signature(getattr(Effects, name)).parameters)
    assert parameters == ["self", "context"]


def _returned_outcomes() -> dict[str, set[str] | None]:
    """The outcome names each method of `Effects` can return, read from its source.

    A method that returns a string literal (or one of two in a conditional) gives those; one that
    returns another method's result gives that method's. None: something not understood here.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(effects_module)))
    methods = {node.name: node for cls in tree.body if isinstance(cls, ast.ClassDef) and cls.name == "Effects"
               for node in cls.body if isinstance(node, ast.FunctionDef)}

    def literals(expr: ast.expr | None, seen: frozenset[str]) -> set[str] | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            body, orelse = literals(expr.body, seen), literals(expr.orelse, seen)
            return None if body is None or orelse is None else body | orelse
        if (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute)
                and isinstance(expr.func.value, ast.Name) and expr.func.value.id == "self"
                and expr.func.attr in methods and expr.func.attr not in seen):
            return of(expr.func.attr, seen | {expr.func.attr})
        return None

    def of(name: str, seen: frozenset[str]) -> set[str] | None:
        outcomes: set[str] = set()
        for node in ast.walk(methods[name]):
            if isinstance(node, ast.Return):
                found = literals(node.value, seen)
                if found is None:
                    return None
                outcomes |= found
        return outcomes

    return {name: of(name, frozenset({name})) for name in methods}


RETURNED = _returned_outcomes()


@pytest.mark.parametrize("state", [s for s in HOTLINE.states.values() if s.effect], ids=lambda s: s.name)
def test_every_outcome_an_effect_can_give_is_handled_by_its_state(state: State) -> None:
    assert state.effect is not None
    outcomes = RETURNED.get(state.effect)
    assert outcomes is not None, f"cannot tell what {state.effect} returns"
    assert outcomes - set(state.outcomes) == set(), f"{state.name}: outcomes of {state.effect} lead nowhere"
    assert set(state.outcomes) - outcomes == set(), f"{state.name}: outcomes {state.effect} never gives"


# -- prompts ----------------------------------------------------------------------------------------


def test_every_prompt_key_the_flow_uses_has_a_text() -> None:
    missing = sorted(HOTLINE.prompt_keys() - set(PROMPTS))
    assert not missing, f"prompt keys without a text in ivr_flows/prompts.py: {missing}"


def test_the_engine_and_the_edge_prompts_have_texts() -> None:
    # Said by the engine (retries), the webhook (apology) and the effects (parts of the day, as messages).
    assert {WRONG_KEY, SILENCE, "error", "morning", "afternoon", "session"} <= set(PROMPTS)
    assert set(FIXED_LANGUAGE) <= set(PROMPTS) and set(FIXED_LANGUAGE.values()) <= {"vi", "en"}


@pytest.mark.parametrize("state", [s for s in HOTLINE.states.values() if prompts_of(s)], ids=lambda s: s.name)
def test_every_prompts_placeholders_are_exactly_the_values_the_flow_gives(state: State) -> None:
    for where, prompt in prompts_of(state):
        assert prompt.key in PROMPTS, f"{state.name}: no text for {prompt.key!r}"
        given = set(prompt.params)
        wanted = placeholders(prompt.key)
        if where == "choices":
            assert "n" in wanted, f"{state.name}: menu item {prompt.key!r} never says which key to press"
            given |= {"n"}  # the key of each item is available to a menu's prompt
        assert given == wanted, (f"{state.name} ({where}): {prompt.key!r} is given {sorted(given)} "
                                 f"but its text has {sorted(wanted)}")


def test_prompts_only_use_item_and_n_where_the_engine_provides_them() -> None:
    misplaced = []
    for state in HOTLINE.states.values():
        for where, prompt in prompts_of(state):
            for name, value in prompt.params.items():
                root = value.path.split(".")[0]
                if root == "item" and where not in ("each", "choices"):
                    misplaced.append(f"{state.name}.{prompt.key}.{name}")
                if value.path == "n" and where != "choices":
                    misplaced.append(f"{state.name}.{prompt.key}.{name}")
    assert not misplaced


def test_every_prompt_text_is_used_somewhere() -> None:
    # Not a dead end, only dead text: every text should be said by the flow, the engine or the edge.
    used = HOTLINE.prompt_keys() | {WRONG_KEY, SILENCE, "error", "morning", "afternoon", "session"}
    used |= {f"{key}{KEYS_ONLY}" for key in used}  # what a prompt becomes when speech is off
    assert set(PROMPTS) - used == set()


# -- the graph ----------------------------------------------------------------------------------------


def test_every_state_is_reachable_from_the_start() -> None:
    # Or from where a call we place starts (an outbound campaign's).
    found = reachable(HOTLINE, HOTLINE.start).union(*(reachable(HOTLINE, entry) for entry in ENTRIES))
    unreachable = sorted(set(HOTLINE.states) - found)
    assert unreachable == [], f"states no call can reach: {unreachable}"


def test_from_every_waiting_state_a_call_can_end() -> None:
    endings = {s.name for s in HOTLINE.states.values() if s.hangup}
    assert endings, "the flow never hangs up"
    stuck = sorted(s.name for s in HOTLINE.states.values() if s.waits and not reachable(HOTLINE, s.name) & endings)
    assert stuck == [], f"waiting states from which no path leads to a hang-up: {stuck}"


def test_from_every_state_a_call_can_end_or_reach_an_operator() -> None:
    exits = {s.name for s in HOTLINE.states.values() if s.hangup or s.dial}
    stuck = sorted(name for name in HOTLINE.states if not reachable(HOTLINE, name) & exits)
    assert stuck == []


def test_every_menu_leads_somewhere_else() -> None:
    loops = sorted(s.name for s in HOTLINE.states.values() if s.waits and set(HOTLINE.targets(s)) <= {s.name})
    assert loops == [], f"menus whose only way out is themselves: {loops}"


def test_no_chain_of_states_loops_without_asking_the_caller() -> None:
    # Effects, `next` and the like run without input; a cycle of them would spin until MAX_STEPS.
    passing = {s.name for s in HOTLINE.states.values() if not (s.waits or s.dial or s.hangup)}
    graph = {name: {t for t in HOTLINE.targets(HOTLINE.states[name]) if t in passing} for name in passing}
    visiting: set[str] = set()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in done:
            return
        assert name not in visiting, f"a loop without input: {' -> '.join([*path, name])}"
        visiting.add(name)
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(passing):
        visit(name, [])


def test_every_waiting_state_keeps_star_or_a_menu_way_back_within_reach() -> None:
    # From any waiting state, the main menu can be reached: nobody is trapped in a sub-menu.
    trapped = sorted(s.name for s in HOTLINE.states.values() if s.waits and "main_menu" not in reachable(
        HOTLINE, s.name))
    assert trapped == []


def test_the_graph_checks_find_what_they_look_for() -> None:
    # A toy flow with an orphan state, a menu that only repeats itself, and no way to hang up.
    toy = Flow.of("toy", start="menu", no_answer="menu", states=[
        State("menu", say=(say("main_menu"),), keys={"1": "menu"}),
        State("orphan", say=(say("goodbye"),), next="menu"),
    ])
    assert set(toy.states) - reachable(toy, toy.start) == {"orphan"}
    assert not {s.name for s in toy.states.values() if s.hangup} & reachable(toy, "menu")
    assert set(toy.targets(toy.states["menu"])) <= {"menu"}


def test_the_flow_checks_itself() -> None:
    HOTLINE.check()  # raises FlowError naming each problem


# -- spoken answers -------------------------------------------------------------------------------------


def _engine_without_effects() -> Engine:
    def run_effect(name: str, context: dict[str, Any]) -> str:
        context.setdefault("ran", []).append(name)
        return {"cancel_booking": "cancelled", "confirm_hold": "booked", "release_hold": "ok"}.get(name, "ok")

    return Engine(HOTLINE, run_effect)


BOOKING = {"id": 1, "code": "123456789", "part": "morning", "date": "2027-03-02", "office": "Năm Căn",
           "queue": "S-001", "start": "08:00", "end": "08:30", "phone": "+84912345678"}


@pytest.mark.parametrize("words", ["có", "Có ạ", "đồng ý", "yes", "xác nhận"])
def test_saying_yes_confirms_a_cancellation(words: str) -> None:
    context: dict[str, Any] = {"booking": dict(BOOKING)}
    _engine_without_effects().handle("confirm_cancel", 0, context, Event("speech", words))
    assert context["ran"] == ["cancel_booking"]


@pytest.mark.parametrize("words", ["không", "Không ạ", "sai", "no"])
def test_saying_no_keeps_the_appointment(words: str) -> None:
    context: dict[str, Any] = {"booking": dict(BOOKING)}
    _engine_without_effects().handle("confirm_cancel", 0, context, Event("speech", words))
    assert "cancel_booking" not in context.get("ran", [])


@pytest.mark.parametrize("words", ["không đồng ý", "không đúng", "không có", "Không, không đồng ý đâu"])
def test_a_negated_yes_does_not_cancel_the_appointment(words: str) -> None:
    # Matching phrases inside words ("đồng ý" in "không đồng ý") once turned these into a yes.
    context: dict[str, Any] = {"booking": dict(BOOKING)}
    turn = _engine_without_effects().handle("confirm_cancel", 0, context, Event("speech", words))
    assert "cancel_booking" not in context.get("ran", []) and turn.state == "main_menu"


class FirstEffect(Exception):
    """Stops the call at its first effect: enough to know which way the caller's words took it."""


def where_words_lead(state: str, words: str, context: dict[str, Any] | None = None) -> str:
    """The first effect the words set off, or the state the call stays in when they set off none."""
    ran: list[str] = []

    def run_effect(name: str, _context: dict[str, Any]) -> str:
        ran.append(name)
        raise FirstEffect

    try:
        turn = Engine(HOTLINE, run_effect).handle(state, 0, context or {}, Event("speech", words))
    except FirstEffect:
        return f"effect {ran[0]}"
    return f"state {turn.state}"


@pytest.mark.parametrize("words", ["không đồng ý", "không đúng", "sai rồi"])
def test_a_negated_yes_does_not_book_the_held_seat(words: str) -> None:
    assert where_words_lead("confirm_hold", words, {"hold_id": 7}) == "effect release_hold"


@pytest.mark.parametrize("state, words, expected", [
    ("confirm_hold", "có", "effect confirm_hold"),
    ("confirm_hold", "công an", "state confirm_hold"),  # "công" is not "có": asked again
    # At the first menu whatever is said goes to be understood as a whole sentence.
    ("main_menu", "tôi muốn hủy lịch hẹn", "effect understand_request"),
    ("main_menu", "book please", "effect understand_request"),
    ("ask_office", "xã Năm Căn", "effect match_office"),
    ("ask_phone", "năm", "state ask_phone"),  # free input takes digits, not number words
    ("ask_phone", "số 0912345678", "effect check_typed_phone"),
    ("ask_phone", "²", "state ask_phone"),  # only ASCII digits are keys (int('²') fails)
    ("ask_code", "١٢٣٤٥٦٧٨٩", "state ask_code"),
])
def test_words_are_matched_as_whole_words(state: str, words: str, expected: str) -> None:
    context = {"hold_id": 7, "session": {"office": "Năm Căn", "lead": "", "part": "morning", "date": "2027-03-02"}}
    assert where_words_lead(state, words, context) == expected
