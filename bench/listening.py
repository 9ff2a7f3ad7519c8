"""What a caller hears and does, read off the hotline's TwiML, and how long each part takes.

The pure parts of bench/listening_time.py (unit-tested in tests/unit/test_listening_time.py):
the prompts and the <Gather> of one TwiML answer, the caller's answer as Twilio posted it, the
time assumed for it, the choices a menu offers ("…, bấm 5."), the point in a prompt where a
value has been said, and the clock that renders a prompt with espeak-ng and measures it with sox.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# -- what the caller is assumed to do, and how long it takes ----------------------------------------------

# Twilio's own default; the hotline writes it on every <Gather>, and a silence lasts exactly that long.
DEFAULT_TIMEOUT = 5.0
FIRST_KEY_SECONDS = 1.0  # from the end of the prompt to the first key: finding the key and pressing it
NEXT_KEY_SECONDS = 0.5  # each further key of a typed number (an office number, a phone number, the #)
SHORT_SPEECH_SECONDS = 2.0  # a spoken answer ("có", "đặt lịch"), end-of-speech detection included
SYLLABLES_PER_SECOND = 4.0  # a longer sentence: Vietnamese words are one syllable, said slowly on the phone

ASSUMPTIONS = {
    "first_key_seconds": FIRST_KEY_SECONDS,
    "next_key_seconds": NEXT_KEY_SECONDS,
    "short_speech_seconds": SHORT_SPEECH_SECONDS,
    "syllables_per_second": SYLLABLES_PER_SECOND,
    "silence": "the <Gather>'s timeout attribute (Twilio's default 5 s when absent)",
    "keys_without_end": "a typed answer shorter than numDigits and not ended by finishOnKey waits the timeout "
                        "as well, as Twilio waits that long for another key",
    "listening": "the caller hears every prompt to its end (no barge-in) and the hotline answers at once "
                 "(no ringing, no webhook or text-to-speech latency counted)",
}


@dataclass(frozen=True)
class Prompt:
    """One thing the caller hears: a <Say>'s text in its language, or a <Pause> of `pause` seconds."""

    text: str
    language: str = ""  # "vi", "en": the <Say>'s language without its region
    pause: float = 0.0


@dataclass(frozen=True)
class Gather:
    """What a <Gather> waits for."""

    timeout: float = DEFAULT_TIMEOUT
    num_digits: int | None = None
    finish_on_key: str = "#"
    speech: bool = False


@dataclass(frozen=True)
class Heard:
    """One TwiML answer as the caller lives it: the prompts in order, then the <Gather> if any."""

    prompts: tuple[Prompt, ...]
    gather: Gather | None
    hangs_up: bool = False
    dials: bool = False


def _prompt(verb: ET.Element) -> Prompt | None:
    if verb.tag == "Say":
        return Prompt(" ".join((verb.text or "").split()), (verb.get("language") or "").split("-")[0].lower())
    if verb.tag == "Pause":
        return Prompt("", pause=float(verb.get("length") or 1))
    return None  # <Play> of a recording: not measured here (the benchmark turns recordings off)


def read_twiml(body: str) -> Heard:
    """The prompts and the wait of one TwiML answer."""
    root = ET.fromstring(body)
    prompts: list[Prompt] = []
    gather: Gather | None = None
    hangs_up = dials = False
    for verb in root:
        if verb.tag == "Gather":
            prompts.extend(p for p in map(_prompt, verb) if p is not None)
            digits = verb.get("numDigits")
            gather = Gather(timeout=float(verb.get("timeout") or DEFAULT_TIMEOUT),
                            num_digits=int(digits) if digits else None,
                            finish_on_key=verb.get("finishOnKey", "#"),
                            speech="speech" in (verb.get("input") or "dtmf").split())
            break  # what follows a <Gather> (its <Redirect>) is only for a silence
        if verb.tag in ("Hangup", "Reject"):
            hangs_up = True
            break
        if verb.tag == "Dial":
            dials = True
            break
        prompt = _prompt(verb)
        if prompt is not None:
            prompts.append(prompt)
    return Heard(tuple(prompts), gather, hangs_up, dials)


@dataclass(frozen=True)
class Answer:
    """What the caller did at a <Gather>, as read from the request Twilio then posted."""

    kind: str  # "keys", "speech" or "silence"
    value: str = ""
    finished_on_key: str = ""


def answer_posted(url: str, params: Mapping[str, str]) -> Answer:
    """The caller's answer from the request that followed a <Gather>: its action, or the silence redirect."""
    if "silence=1" in url.partition("?")[2].split("&"):
        return Answer("silence")
    if params.get("SpeechResult"):
        return Answer("speech", params["SpeechResult"])
    if params.get("Digits"):
        return Answer("keys", params["Digits"], params.get("FinishedOnKey", ""))
    return Answer("silence")


