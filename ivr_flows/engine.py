"""The engine: given where a call is and what the caller did, decide what happens next.

It is pure apart from the effects it is handed: `run_effect(name, context)` performs an action
(hold a seat, look up bookings), may update the context, and returns an outcome name. The engine
collects the prompts to say on the way and stops at the next state that waits for the caller,
transfers the call or hangs up. It knows nothing of Twilio; the edge renders the `Turn`.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ivr_flows.model import Choices, Flow, FlowError, Prompt, State

EventKind = Literal["start", "keys", "speech", "silence", "dial"]
EffectRunner = Callable[[str, dict[str, Any]], str]

DIGITS = frozenset("0123456789")
WRONG_KEY = "wrong_key"
SILENCE = "silence"
MAX_STEPS = 40


@dataclass(frozen=True)
class Event:
    kind: EventKind
    value: str = ""


@dataclass(frozen=True)
class Spoken:
    """A prompt ready to render: its key and its values, each tagged with how to say it."""

    key: str
    params: Mapping[str, tuple[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Wait:
    """What the caller is asked for: `max_digits` keys (None: until #), or words."""

    max_digits: int | None
    speech_hints: tuple[str, ...] = ()


@dataclass
class Turn:
    state: str
    context: dict[str, Any]
    retries: int
    spoken: list[Spoken]
    wait: Wait | None = None
    dial: bool = False
    hangup: bool = False


def _keypad(text: str) -> bool:
    """Digits a phone keypad can send: ASCII 0-9 only ('²' and other Unicode digits are not keys)."""
    return bool(text) and all(ch in DIGITS for ch in text)


def fold(text: str) -> str:
    """Lower case without diacritics (đ → d), so 'Có', 'co' and 'CÓ' all match."""
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", text).replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.lower().split())


def lookup(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise FlowError(f"the context has no {path!r}")
        value = value[part]
    return value


class Engine:
    def __init__(self, flow: Flow, run_effect: EffectRunner) -> None:
        self.flow = flow
        self.run_effect = run_effect

    def start(self, context: dict[str, Any]) -> Turn:
        return self._enter(self.flow.start, context, [])

    def handle(self, state_name: str, retries: int, context: dict[str, Any], event: Event) -> Turn:
        """The caller's `event` in `state_name`, where they have already been asked `retries` times again."""
        if event.kind == "start":
            return self.start(context)
        state = self.flow.states.get(state_name)
        if state is None:
            raise FlowError(f"unknown state {state_name!r}")
        if event.kind == "dial" and state.dial:
            outcome = "answered" if event.value == "answered" else "unanswered"
            return self._enter(state.outcomes[outcome], context, [])
        if not state.waits:
            # A stray request for a state that waits for nothing: say it again from there.
            return self._enter(state.name, context, [])
        if event.kind == "silence":
            return self._again(state, retries, context, SILENCE, state.on_silence)
        if event.kind == "speech" and state.listen is not None and event.value.strip():
            # Free speech is for the effect to understand: "đặt lịch ở Năm Căn sáng thứ hai" is more than "1".
            context[state.listen.store] = event.value.strip()
            return self._enter(state.listen.then, context, [])
        key = event.value.strip() if event.kind == "keys" else self._heard(state, context, event.value)
        target = self._target(state, context, key)
        if target is None:
            return self._again(state, retries, context, WRONG_KEY, None)
        return self._enter(target, context, [])

    # -- interpreting input ----------------------------------------------------------------

    def _heard(self, state: State, context: dict[str, Any], utterance: str) -> str:
        """The key that the caller's words stand for, or '' when they match nothing."""
        said = fold(utterance).split()
        if not said:
            return ""
        phrases = [(fold(phrase).split(), key) for phrase, key in state.speech.items()]
        if state.choices is not None:
            for n, item in enumerate(self._items(state.choices, context), start=1):
                phrases.extend((fold(p).split(), str(n)) for p in item.get("say_as", []) if fold(p))
        # The phrase said first wins, as whole words: "không đồng ý" is a no, though it ends in
        # "đồng ý", and "công" is not "có".
        best: tuple[int, int, str] | None = None
        for words, key in phrases:
            for start in range(len(said) - len(words) + 1):
                if said[start:start + len(words)] == words:
                    candidate = (start, -len(words), key)
                    best = candidate if best is None or candidate < best else best
                    break
        if best is not None:
            return best[2]
        if state.input is not None:
            return "".join(ch for ch in " ".join(said) if ch in DIGITS)
        return ""

    def _target(self, state: State, context: dict[str, Any], key: str) -> str | None:
        if state.input is not None:
            entered = key.rstrip("#")
            low, high = state.input.min_digits, state.input.max_digits
            if not _keypad(entered) or len(entered) < low or (high is not None and len(entered) > high):
                return None
            context[state.input.store] = entered
            return state.input.then
        if key in state.keys:
            return state.keys[key]
        if state.choices is not None and _keypad(key):
            items = self._items(state.choices, context)
            if 1 <= int(key) <= len(items):
                context[state.choices.store] = items[int(key) - 1]
                return state.choices.then
        return None

    def _again(self, state: State, retries: int, context: dict[str, Any], why: str,
               give_up_to: str | None) -> Turn:
        if retries + 1 > state.retries:
            return self._enter(give_up_to or self.flow.no_answer, context, [Spoken(why)])
        turn = self._present(state, context, [Spoken(why)])
        turn.retries = retries + 1
        return turn

    # -- walking the flow --------------------------------------------------------------------

    def _enter(self, name: str, context: dict[str, Any], spoken: list[Spoken]) -> Turn:
        for _ in range(MAX_STEPS):
            state = self.flow.states.get(name)
            if state is None:
                raise FlowError(f"unknown state {name!r}")
            if state.effect:
                outcome = self.run_effect(state.effect, context)
                if outcome not in state.outcomes:
                    raise FlowError(f"{state.name}: effect {state.effect} gave unknown outcome {outcome!r}")
                name = state.outcomes[outcome]
                continue
            if state.next:
                spoken.extend(self._said(state, context))
                name = state.next
                continue
            if state.dial or state.hangup:
                spoken.extend(self._said(state, context))
                return Turn(state.name, context, 0, spoken, dial=state.dial, hangup=state.hangup)
            return self._present(state, context, spoken)
        raise FlowError(f"{self.flow.name}: more than {MAX_STEPS} steps without asking the caller")

    def _said(self, state: State, context: dict[str, Any]) -> list[Spoken]:
        """What a state says before any menu: its prompts, then one prompt per listed item."""
        spoken = [self._resolve(p, context) for p in state.say]
        if state.each is not None:
            try:
                items = lookup(context, state.each.items)
            except FlowError:
                if not state.each.optional:
                    raise
                items = []
            spoken.extend(self._resolve(state.each.prompt, {**context, "item": item}) for item in items)
        if not state.waits:
            spoken.extend(self._resolve(p, context) for p in state.then_say)
        return spoken

    def _present(self, state: State, context: dict[str, Any], spoken: list[Spoken]) -> Turn:
        spoken = spoken + self._said(state, context)
        hints: list[str] = list(state.speech)
        if state.choices is not None:
            for n, item in enumerate(self._items(state.choices, context), start=1):
                spoken.append(self._resolve(state.choices.prompt, {**context, "item": item, "n": str(n)}))
                hints.extend(item.get("say_as", []))
        spoken.extend(self._resolve(p, context) for p in state.then_say)
        if state.listen is not None and state.listen.hints is not None:
            with contextlib.suppress(FlowError):  # nothing to bias the recogniser with: it still hears any words
                hints.extend(str(h) for h in lookup(context, state.listen.hints))
        if state.input is not None:
            wait = Wait(state.input.max_digits, tuple(hints))
        else:
            longest = max([len(k) for k in state.keys] + [1])
            wait = Wait(longest, tuple(hints))
        return Turn(state.name, context, 0, spoken, wait=wait)

    def _items(self, choices: Choices, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        items = lookup(context, choices.items)
        if not isinstance(items, list):
            raise FlowError(f"{choices.items} is not a list")
        return items[: choices.limit]

    @staticmethod
    def _resolve(prompt: Prompt, context: Mapping[str, Any]) -> Spoken:
        return Spoken(prompt.key, {name: (value.kind, lookup(context, value.path))
                                   for name, value in prompt.params.items()})
