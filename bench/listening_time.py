"""How long a caller listens and answers, from the first ring to what they called for, on scripted calls.

    .venv/bin/python -m bench.listening_time [--verbose]
    .venv/bin/python -m bench.listening_time --list-prompts

Each scripted call is played against the hotline in this process, through the call simulator
(hotline/simulator.py: signed webhooks, <Gather> actions, silence redirects) and Flask's test
client, on a SQLite database of its own in a temporary folder: migrated and loaded with the demo
province (`flask db upgrade`, `flask demo load`), the clock fixed at Monday 1 March 2027, 09:00 in
Vietnam. Recorded prompts are turned off, so every prompt is a <Say>.

Every <Say> the caller hears is rendered in its own language (vi → `espeak-ng -v vi`, en →
`-v en`) at espeak-ng's default rate to a WAV, cached by text hash in a temporary folder, and
measured with `soxi -D`. The caller's own time is added by the assumptions in bench/listening.py:
1 s to the first key of an answer and 0.5 s for each further key, the <Gather>'s timeout (read
from the TwiML) for a silence or for a typed answer Twilio must wait to see ended, at least 2 s
for a spoken answer (4 syllables a second for a sentence). A caller hears each prompt to its end.

A scripted caller does not press fixed keys: at every menu it presses the key of the first of its
wishes that some sentence offers ("xã Năm Căn, bấm 4." for the wish "Năm Căn"), so the scripts
follow a rewritten menu. A caller may also answer a question in words: when a prompt it hears
matches one of its `spoken` patterns and the <Gather> listens for speech, it says the words
("xã Năm Căn" when asked for its commune or ward). Mistakes and whole sentences are given at fixed
turns. Counting stops once the stop prompt has been said (for a booking, the moment its queue
number has been spoken). A caller who hears no option it wants is stuck: a path the flow does not
offer (yet) is then reported "not available yet", with what the caller heard.

`--list-prompts` prints every prompt of ivr_flows/prompts.py in both languages with its spoken
seconds, placeholders filled with typical values, longest first: a guide for rewriting prompts.

The result is printed and written to bench/results/listening_time.json. It asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from bench._common import NOW, environment, write_result
from bench.listening import (
    ASSUMPTIONS, Heard, Prompt, SpeechClock, answer_posted, choose, input_seconds, options, placeholders,
    read_twiml,
    said_up_to, template_pattern, tool_versions,
)
from config import Settings
from hotline import create_app
from hotline.ivr.webhooks import _render_spoken
from hotline.localization import BabelLocalizer
from hotline.simulator import IN_PROCESS_BASE, AppTransport, CallSimulator, SimulatorError
from ivr_flows.engine import Spoken
from ivr_flows.prompts import FIXED_LANGUAGE, PROMPTS

NAME = "listening_time"
CACHE = Path(tempfile.gettempdir()) / "hotline_listening_time_wavs"
TOKEN = "listening0time0bench0token000000"
LANGUAGES = ("vi", "en")
MAX_TURNS = 40  # a caller who has answered this often is going round in circles

SESSION = r"\b(sáng|chiều)\b"  # a session offered: "sáng thứ Hai, ngày 8 tháng 3, bấm 1."
CONFIRM = "xác nhận|đồng ý|nếu đúng|nếu phải"
MORE = "danh sách|thêm|tiếp|khác"  # the way to more offices when the caller's is not offered


@dataclass(frozen=True)
class Stop:
    """Where counting stops: once the prompt `key` has been said, or within it once `placeholder` has."""

    key: str
    placeholder: str | None = None


@dataclass(frozen=True)
class Script:
    name: str
    title: str
    caller: str  # the number the call comes from (the network presents it: a mobile)
    wishes: tuple[str, ...]  # what the caller listens for in every menu, most wanted first
    stop: Stop
    target: float | None = None  # seconds, prompts and caller's input together
    at_turn: Mapping[int, str] = field(default_factory=dict)  # answers at the n-th <Gather>: mistakes, a sentence
    # (pattern of a prompt heard, words said in answer), where the <Gather> listens for speech
    spoken: tuple[tuple[str, str], ...] = ()
    speech: bool = True  # IVR_SPEECH, on by default; the keypad callers simply never speak
    new_path: bool = False  # a path the flow may not offer yet: stuck means "not available yet"


A, B, C, D, E = "+84912345678", "+84987654321", "+84903123456", "+84977111222", "+84966333444"
# Birth registration (hộ tịch) is the commonest dossier at a commune; unsure callers press "chưa rõ".
BOOK = ("đặt lịch", "Năm Căn", "Hộ tịch|Tư pháp", SESSION, CONFIRM, MORE, "chưa rõ")
BOOK_AT_THE_CENTRE = ("đặt lịch", "trung tâm tỉnh", "Hộ tịch|Tư pháp", SESSION, CONFIRM, "chưa rõ")
SAYS_THE_COMMUNE = (("tên xã", "xã Năm Căn"),)  # the office question listens for a name

# In order: the check, move and cancel calls find the bookings the first calls made.
SCRIPTS = (
    # Keys only: the commune is found in the list of offices, four at a time in name order.
    Script("keypad", "keys only, xã Năm Căn from the list of offices, hộ tịch, first session", A, BOOK,
           Stop("booked", "queue"), target=45),
    Script("keypad_named", "keys, but xã Năm Căn said when the office is asked, hộ tịch, first session", E, BOOK,
           Stop("booked", "queue"), target=45, spoken=SAYS_THE_COMMUNE),
    Script("keypad_centre", "keys only, the province centre (key 1), tư pháp, first session", D, BOOK_AT_THE_CENTRE,
           Stop("booked", "queue"), target=45),
    # When the first menu understands a sentence, the caller only confirms.
    Script("one_sentence", "one sentence at the first menu, then confirm", C, (CONFIRM,), Stop("booked", "queue"),
           target=30, at_turn={0: "say:đặt lịch ở xã Năm Căn sáng thứ hai tuần sau"}),
    # As keypad_named, with a wrong key at the first menu and a silence when the office is asked.
    Script("one_mistake", "keypad_named with a wrong key and a silence", B, BOOK, Stop("booked", "queue"),
           target=75, at_turn={0: "7", 2: ""}, spoken=SAYS_THE_COMMUNE),
    Script("check", "check the appointment booked by keypad", A, ("hủy lịch|kiểm tra", SESSION), Stop("booking_detail")),
    Script("reschedule", "move that appointment to the first other session", A, ("đổi|dời", SESSION, CONFIRM),
           Stop("moved", "queue")),
    Script("cancel", "cancel the appointment booked with a mistake", B, ("hủy", SESSION, CONFIRM),
           Stop("cancelled")),
)


# -- the hotline, in process ------------------------------------------------------------------------------


def make_hotline(folder: Path, *, speech: bool) -> Flask:
    settings = Settings(env="testing", database_url=f"sqlite:///{folder / 'hotline.sqlite3'}",
                        instance_path=folder / "instance", secret_key="l" * 32, twilio_auth_token=TOKEN,
                        ivr_speech=speech, ivr_audio_dir=folder / "no-recordings")
    app = create_app(settings, check_schema=False)
    app.extensions["hotline"].clock = lambda: NOW
    return app


def load_province(app: Flask) -> None:
    """`flask db upgrade` and `flask demo load`, on the app's own database and clock."""
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"], ["demo", "load"]):
        result = runner.invoke(args=args)
        if result.exit_code != 0:
            raise SystemExit(f"flask {' '.join(args)} failed: {result.output}{result.exception or ''}")