def input_seconds(answer: Answer, gather: Gather) -> float:
    """How long the caller takes over `answer` at `gather`, by the assumptions above."""
    if answer.kind == "silence":
        return gather.timeout
    if answer.kind == "speech":
        return max(SHORT_SPEECH_SECONDS, len(answer.value.split()) / SYLLABLES_PER_SECOND)
    pressed = len(answer.value) + (1 if answer.finished_on_key else 0)
    seconds = FIRST_KEY_SECONDS + NEXT_KEY_SECONDS * (pressed - 1)
    complete = bool(answer.finished_on_key) or (gather.num_digits is not None
                                                and len(answer.value) >= gather.num_digits)
    return seconds if complete else seconds + gather.timeout


# -- menus: which key gives what ----------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.;!?])\s+")
# "bấm 5", "bấm phím sao", "nhấn phím 1", "press 9", "press star"
_KEY = re.compile(r"\b(?:bấm|nhấn|press)\s+(?:(?:phím|số|the)\s+)?(\d|sao|thăng|star|hash)\b", re.IGNORECASE)
_KEY_WORDS = {"sao": "*", "star": "*", "thăng": "#", "hash": "#"}


def options(prompts: Iterable[Prompt]) -> list[tuple[str, str]]:
    """Every (sentence, key) a menu offers, in the order said: one sentence of a prompt names one key."""
    found: list[tuple[str, str]] = []
    for prompt in prompts:
        for sentence in _SENTENCE_END.split(prompt.text):
            match = _KEY.search(sentence)
            if match:
                key = match.group(1).lower()
                found.append((sentence, _KEY_WORDS.get(key, key)))
    return found


def choose(prompts: Sequence[Prompt], wishes: Sequence[str]) -> str | None:
    """The key of the first wish (a regular expression) that some offered sentence matches, or None.

    Wishes are in the caller's order of preference, so "Năm Căn" beats "khác" ("another office")
    in a menu that offers both.
    """
    offered = options(prompts)
    for wish in wishes:
        pattern = re.compile(wish, re.IGNORECASE)
        for sentence, key in offered:
            if pattern.search(sentence):
                return key
    return None


# -- where in a prompt a value has been said ---------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")


def placeholders(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1)]


def template_pattern(template: str) -> re.Pattern[str]:
    """A regular expression matching what `template` says once its %(name)s placeholders are filled.

    White space is folded to single spaces, as in the TwiML text `read_twiml` gives.
    """
    template = " ".join(template.split())
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[position:match.start()]))
        name = match.group(1)
        if name is None:
            parts.append("%")
        elif name in seen:
            parts.append(f"(?P={name})")
        else:
            seen.add(name)
            parts.append(f"(?P<{name}>.+?)")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts), re.DOTALL)


def said_up_to(text: str, pattern: re.Pattern[str], placeholder: str | None = None) -> str | None:
    """The part of `text` heard once `placeholder` has been said (all of it without one); None if it is not that prompt."""
    text = " ".join(text.split())
    match = pattern.fullmatch(text)
    if match is None:
        return None
    return text if placeholder is None else text[:match.end(placeholder)]


# -- the clock: espeak-ng renders, sox measures -------------------------------------------------------------

ESPEAK_VOICES = {"vi": "vi", "en": "en"}


class SpeechClock:
    """Seconds a text takes when espeak-ng speaks it at its default rate, from WAVs cached by text hash."""

    def __init__(self, cache: Path) -> None:
        missing = [tool for tool in ("espeak-ng", "soxi") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"{' and '.join(missing)} not found: apt-get install espeak-ng sox")
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        self._seconds: dict[Path, float] = {}
        self.rendered = 0  # WAVs made by this run (the others came from the cache)

    def wav(self, text: str, language: str) -> Path:
        voice = ESPEAK_VOICES[language]
        digest = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:32]
        path = self.cache / f"{voice}-{digest}.wav"
        if not path.exists():
            draft = path.with_suffix(f".{os.getpid()}.tmp.wav")
            # The text goes on stdin: a prompt starting with "-" would otherwise be read as an option.
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(draft), "--stdin"], input=text.encode(),
                           check=True, capture_output=True)
            draft.replace(path)
            self.rendered += 1
        return path

    def seconds(self, text: str, language: str) -> float:
        if not text.strip():
            return 0.0
        path = self.wav(text, language)
        if path not in self._seconds:
            out = subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout
            self._seconds[path] = float(out.strip())
        return self._seconds[path]

    def prompt_seconds(self, prompt: Prompt) -> float:
        return prompt.pause if not prompt.text else self.seconds(prompt.text, prompt.language)


def tool_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name, args in (("espeak-ng", ["espeak-ng", "--version"]), ("sox", ["sox", "--version"])):
        try:
            versions[name] = subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            versions[name] = "not installed"
    return versions
