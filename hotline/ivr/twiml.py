"""The only module that knows TwiML: a turn of the call flow becomes a Twilio voice response.

Every <Gather> is followed by a <Redirect> that reports silence, because Twilio goes on to the
next verb when the caller enters nothing. Nothing it writes holds a character XML 1.0 forbids.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from booking.plain_text import xml_safe
from ivr_flows.engine import Spoken, Turn
from ivr_flows.prompts import FIXED_LANGUAGE, KEYS_ONLY, PROMPTS

TWILIO_LANGUAGE = {"vi": "vi-VN", "en": "en-US"}


@dataclass(frozen=True)
class Voice:
    """How prompts sound: voices per language, recorded audio, and whether speech is accepted."""

    voices: dict[str, str]
    audio_dir: Path | None
    audio_url: Callable[[str, str], str]
    speech: bool


@dataclass(frozen=True)
class Urls:
    action: str  # where the caller's keys or words are posted
    silence: str  # where Twilio is sent when nothing was entered
    dial: str  # where the result of a transfer is posted


def _xml(response: VoiceResponse) -> str:
    """The TwiML document, leaving out any character XML 1.0 forbids wherever it is (a prompt, a speech hint).

    The gate keeps them out of what is stored now, but not out of what was stored before it (an office
    name with Word's vertical tab), and one such character makes the whole answer unreadable to Twilio.
    """
    root = response.xml()
    for element in root.iter():
        element.text = xml_safe(element.text) if element.text else element.text
        element.tail = xml_safe(element.tail) if element.tail else element.tail
        for name, value in element.attrib.items():
            element.set(name, xml_safe(value))
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def _say(parent: VoiceResponse | Gather, spoken: Spoken, language: str, voice: Voice,
         render: Callable[[Spoken, str], str]) -> None:
    if not voice.speech and f"{spoken.key}{KEYS_ONLY}" in PROMPTS:
        # Without speech recognition a prompt must not invite the caller to speak.
        spoken = dataclasses.replace(spoken, key=f"{spoken.key}{KEYS_ONLY}")
    language = FIXED_LANGUAGE.get(spoken.key, language)
    recorded = voice.audio_dir / language / f"{spoken.key}.mp3" if voice.audio_dir else None
    if not spoken.params and recorded is not None and recorded.is_file():
        parent.play(voice.audio_url(language, spoken.key))
        return
    parent.say(render(spoken, language), voice=voice.voices[language], language=TWILIO_LANGUAGE[language])


def render_turn(turn: Turn, *, language: str, urls: Urls, voice: Voice, render: Callable[[Spoken, str], str],
                operators: list[str], operator_timeout: int) -> str:
    response = VoiceResponse()
    if turn.wait is not None:
        hints = [h for h in turn.wait.speech_hints if h]
        options: dict[str, object] = dict(
            action=urls.action, method="POST", input="dtmf speech" if voice.speech and hints else "dtmf",
            timeout=5, finish_on_key="#", language=TWILIO_LANGUAGE[language])
        if turn.wait.max_digits is not None:
            options["num_digits"] = turn.wait.max_digits
        if voice.speech and hints:
            options.update(hints=", ".join(hints), speech_timeout="auto")
        gather = Gather(**options)
        for spoken in turn.spoken:
            _say(gather, spoken, language, voice, render)
        response.append(gather)
        response.redirect(urls.silence, method="POST")
    else:
        for spoken in turn.spoken:
            _say(response, spoken, language, voice, render)
        if turn.dial:
            dial = Dial(action=urls.dial, method="POST", timeout=operator_timeout)
            for number in operators:
                dial.number(number)
            response.append(dial)
        else:
            response.hangup()
    return _xml(response)


def apology(language: str, voice: Voice, render: Callable[[Spoken, str], str]) -> str:
    """What a caller hears when the system itself fails: an apology, then the call ends cleanly."""
    response = VoiceResponse()
    _say(response, Spoken("error"), language, voice, render)
    response.hangup()
    return _xml(response)


__all__ = ["PROMPTS", "Urls", "Voice", "apology", "render_turn"]