@dataclass
class Exchange:
    url: str
    params: dict[str, str]
    body: str


class Recorder:
    """The simulator's transport: the app's test client, keeping every webhook and its TwiML."""

    def __init__(self, app: Flask) -> None:
        self.transport = AppTransport(app)
        self.exchanges: list[Exchange] = []

    def __call__(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        status, body = self.transport(url, params, headers)
        if not url.endswith("/ivr/status"):
            self.exchanges.append(Exchange(url, dict(params), body))
        return status, body


class Templates:
    """The prompts' texts in each language, as patterns to recognise them in what the caller hears."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            self.patterns = {(key, lang): template_pattern(BabelLocalizer(lang).gettext(PROMPTS[key]))
                             for key in PROMPTS for lang in LANGUAGES}

    def heard_up_to(self, prompt: Prompt, stop: Stop) -> str | None:
        pattern = self.patterns.get((stop.key, prompt.language))
        return None if pattern is None or not prompt.text else said_up_to(prompt.text, pattern, stop.placeholder)


class ScriptedCaller:
    """The simulator's `ask`: answers each <Gather> by the script, hangs up once the stop has been heard."""

    def __init__(self, script: Script, recorder: Recorder, templates: Templates) -> None:
        self.script, self.recorder, self.templates = script, recorder, templates
        self.turn = 0
        self.stuck: str | None = None

    def __call__(self, question: str) -> str:
        if question.startswith("☎"):
            self.stuck = "put through to an operator"
            return "hangup"
        heard = read_twiml(self.recorder.exchanges[-1].body)
        if any(self.templates.heard_up_to(p, self.script.stop) is not None for p in heard.prompts):
            return "hangup"
        turn, self.turn = self.turn, self.turn + 1
        if turn in self.script.at_turn:
            return self.script.at_turn[turn]
        if heard.gather is not None and heard.gather.speech:
            for asked, words in self.script.spoken:
                if any(re.search(asked, p.text, re.IGNORECASE) for p in heard.prompts):
                    return f"say:{words}"
        key = choose(heard.prompts, self.script.wishes) if turn < MAX_TURNS else None
        if key is None:
            self.stuck = " ".join(p.text for p in heard.prompts) or "(nothing)"
            return "hangup"
        return key


# -- one call, measured ---------------------------------------------------------------------------------------


def timeline(exchanges: list[Exchange], stop: Stop, templates: Templates,
             clock: SpeechClock) -> tuple[list[dict[str, Any]], bool]:
    """What the caller heard and did, each with its seconds, up to the stop; and whether the stop was heard.

    `barge_in_seconds` is what a prompt lasts for a caller who presses their key as soon as the
    sentence offering it ends (Twilio stops a <Say> inside a <Gather> at the first key): up to that
    sentence in the prompt that offers it, nothing of the prompts after it.
    """
    segments: list[dict[str, Any]] = []
    for n, exchange in enumerate(exchanges):
        heard: Heard = read_twiml(exchange.body)
        turn: list[dict[str, Any]] = []
        for prompt in heard.prompts:
            part = templates.heard_up_to(prompt, stop)
            said = prompt if part is None else Prompt(part, prompt.language)
            turn.append({"kind": "prompt", "turn": n, "language": prompt.language, "text": said.text,
                         "seconds": round(clock.prompt_seconds(said), 3)})
            if part is not None:
                return segments + turn, True
        if heard.gather is not None and n + 1 < len(exchanges):
            following = exchanges[n + 1]
            answer = answer_posted(following.url, following.params)
            offers = [(i, sentence) for i, p in enumerate(heard.prompts) for sentence, key in options([p])
                      if answer.kind == "keys" and key == answer.value]
            if offers:
                i, sentence = offers[0]
                text = turn[i]["text"]
                heard_to = text[:text.index(sentence) + len(sentence)]
                turn[i]["barge_in_seconds"] = round(clock.seconds(heard_to, turn[i]["language"]), 3)
                for segment in turn[i + 1:]:
                    segment["barge_in_seconds"] = 0.0
            turn.append({"kind": answer.kind, "turn": n, "text": answer.value + answer.finished_on_key,
                         "seconds": input_seconds(answer, heard.gather)})
        segments += turn
    return segments, False


def longest_turn(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The hotline's longest answer: the prompts of one turn, said together."""
    turns: dict[int, list[dict[str, Any]]] = {}
    for segment in segments:
        if segment["kind"] == "prompt":
            turns.setdefault(segment["turn"], []).append(segment)
    said = max(turns.values(), key=lambda prompts: sum(p["seconds"] for p in prompts))
    return {"seconds": round(sum(p["seconds"] for p in said), 1), "prompts": len(said),
            "text": " ".join(p["text"] for p in said)}


def play(script: Script, apps: Mapping[bool, Flask], templates: Templates, clock: SpeechClock,
         verbose: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"name": script.name, "title": script.title, "caller": script.caller,
                              "target_seconds": script.target}
    if script.stop.key not in PROMPTS:
        reason = f"the flow has no prompt {script.stop.key!r} to end this call with"
        return {**result, "status": "not available yet" if script.new_path else "failed", "reason": reason}
    recorder = Recorder(apps[script.speech])
    caller = ScriptedCaller(script, recorder, templates)
    simulator = CallSimulator(post=recorder, token=TOKEN, base_url=IN_PROCESS_BASE, caller=script.caller,
                              ask=caller, out=print if verbose else (lambda _line: None), max_steps=MAX_TURNS + 20)
    try:
        simulator.run()
    except SimulatorError as exc:
        return {**result, "status": "failed", "reason": str(exc)}
    segments, reached = timeline(recorder.exchanges, script.stop, templates, clock)
    if not reached:
        apology = templates.patterns[("error", "vi")]
        if any(said_up_to(s["text"], apology) for s in segments if s["kind"] == "prompt"):
            why = "the hotline answered with its apology: a fault of the app (--verbose shows its log)"
        elif caller.stuck:
            why = f"the caller was stuck after hearing: {caller.stuck}"
        else:
            why = "the call ended first"
        status = "not available yet" if script.new_path else "failed"
        return {**result, "status": status, "reason": why, "segments": segments}
    prompts = sum(s["seconds"] for s in segments if s["kind"] == "prompt")
    said = sum(s["seconds"] for s in segments if s["kind"] != "prompt")
    total = prompts + said
    barge_in = sum(s.get("barge_in_seconds", s["seconds"]) for s in segments)
    longest = sorted((s for s in segments if s["kind"] == "prompt"), key=lambda s: -s["seconds"])[:3]
    return {**result, "status": "ok", "prompt_seconds": round(prompts, 1), "input_seconds": round(said, 1),
            "total_seconds": round(total, 1), "barge_in_total_seconds": round(barge_in, 1),
            "answers": sum(1 for s in segments if s["kind"] != "prompt"),
            "met": None if script.target is None else total <= script.target,
            "longest_prompts": [{"seconds": s["seconds"], "text": s["text"]} for s in longest],
            "longest_turn": longest_turn(segments), "segments": segments}


def report(results: list[dict[str, Any]]) -> None:
    print(f"{'call':<13} {'prompts s':>9} {'input s':>7} {'total s':>7} {'target':>6}  {'result':<16} "
          f"{'barge-in s':>10}")
    for r in results:
        target = f"≤ {r['target_seconds']:g}" if r["target_seconds"] is not None else "—"
        if r["status"] != "ok":
            print(f"{r['name']:<13} {'':>9} {'':>7} {'':>7} {target:>6}  {r['status']}")
            continue
        verdict = ("—" if r["met"] is None else "met" if r["met"]
                   else f"over by {r['total_seconds'] - r['target_seconds']:.1f}")
        print(f"{r['name']:<13} {r['prompt_seconds']:>9.1f} {r['input_seconds']:>7.1f} {r['total_seconds']:>7.1f} "
              f"{target:>6}  {verdict:<16} {r['barge_in_total_seconds']:>10.1f}")
    print("(input: keys, words and silences; barge-in: the total when the caller presses their key as soon as "
          "it is offered)")
    for r in results:
        print(f"\n{r['name']}: {r['title']}")
        if r["status"] != "ok":
            reason = r["reason"] if len(r["reason"]) <= 300 else r["reason"][:300] + " …"
            print(f"  {r['status']}: {reason}")
            continue
        for p in r["longest_prompts"]:
            print(f"  {p['seconds']:5.1f} s  {p['text']}")
        turn = r["longest_turn"]
        text = turn["text"] if len(turn["text"]) <= 120 else turn["text"][:120] + " …"
        print(f"  longest turn: {turn['seconds']:.1f} s in {turn['prompts']} prompts: {text}")


# -- every prompt, with typical values ------------------------------------------------------------------------

# How a placeholder is said (the kinds of hotline.ivr.speech.say_value) and a typical value in each language.
TYPICAL: dict[str, tuple[str, str, str]] = {
    "name": ("text", "Trung tâm Phục vụ hành chính công xã Năm Căn", "Nam Can Commune Public Administration Service Centre"),
    "office": ("text", "Trung tâm Phục vụ hành chính công xã Năm Căn", "Nam Can Commune Public Administration Service Centre"),
    "n": ("text", "1", "1"),
    "field": ("text", "Lĩnh vực Tư pháp", "Justice"),
    "date": ("date", "2027-03-08", "2027-03-08"),
    "part": ("message", "morning", "morning"),
    "left": ("number", "20", "20"),
    "phone": ("phone", "+84912345678", "+84912345678"),
    "code": ("digits", "480110689", "480110689"),
    "queue": ("number", "12", "12"),
    "start": ("time", "07:30", "07:30"),
    "end": ("time", "08:00", "08:00"),
    "opens": ("time", "07:00", "07:00"),
    "closes": ("time", "17:00", "17:00"),
    "address": ("text", "xã Năm Căn, tỉnh Cà Mau", "Nam Can commune, Ca Mau province"),
    "crowd": ("number", "30", "30"),
    "province": ("text", "tỉnh Cà Mau", "Ca Mau province"),
    "documents": ("text", "căn cước và giấy tờ của hồ sơ", "your identity card and the dossier's papers"),
    "hours": ("text", "thứ Hai đến thứ Sáu, sáng từ 7 giờ 30 đến 11 giờ 30, chiều từ 13 giờ 30 đến 17 giờ",
              "Monday to Friday, 7:30 to 11:30 AM and 1:30 to 5 PM"),
    "by": ("text", "trước 17 giờ", "before 5 PM"),
}
UNKNOWN = ("text", "…", "…")  # a placeholder added since: said as a short pause, and named in the output


def list_prompts(app: Flask, clock: SpeechClock) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with app.app_context():
        for key, template in PROMPTS.items():
            names = placeholders(template)
            for language in dict.fromkeys(FIXED_LANGUAGE.get(key, lang) for lang in LANGUAGES):
                typical = {name: TYPICAL.get(name, UNKNOWN) for name in names}
                params = {name: (kind, vi if language == "vi" else en) for name, (kind, vi, en) in typical.items()}
                text = _render_spoken(Spoken(key, params), language)
                rows.append({"key": key, "language": language, "seconds": round(clock.seconds(text, language), 2),
                             "text": text, "untypical": [n for n in names if n not in TYPICAL]})
    rows.sort(key=lambda row: -row["seconds"])
    return rows


# -- the run ----------------------------------------------------------------------------------------------------


def flow_changes() -> list[str]:
    """Files of the flow and its prompts that differ from the commit: the numbers are for the working tree."""
    root = Path(__file__).resolve().parent.parent
    paths = ["ivr_flows", "hotline/ivr", "translations"]
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", *paths], capture_output=True, text=True,
                             cwd=root, check=False).stdout
    except OSError:
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list-prompts", action="store_true",
                        help="print every prompt in both languages with its spoken seconds, longest first")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each call as the simulator plays it")
    args = parser.parse_args()
    if not args.verbose:
        logging.disable(logging.ERROR)  # the app's and Alembic's log lines; a fault shows as a failed call
    clock = SpeechClock(CACHE)
    with tempfile.TemporaryDirectory(prefix="hotline_listening_") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'hotline.sqlite3'}"
        apps = {speech: make_hotline(folder, speech=speech) for speech in (False, True)}
        try:
            if args.list_prompts:
                for row in list_prompts(apps[False], clock):
                    note = f"  [no typical value for {', '.join(row['untypical'])}]" if row["untypical"] else ""
                    print(f"{row['seconds']:6.2f} s  {row['language']}  {row['key']:<22} {row['text']}{note}")
                return
            load_province(apps[False])
            templates = Templates(apps[False])
            results = [play(script, apps, templates, clock, args.verbose) for script in SCRIPTS]
        finally:
            for app in apps.values():
                app.extensions["hotline"].engine.dispose()
    report(results)
    path = write_result(NAME, {
        "environment": {**environment(url), "tools": tool_versions(), "flow_changes": flow_changes()},
        "clock": NOW.isoformat(), "assumptions": ASSUMPTIONS, "wav_cache": str(CACHE),
        "wavs_rendered_this_run": clock.rendered, "calls": results,
    })
    print(f"\nwritten to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
