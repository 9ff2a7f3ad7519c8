"""The TwiML renderer, exactly: a turn of the flow becomes which verbs, in which order, with which attributes.

No app and no database: turns are built by hand, prompts are rendered by a fake that shows the
key and the language it was asked for, so every <Say> can be checked to the character.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from hotline.ivr.twiml import Urls, Voice, apology, render_turn
from ivr_flows.engine import Spoken, Turn, Wait
from ivr_flows.prompts import FIXED_LANGUAGE

# The attributes Twilio documents for each voice verb and noun used by the hotline
# (https://www.twilio.com/docs/voice/twiml). Anything else is ignored at best, an error at worst.
TWILIO_ATTRIBUTES: dict[str, set[str]] = {
    "Response": set(),
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Hangup": set(),
    "Redirect": {"method"},
    "Gather": {"action", "actionOnEmptyResult", "enhanced", "finishOnKey", "hints", "input", "language", "method",
               "numDigits", "partialResultCallback", "partialResultCallbackMethod", "profanityFilter",
               "speechModel", "speechTimeout", "timeout"},
    "Dial": {"action", "answerOnBridge", "callerId", "events", "hangupOnStar", "method", "record",
             "recordingStatusCallback", "recordingStatusCallbackEvent", "recordingStatusCallbackMethod",
             "recordingTrack", "referMethod", "referUrl", "ringTone", "sequential", "timeLimit", "timeout", "trim"},
    "Number": {"sendDigits", "url", "method", "statusCallbackEvent", "statusCallback", "statusCallbackMethod",
               "byoc", "machineDetection", "machineDetectionTimeout", "amdStatusCallback",
               "amdStatusCallbackMethod"},
}

URLS = Urls(action="/ivr/step/3", silence="/ivr/step/3?silence=1", dial="/ivr/dial/3")
VOICES = {"vi": "Google.vi-VN-Standard-A", "en": "Google.en-US-Standard-C"}
OPERATORS = ["+842903821022", "+842903821023"]


def fake_render(spoken: Spoken, language: str) -> str:
    """Shows what was asked for: the language, the key and any values, e.g. `vi:booked[code=123]`."""
    values = ",".join(f"{name}={value}" for name, (_kind, value) in sorted(spoken.params.items()))
    return f"{language}:{spoken.key}" + (f"[{values}]" if values else "")


def audio_url(language: str, key: str) -> str:
    return f"https://hotline.example/ivr/audio/{language}/{key}.mp3"


def voice(*, speech: bool = False, audio_dir: Path | None = None) -> Voice:
    return Voice(voices=dict(VOICES), audio_dir=audio_dir, audio_url=audio_url, speech=speech)


def turn(*spoken: Spoken, wait: Wait | None = None, dial: bool = False, hangup: bool = False) -> Turn:
    return Turn(state="somewhere", context={}, retries=0, spoken=list(spoken), wait=wait, dial=dial, hangup=hangup)


def render(t: Turn, *, language: str = "vi", v: Voice | None = None, operators: list[str] | None = None,
           operator_timeout: int = 20) -> ET.Element:
    xml = render_turn(t, language=language, urls=URLS, voice=v or voice(), render=fake_render,
                      operators=OPERATORS if operators is None else operators, operator_timeout=operator_timeout)
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return parse(xml)


def parse(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    assert_only_documented_attributes(root)
    return root


def assert_only_documented_attributes(element: ET.Element) -> None:
    assert element.tag in TWILIO_ATTRIBUTES, f"<{element.tag}> is not a TwiML voice verb or noun"
    unknown = set(element.attrib) - TWILIO_ATTRIBUTES[element.tag]
    assert not unknown, f"<{element.tag}> has attributes Twilio does not document: {sorted(unknown)}"
    for child in element:
        assert_only_documented_attributes(child)


def structure(element: ET.Element) -> Any:
    """(tag, attributes, text, children) all the way down: compares two documents verb by verb."""
    text = (element.text or "").strip() or None
    return (element.tag, dict(element.attrib), text, [structure(child) for child in element])


def say(text: str, language: str = "vi") -> Any:
    return ("Say", {"voice": VOICES[language], "language": {"vi": "vi-VN", "en": "en-US"}[language]}, text, [])


def play(language: str, key: str) -> Any:
    return ("Play", {}, audio_url(language, key), [])


def redirect() -> Any:
    return ("Redirect", {"method": "POST"}, URLS.silence, [])


def gather(children: list[Any], **extra: str) -> Any:
    attributes = {"action": URLS.action, "method": "POST", "input": "dtmf", "timeout": "5", "finishOnKey": "#",
                  "language": "vi-VN", **extra}
    return ("Gather", attributes, None, children)


# -- waiting for the caller -----------------------------------------------------------------------


def test_a_waiting_turn_is_a_gather_around_its_prompts_then_a_redirect_for_silence() -> None:
    root = render(turn(Spoken("wrong_key"), Spoken("main_menu"), wait=Wait(1)))
    assert structure(root) == ("Response", {}, None, [
        gather([say("vi:wrong_key"), say("vi:main_menu_keys")], numDigits="1"),  # speech off: keys only
        redirect(),
    ])


def test_num_digits_is_the_longest_key() -> None:
    root = render(turn(Spoken("ask_code"), wait=Wait(9)))
    found = root.find("Gather")
    assert found is not None and found.attrib["numDigits"] == "9"


def test_free_input_has_no_num_digits_and_ends_with_hash() -> None:
    root = render(turn(Spoken("ask_phone"), wait=Wait(None)))
    assert structure(root) == ("Response", {}, None, [gather([say("vi:ask_phone")]), redirect()])
    found = root.find("Gather")
    assert found is not None and "numDigits" not in found.attrib and found.attrib["finishOnKey"] == "#"


def test_speech_with_hints_listens_for_words_too() -> None:
    hints = ("có", "không", "book")
    root = render(turn(Spoken("confirm_cancel"), wait=Wait(1, hints)), v=voice(speech=True))
    assert structure(root) == ("Response", {}, None, [
        gather([say("vi:confirm_cancel")], input="dtmf speech", numDigits="1", hints="có, không, book",
               speechTimeout="auto"),
        redirect(),
    ])


def test_speech_off_is_dtmf_only_even_with_hints() -> None:
    root = render(turn(Spoken("confirm_cancel"), wait=Wait(1, ("có", "không"))), v=voice(speech=False))
    assert structure(root) == ("Response", {}, None, [
        gather([say("vi:confirm_cancel")], numDigits="1"),
        redirect(),
    ])


@pytest.mark.parametrize("hints", [(), ("",), ("", "")])
def test_speech_on_without_hints_is_dtmf_only(hints: tuple[str, ...]) -> None:
    root = render(turn(Spoken("main_menu"), wait=Wait(1, hints)), v=voice(speech=True))
    found = root.find("Gather")
    assert found is not None
    assert found.attrib["input"] == "dtmf" and "hints" not in found.attrib and "speechTimeout" not in found.attrib


def test_empty_hints_are_left_out_of_the_list() -> None:
    root = render(turn(Spoken("choose_office"), wait=Wait(1, ("Năm Căn", "", "An Xuyên"))), v=voice(speech=True))
    found = root.find("Gather")
    assert found is not None and found.attrib["hints"] == "Năm Căn, An Xuyên"


def test_an_english_call_gathers_in_english() -> None:
    root = render(turn(Spoken("main_menu"), wait=Wait(1)), language="en")
    assert structure(root) == ("Response", {}, None, [
        gather([say("en:main_menu_keys", "en")], language="en-US", numDigits="1"),
        redirect(),
    ])


# -- transfer and hang-up ---------------------------------------------------------------------------


def test_a_dial_turn_says_then_rings_every_operator_and_does_not_hang_up() -> None:
    root = render(turn(Spoken("connecting"), dial=True), operator_timeout=25)
    assert structure(root) == ("Response", {}, None, [
        say("vi:connecting"),
        ("Dial", {"action": URLS.dial, "method": "POST", "timeout": "25"}, None,
         [("Number", {}, number, []) for number in OPERATORS]),
    ])
    assert root.find("Hangup") is None and root.find("Gather") is None and root.find("Redirect") is None


def test_a_dial_turn_with_one_operator() -> None:
    root = render(turn(Spoken("connecting"), dial=True), operators=["+842903821022"])
    assert [n.text for n in root.iter("Number")] == ["+842903821022"]


def test_a_hangup_turn_says_everything_then_hangs_up() -> None:
    root = render(turn(Spoken("callback_recorded", {"phone": ("phone", "+84912345678")}), Spoken("goodbye"),
                       hangup=True))
    assert structure(root) == ("Response", {}, None, [
        say("vi:callback_recorded[phone=+84912345678]"),
        say("vi:goodbye"),
        ("Hangup", {}, None, []),
    ])


def test_text_is_escaped_into_valid_xml() -> None:
    awkward = Spoken("office_address", {"office": ("text", 'A & B <"Số 1">'), "address": ("text", "Cà Mau")})
    root = render(turn(awkward, hangup=True))
    said = root.find("Say")
    assert said is not None and said.text == "vi:office_address[address=Cà Mau,office=A & B <\"Số 1\">]"


# -- languages and recordings -----------------------------------------------------------------------


def test_fixed_language_prompts_are_said_in_their_language_in_a_vietnamese_call() -> None:
    assert FIXED_LANGUAGE["language_offer"] == "en"
    root = render(turn(Spoken("welcome"), Spoken("language_offer"), Spoken("main_menu"), wait=Wait(1)))
    assert structure(root) == ("Response", {}, None, [
        gather([say("vi:welcome"), say("en:language_offer", "en"), say("vi:main_menu_keys")], numDigits="1"),
        redirect(),
    ])


def test_fixed_language_prompts_in_an_english_call_are_unchanged() -> None:
    root = render(turn(Spoken("language_offer"), wait=Wait(1)), language="en")
    assert structure(root)[3][0][3] == [say("en:language_offer", "en")]


def recordings(tmp_path: Path, *paths: str) -> Path:
    for path in paths:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"ID3")
    return tmp_path


def test_a_recorded_prompt_is_played_instead_of_said(tmp_path: Path) -> None:
    audio = recordings(tmp_path, "vi/welcome.mp3", "vi/goodbye.mp3")
    root = render(turn(Spoken("welcome"), Spoken("main_menu"), wait=Wait(1)), v=voice(audio_dir=audio))
    assert structure(root) == ("Response", {}, None, [
        gather([play("vi", "welcome"), say("vi:main_menu_keys")], numDigits="1"),
        redirect(),
    ])


def test_a_recording_is_in_the_language_of_the_call(tmp_path: Path) -> None:
    audio = recordings(tmp_path, "vi/welcome.mp3")
    root = render(turn(Spoken("welcome"), hangup=True), language="en", v=voice(audio_dir=audio))
    assert structure(root)[3] == [say("en:welcome", "en"), ("Hangup", {}, None, [])]


def test_a_fixed_language_recording_is_played_from_its_own_language(tmp_path: Path) -> None:
    audio = recordings(tmp_path, "en/language_offer.mp3", "vi/language_offer.mp3")
    root = render(turn(Spoken("language_offer"), wait=Wait(1)), v=voice(audio_dir=audio))
    assert structure(root)[3][0][3] == [play("en", "language_offer")]


def test_a_prompt_with_values_is_said_even_when_recorded(tmp_path: Path) -> None:
    audio = recordings(tmp_path, "vi/booked.mp3", "vi/goodbye.mp3")
    booked = Spoken("booked", {"code": ("digits", "123456789"), "queue": ("text", "S-001")})
    root = render(turn(booked, Spoken("goodbye"), hangup=True), v=voice(audio_dir=audio))
    assert structure(root) == ("Response", {}, None, [
        say("vi:booked[code=123456789,queue=S-001]"),
        play("vi", "goodbye"),
        ("Hangup", {}, None, []),
    ])


def test_a_missing_audio_dir_or_a_folder_named_like_a_recording_means_text_to_speech(tmp_path: Path) -> None:
    (tmp_path / "vi" / "welcome.mp3").mkdir(parents=True)  # not a file
    for v in (voice(audio_dir=tmp_path), voice(audio_dir=tmp_path / "nowhere")):
        root = render(turn(Spoken("welcome"), hangup=True), v=v)
        assert structure(root)[3][0] == say("vi:welcome")


# -- the apology ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["vi", "en"])
def test_apology_is_a_say_then_a_hangup(language: str) -> None:
    root = parse(apology(language, voice(), fake_render))
    assert structure(root) == ("Response", {}, None, [
        say(f"{language}:error", language),
        ("Hangup", {}, None, []),
    ])


def test_apology_plays_a_recording_when_there_is_one(tmp_path: Path) -> None:
    audio = recordings(tmp_path, "vi/error.mp3")
    root = parse(apology("vi", voice(audio_dir=audio), fake_render))
    assert structure(root)[3] == [play("vi", "error"), ("Hangup", {}, None, [])]
