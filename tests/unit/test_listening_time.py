"""The pure parts of the listening-time benchmark (bench/listening.py): what a TwiML answer makes the
caller hear and wait for, what the caller's answer costs, which key a menu sentence offers, and where
in a prompt a value has been said. The benchmark itself (espeak-ng, sox, the app) is never run here.
"""

from __future__ import annotations

import pytest

from bench.listening import (
    DEFAULT_TIMEOUT, FIRST_KEY_SECONDS, NEXT_KEY_SECONDS, SHORT_SPEECH_SECONDS, Answer, Gather, Prompt,
    answer_posted, choose, input_seconds, options, placeholders, read_twiml, said_up_to, template_pattern,
)
from hotline.ivr.twiml import Urls, Voice, render_turn
from ivr_flows.engine import Spoken, Turn, Wait

URLS = Urls(action="/ivr/step/3", silence="/ivr/step/3?silence=1", dial="/ivr/dial/3")
VOICE = Voice(voices={"vi": "Google.vi-VN-Standard-A", "en": "Google.en-US-Standard-C"}, audio_dir=None,
              audio_url=lambda lang, key: f"/audio/{lang}/{key}.mp3", speech=False)
TEXTS = {"welcome": "Chào quý vị.", "language_offer": "For English, press 9.",
         "main_menu_keys": "Để đặt lịch hẹn, bấm 1.", "goodbye": "Xin cảm ơn quý vị."}  # speech off: keys only


def _rendered(turn: Turn) -> str:
    """TwiML exactly as the hotline's renderer writes it, with fixed texts for the prompts."""
    return render_turn(turn, language="vi", urls=URLS, voice=VOICE, render=lambda spoken, _lang: TEXTS[spoken.key],
                       operators=[], operator_timeout=20)


def test_a_menu_answer_gives_its_prompts_in_order_each_in_its_language_and_the_gathers_wait() -> None:
    turn = Turn("main_menu", {}, 0, [Spoken("welcome"), Spoken("language_offer"), Spoken("main_menu")],
                wait=Wait(1))
    heard = read_twiml(_rendered(turn))
    assert heard.prompts == (Prompt("Chào quý vị.", "vi"), Prompt("For English, press 9.", "en"),
                             Prompt("Để đặt lịch hẹn, bấm 1.", "vi"))
    assert heard.gather == Gather(timeout=DEFAULT_TIMEOUT, num_digits=1, finish_on_key="#", speech=False)
    assert not heard.hangs_up


def test_an_answer_that_hangs_up_waits_for_nothing() -> None:
    heard = read_twiml(_rendered(Turn("goodbye", {}, 0, [Spoken("goodbye")])))
    assert heard.prompts == (Prompt("Xin cảm ơn quý vị.", "vi"),)
    assert heard.gather is None
    assert heard.hangs_up


def test_the_timeout_and_pauses_are_read_from_the_twiml() -> None:
    body = ('<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="dtmf speech" timeout="8" '
            'finishOnKey=""><Say language="vi-VN">Mời\n   quý vị nói.</Say><Pause length="2"/></Gather>'
            '<Redirect>/ivr/step/1?silence=1</Redirect></Response>')
    heard = read_twiml(body)
    assert heard.prompts == (Prompt("Mời quý vị nói.", "vi"), Prompt("", pause=2.0))
    assert heard.gather == Gather(timeout=8.0, num_digits=None, finish_on_key="", speech=True)


@pytest.mark.parametrize(("url", "params", "expected"), [
    ("/ivr/step/2?silence=1", {"CallSid": "CA1"}, Answer("silence")),
    ("/ivr/step/2", {"Digits": "5", "FinishedOnKey": ""}, Answer("keys", "5")),
    ("/ivr/step/2", {"Digits": "0912345678", "FinishedOnKey": "#"}, Answer("keys", "0912345678", "#")),
    ("/ivr/step/2", {"SpeechResult": "đặt lịch ở xã Năm Căn", "Confidence": "0.9"},
     Answer("speech", "đặt lịch ở xã Năm Căn")),
])
def test_the_callers_answer_is_read_from_the_request_twilio_posted(url: str, params: dict[str, str],
                                                                   expected: Answer) -> None:
    assert answer_posted(url, params) == expected


