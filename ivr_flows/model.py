"""The vocabulary of a call flow: states, prompts, menus, inputs and effects.

A flow is plain data. Each state either runs an effect (a named action whose outcome picks the
next state), or says prompts and then waits for a key, a number or speech, goes on to another
state, transfers the call, or hangs up. `Flow` checks itself when built, so that a transition to
a state that does not exist fails a unit test instead of leaving a caller in a dead end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ValueKind = Literal["text", "digits", "number", "date", "time", "phone", "message"]


@dataclass(frozen=True)
class Value:
    """A value said inside a prompt, taken from the call's context by a dotted path.

    The kind tells the renderer how to say it: `digits` one by one (codes), `date` and `time`
    naturally in the caller's language, `message` as another translated message key.
    """

    kind: ValueKind
    path: str


def text(path: str) -> Value:
    return Value("text", path)


def digits(path: str) -> Value:
    return Value("digits", path)


def number(path: str) -> Value:
    return Value("number", path)


def date(path: str) -> Value:
    return Value("date", path)


def time(path: str) -> Value:
    return Value("time", path)


def phone(path: str) -> Value:
    return Value("phone", path)


def message(path: str) -> Value:
    return Value("message", path)


@dataclass(frozen=True)
class Prompt:
    """A message key (see `ivr_flows.prompts`) and the values to say inside it."""

    key: str
    params: Mapping[str, Value] = field(default_factory=dict)


def say(key: str, **params: Value) -> Prompt:
    return Prompt(key, params)


@dataclass(frozen=True)
class Choices:
    """A numbered menu built from a list in the context: item 1 is key 1, and so on.

    `prompt` is said once per item, with `item.*` and `n` (the key) available to it; the item
    chosen is stored under `store` and the call goes on to `then`.
    """

    items: str
    prompt: Prompt
    store: str
    then: str
    limit: int = 7


@dataclass(frozen=True)
class Each:
    """Say `prompt` once for every item of a list in the context (with `item.*` available)."""

    items: str
    prompt: Prompt
    # A list that a newer release added to what effects store: a call that began before the
    # deploy has none, and hears nothing rather than an error.
    optional: bool = False


@dataclass(frozen=True)
class Input:
    """Free input: several digits ended by # (or a fixed count), stored under `store`."""

    store: str
    then: str
    max_digits: int | None = None  # None: until the caller presses #
    min_digits: int = 1


@dataclass(frozen=True)
class Listen:
    """Free speech: whatever the caller says is stored under `store` and the call goes on to `then`,
    an effect that makes sense of it (an office's name, a whole request). Keys still work as usual.

    `hints` names a list of phrases in the context that biases the recogniser (office names).
    """

    store: str
    then: str
    hints: str | None = None


@dataclass(frozen=True)
class State:
    name: str
    say: tuple[Prompt, ...] = ()
    each: Each | None = None  # said after `say`
    then_say: tuple[Prompt, ...] = ()  # said after `each` and any menu
    # An effect runs on entry; its outcome picks the next state. Effect states say nothing.
    effect: str | None = None
    outcomes: Mapping[str, str] = field(default_factory=dict)
    # Waiting for the caller: single keys, a numbered menu, or free input.
    keys: Mapping[str, str] = field(default_factory=dict)
    choices: Choices | None = None
    input: Input | None = None
    listen: Listen | None = None
    # Words a caller may say instead of pressing a key (matched without diacritics).
    speech: Mapping[str, str] = field(default_factory=dict)
    # Where the call goes when the caller never answers; None: the flow's `no_answer` state.
    on_silence: str | None = None
    retries: int = 2
    # Without input: go on, transfer to the operators, or hang up.
    next: str | None = None
    dial: bool = False
    hangup: bool = False

    @property
    def waits(self) -> bool:
        return bool(self.keys or self.choices or self.input or self.listen)


class FlowError(ValueError):
    """The flow is malformed (found when it is built, or by a runaway loop at run time)."""


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    no_answer: str  # where a caller who stays silent after every retry is taken
    states: Mapping[str, State]

    @classmethod
    def of(cls, name: str, *, start: str, no_answer: str, states: list[State]) -> Flow:
        flow = cls(name, start, no_answer, {s.name: s for s in states})
        if len(flow.states) != len(states):
            raise FlowError(f"{name}: two states share a name")
        flow.check()
        return flow

    def targets(self, state: State) -> list[str]:
        found = list(state.outcomes.values()) + list(state.keys.values())
        found += [t for t in (state.next, state.on_silence) if t]
        if state.choices:
            found.append(state.choices.then)
        if state.input:
            found.append(state.input.then)
        if state.listen:
            found.append(state.listen.then)
        return found

    def check(self) -> None:
        """Every transition leads to a state that exists, and every state is of exactly one kind."""
        problems = []
        for name in (self.start, self.no_answer):
            if name not in self.states:
                problems.append(f"missing state {name!r}")
        for state in self.states.values():
            for target in self.targets(state):
                if target not in self.states:
                    problems.append(f"{state.name}: leads to missing state {target!r}")
            kinds = [bool(state.effect), state.waits, bool(state.next), state.dial, state.hangup]
            if sum(kinds) != 1:
                problems.append(f"{state.name}: must do exactly one of effect, wait, next, dial, hangup")
            if state.effect and (state.say or state.each or state.then_say or not state.outcomes):
                problems.append(f"{state.name}: an effect state says nothing and needs outcomes")
            if state.dial and not {"answered", "unanswered"} <= set(state.outcomes):
                problems.append(f"{state.name}: a transfer needs 'answered' and 'unanswered' outcomes")
            if state.input and (state.keys or state.choices):
                problems.append(f"{state.name}: free input cannot share a state with keys")
            if state.listen and state.input:
                problems.append(f"{state.name}: free speech cannot share a state with typed input")
            if state.choices and any(k.isdigit() and k != "0" and int(k) <= state.choices.limit
                                     for k in state.keys):
                problems.append(f"{state.name}: keys 1-{state.choices.limit} belong to the menu")
        if problems:
            raise FlowError(f"{self.name}: " + "; ".join(problems))

    def effects(self) -> set[str]:
        return {s.effect for s in self.states.values() if s.effect}

    def prompt_keys(self) -> set[str]:
        keys = {p.key for s in self.states.values() for p in (*s.say, *s.then_say)}
        keys |= {s.choices.prompt.key for s in self.states.values() if s.choices}
        keys |= {s.each.prompt.key for s in self.states.values() if s.each}
        return keys