MENU = Gather(timeout=5.0, num_digits=1)
TYPED = Gather(timeout=5.0, num_digits=14)


@pytest.mark.parametrize(("answer", "gather", "seconds"), [
    (Answer("keys", "1"), MENU, FIRST_KEY_SECONDS),
    (Answer("silence"), Gather(timeout=7.0), 7.0),
    # Ten digits and the hash key: nothing more to wait for.
    (Answer("keys", "0912345678", "#"), TYPED, FIRST_KEY_SECONDS + 10 * NEXT_KEY_SECONDS),
    # Two digits of four, no hash key: Twilio waits its timeout for a third.
    (Answer("keys", "12"), Gather(timeout=5.0, num_digits=4), FIRST_KEY_SECONDS + NEXT_KEY_SECONDS + 5.0),
    (Answer("speech", "có"), MENU, SHORT_SPEECH_SECONDS),
    (Answer("speech", "đặt lịch ở xã Năm Căn sáng thứ hai tuần sau"), MENU, 11 / 4),
    (Answer("speech", " ".join(["một"] * 12)), MENU, 3.0),
])
def test_what_the_callers_answer_is_assumed_to_take(answer: Answer, gather: Gather, seconds: float) -> None:
    assert input_seconds(answer, gather) == pytest.approx(seconds)


OFFICE_MENU = (Prompt("Vui lòng chọn cơ quan.", "vi"),
               Prompt("Trung tâm Phục vụ hành chính công tỉnh Cà Mau, bấm 1.", "vi"),
               Prompt("Trung tâm Phục vụ hành chính công xã Năm Căn, bấm 5.", "vi"),
               Prompt("Để chọn cơ quan khác, bấm 8 rồi nhập số của cơ quan. Để trở về menu chính, bấm phím sao.", "vi"))


def test_a_menu_offers_one_key_per_sentence_named_keys_included() -> None:
    assert [key for _sentence, key in options(OFFICE_MENU)] == ["1", "5", "8", "*"]
    assert options([Prompt("To book, press 1. For more, press the hash.", "en")])[1][1] == "#"


def test_the_caller_presses_the_key_of_the_wish_they_prefer_not_of_the_first_sentence() -> None:
    assert choose(OFFICE_MENU, ["Năm Căn", "khác"]) == "5"
    assert choose(OFFICE_MENU, ["Đầm Dơi", "khác"]) == "8"
    assert choose(OFFICE_MENU, ["Đầm Dơi"]) is None


def test_a_name_said_as_an_example_is_no_choice() -> None:
    """'ví dụ: xã Năm Căn' names no key in its sentence, so it must not be taken for the office's option."""
    asked = [Prompt("Vui lòng nói tên xã, ví dụ: xã Năm Căn. Để chọn từ danh sách, bấm 2.", "vi")]
    assert choose(asked, ["Năm Căn", "danh sách"]) == "2"


BOOKED = "Your appointment is booked. Your queue number is %(queue)s. Please come on %(date)s (bring %(what)s)."


def test_counting_can_stop_the_moment_a_value_has_been_said() -> None:
    pattern = template_pattern(BOOKED)
    text = "Your appointment is booked. Your queue number is S-012. Please come on Monday 8 March (bring papers)."
    assert said_up_to(text, pattern, "queue") == "Your appointment is booked. Your queue number is S-012"
    assert said_up_to(text, pattern) == text
    assert said_up_to("Your appointment has been cancelled.", pattern, "queue") is None
    assert placeholders(BOOKED) == ["queue", "date", "what"]


def test_a_prompt_is_recognised_with_its_white_space_folded_and_a_repeated_value() -> None:
    pattern = template_pattern("From %(start)s\n   to %(end)s, 100%% sure; from %(start)s again?")
    assert said_up_to("From 7 to 8, 100% sure; from 7 again?", pattern, "end") == "From 7 to 8"
    assert said_up_to("From 7 to 8, 100% sure; from 9 again?", pattern) is None
