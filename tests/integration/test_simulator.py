"""The call simulator (`flask --app wsgi call simulate`): whole calls in-process and over HTTP, on both engines.

The first tests drive the real app through the click command; the last ones give the simulator
a fake server, to pin down how it signs, follows URLs and ends calls without a database.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from booking.models import Booking, CallbackRequest, Hold
from config import Settings
from hotline import create_app
from hotline.ivr.models import Call
from hotline.simulator import AppTransport, CallSimulator, SimulatorError, call_group, parse_script
from notifications.models import MessageKind, OutboxMessage
from tests.factories import NOW
from tests.ivr_caller import office as office

TOKEN = "secret-token"
Invoke = Callable[..., Result]


def _app(engine: Engine, instance: Path, **overrides: Any) -> Flask:
    settings = Settings(env="testing", database_url=engine.url.render_as_string(hide_password=False),
                        instance_path=instance, secret_key="t" * 32, twilio_auth_token=TOKEN,
                        operator_numbers="+842903821022,+842903821023", **overrides)
    app = create_app(settings)
    app.extensions["hotline"].clock = lambda: NOW
    app.cli.add_command(call_group)  # until hotline/cli.py registers it
    return app


@pytest.fixture
def app(engine: Engine, tmp_path: Path) -> Iterator[Flask]:
    app = _app(engine, tmp_path / "instance")
    yield app
    app.extensions["hotline"].engine.dispose()


@pytest.fixture
def simulate(app: Flask, db: Session) -> Invoke:
    """Runs `flask call simulate ARGS…`; the test's session ends its transaction first (SQLite has one writer)."""
    def invoke(*args: str) -> Result:
        db.rollback()
        result = app.test_cli_runner().invoke(args=["call", "simulate", *args])
        db.rollback()  # read what the call wrote with a fresh transaction
        return result
    return invoke


def test_a_scripted_booking_call_books_once_and_queues_the_sms(simulate: Invoke, db: Session, office: int) -> None:
    # Book, the first session, confirm: the only office is not asked about.
    result = simulate("--digits", "1,1,1")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "🔊 [vi-VN] Tổng đài hành chính công xin kính chào quý vị." in out
    assert "🔊 [en-US] For English, press 9." in out
    assert "🔊 [vi-VN] chiều thứ Hai, ngày 1 tháng 3, bấm 1." in out  # ten places left: no count is read
    assert "bạn" not in out and "chỗ, bấm" not in out
    assert "Số thứ tự của quý vị là số 1, chiều thứ Hai, ngày 1 tháng 3." in out
    booking = db.scalars(select(Booking)).one()
    assert booking.phone == "+84912345678" and booking.channel.value == "ivr"
    assert " ".join(booking.code[:3]) in out and booking.queue_number == 1  # said above, before the address
    sms = db.scalars(select(OutboxMessage)).one()
    assert sms.kind is MessageKind.CONFIRMATION and sms.recipient == "+84912345678"
    # The digits ran out and input is not a terminal: the caller hangs up, with the status callback.
    assert "keys> hangup   (no more --digits)" in out
    assert out.rstrip().splitlines()[-1].startswith("📴 You hung up.  → POST /ivr/status  CallStatus=completed  [204]")
    call = db.scalars(select(Call)).one()
    assert call.status == "ended" and call.caller == "+84912345678"


def test_a_wrong_token_is_a_clear_403_and_a_failure(simulate: Invoke, db: Session, office: int) -> None:
    result = simulate("--token", "not-the-servers", "--digits", "1,1,1")
    assert result.exit_code == 1
    assert "POST /ivr/voice  [403]" in result.output
    assert "Error: POST /ivr/voice answered HTTP 403 Forbidden." in result.output
    assert "auth token" in result.output and "🔊" not in result.output
    assert db.scalar(select(func.count()).select_from(Call)) == 0
    assert db.scalar(select(func.count()).select_from(Booking)) == 0


def test_silence_follows_the_redirect_after_the_gather(app: Flask, db: Session, office: int) -> None:
    db.rollback()
    urls: list[str] = []
    transport = AppTransport(app)

    def recording(url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        urls.append(url)
        return transport(url, params, headers)

    lines: list[str] = []
    result = CallSimulator(post=recording, token=TOKEN, base_url="http://localhost", answers=["", "silence", "hangup"],
                           out=lines.append).run()
    assert [r.url.removeprefix("http://localhost") for r in result.requests] == [
        "/ivr/voice", "/ivr/step/1?silence=1", "/ivr/step/2?silence=1", "/ivr/status"]
    assert [r.status for r in result.requests] == [200, 200, 200, 204]
    assert urls == [r.url for r in result.requests]
    assert sum("Đặt lịch, bấm 1" in said for said in result.spoken) == 3  # the menu, asked again twice
    assert "   ↪ <Redirect> to /ivr/step/1?silence=1" in lines and result.ended_by == "caller"
    db.rollback()
    assert db.scalars(select(Call.status)).one() == "ended"


def test_hanging_up_mid_flow_gives_the_held_seat_back(simulate: Invoke, db: Session, office: int) -> None:
    result = simulate("--digits", "1,1,hangup")  # book, the first session, then gone with the seat held
    assert result.exit_code == 0, result.output
    assert "Xác nhận, bấm 1" in result.output
    assert db.scalar(select(func.count()).select_from(Hold)) == 0
    assert db.scalar(select(func.count()).select_from(Booking)) == 0
    assert db.scalars(select(Call.status)).one() == "ended"


def test_an_unanswered_transfer_ends_with_a_call_back_request(simulate: Invoke, db: Session, office: int) -> None:
    result = simulate("--digits", "0,no-answer,1")
    assert result.exit_code == 0, result.output
    assert "☎️  Dialling +842903821022, +842903821023 for 20 s" in result.output
    assert "DialCallStatus=no-answer  [200]" in result.output
    assert "📴 The hotline hung up." in result.output  # <Hangup/> after the goodbye
    # Monday 09:00, operators until 17:00: the caller hears when to expect the call.
    assert "sẽ gọi lại số 0 9 1 2, 3 4 5, 6 7 8 trước 17 giờ hôm nay." in result.output
    request = db.scalars(select(CallbackRequest)).one()
    assert request.phone == "+84912345678"


def test_a_withheld_number_types_a_mobile_ended_by_the_hash_key(simulate: Invoke, db: Session, office: int) -> None:
    result = simulate("--from", "anonymous", "--digits", "1,1,0912345678#,1,1")  # book, session, number, right, confirm
    assert result.exit_code == 0, result.output
    assert "Digits=0912345678  [200]" in result.output  # the finishing # is not sent, as with Twilio
    assert "Quý vị đã bấm số 0 9 1 2, 3 4 5, 6 7 8." in result.output
    assert db.scalars(select(Booking.phone)).one() == "+84912345678"


def test_one_spoken_sentence_books_where_the_gather_listens(simulate: Invoke, db: Session, office: int) -> None:
    # Speech is on by default: the office, the day and the part of the day in one sentence, then "confirm".
    result = simulate("--digits", "say:đặt lịch ở xã Năm Căn sáng thứ ba,1")
    assert result.exit_code == 0, result.output
    assert "→ POST /ivr/step/1  SpeechResult=đặt lịch ở xã Năm Căn sáng thứ ba  [200]" in result.output
    assert "🔊 [vi-VN] xã Năm Căn, sáng thứ Ba, ngày 2 tháng 3. Xác nhận, bấm 1." in result.output
    booking = db.scalars(select(Booking)).one()  # nothing else was asked: no menu of sessions
    assert (booking.date.isoformat(), booking.session_code) == ("2027-03-02", "S")
    assert "Các buổi còn chỗ" not in result.output


def test_speech_off_sends_the_words_as_silence(engine: Engine, tmp_path: Path, db: Session, office: int) -> None:
    app = _app(engine, tmp_path / "keypad", ivr_speech=False)
    try:
        result = CallSimulator(post=AppTransport(app), token=TOKEN, base_url="http://localhost",
                               answers=["say:đặt lịch"], out=lambda _line: None).run()
    finally:
        app.extensions["hotline"].engine.dispose()
    assert result.requests[1].url == "http://localhost/ivr/step/1?silence=1"
    assert "SpeechResult" not in result.requests[1].params


def test_words_at_a_keys_only_gather_are_silence(simulate: Invoke, office: int) -> None:
    result = simulate("--digits", "1,1,1,say:nghe lại")  # booked; the menu after it takes keys only
    assert result.exit_code == 0, result.output
    assert "listens for keys only" in result.output and "/ivr/step/4?silence=1" in result.output


def test_a_scripted_answer_that_does_not_fit_stops_the_call(simulate: Invoke, db: Session, office: int) -> None:
    result = simulate("--digits", "answered")
    assert result.exit_code == 1 and "Cannot use 'answered' here" in result.output
    assert db.scalars(select(Call.status)).one() == "ended"  # the status callback was still sent


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a loopback port, in a background thread."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(10)
    httpd.server_close()


def test_a_call_over_http_to_a_running_server(server: str, simulate: Invoke, db: Session, office: int) -> None:
    result = simulate("--url", server, "--digits", "1,1,1,2")  # … and 2: back to the main menu
    assert result.exit_code == 0, result.output
    assert f"at {server}" in result.output and "xin kính chào quý vị" in result.output
    assert "→ POST /ivr/step/4  Digits=2  [200]" in result.output
    assert db.scalar(select(func.count()).select_from(Booking)) == 1
    assert db.scalars(select(OutboxMessage.kind)).one() is MessageKind.CONFIRMATION
    assert db.scalars(select(Call.status)).one() == "ended"


def test_a_wrong_token_over_http_is_a_403(server: str, simulate: Invoke, office: int) -> None:
    result = simulate("--url", server, "--token", "wrong")
    assert result.exit_code == 1 and "answered HTTP 403 Forbidden" in result.output
    assert "<html" not in result.output.lower() and "<style" not in result.output  # the error page as text


def test_no_server_at_the_url_is_said_plainly(app: Flask) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = app.test_cli_runner().invoke(args=["call", "simulate", "--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1 and f"Cannot reach http://127.0.0.1:{port}/ivr/voice" in result.output


# -- the simulator against a fake server (no database) --------------------------------------------------


class FakeTwilioWebhooks:
    """Answers TwiML by path and checks every signature as the hotline would, against `signed_base`."""

    def __init__(self, pages: dict[str, str], signed_base: str = "https://hotline.example.gov.vn") -> None:
        self.pages, self.signed_base = pages, signed_base
        self.seen: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def __call__(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        path = url.removeprefix("http://10.0.0.5:8000")
        self.seen.append((path, dict(params), dict(headers)))
        valid = RequestValidator(TOKEN).validate(self.signed_base + path, dict(params), headers["X-Twilio-Signature"])
        if not valid:
            return 403, "Forbidden"
        if path == "/ivr/status":
            return 204, ""
        return 200, self.pages[path]


def _simulator(server: FakeTwilioWebhooks, **kwargs: Any) -> CallSimulator:
    return CallSimulator(post=server, token=TOKEN, base_url="http://10.0.0.5:8000/",
                         signed_base_url="https://hotline.example.gov.vn", out=lambda _line: None, **kwargs)


def test_requests_are_signed_over_the_public_url_and_carry_twilios_parameters() -> None:
    server = FakeTwilioWebhooks({
        "/ivr/voice": '<Response><Gather action="/ivr/step/1" numDigits="1"><Say>Menu</Say></Gather>'
                      '<Redirect method="POST">/ivr/step/1?silence=1</Redirect></Response>',
        "/ivr/step/1?silence=1": '<Response><Gather action="2"><Play>https://x/a.mp3</Play></Gather>'
                                 "</Response>",
        "/ivr/step/2": "<Response><Say>Bye</Say><Hangup/></Response>",
    })
    result = _simulator(server, caller="anonymous", answers=["silence", "12"]).run()
    assert [path for path, _, _ in server.seen] == ["/ivr/voice", "/ivr/step/1?silence=1", "/ivr/step/2",
                                                    "/ivr/status"]
    assert all(r.status in (200, 204) for r in result.requests)  # every signature was valid
    first = server.seen[0][1]
    assert first["CallSid"].startswith("CA") and len(first["CallSid"]) == 34
    assert {k: first[k] for k in ("From", "To", "CallStatus", "Direction", "ApiVersion")} == {
        "From": "anonymous", "To": "+842903821022", "CallStatus": "in-progress", "Direction": "inbound",
        "ApiVersion": "2010-04-01"}
    assert server.seen[2][1]["Digits"] == "12"  # `2` resolved against the document's URL
    assert server.seen[3][1]["CallStatus"] == "completed" and result.ended_by == "hangup"
    tokens = {headers["I-Twilio-Idempotency-Token"] for _, _, headers in server.seen}
    assert len(tokens) == len(server.seen)  # a fresh one on every request
    assert result.spoken == ["Menu", "<Play https://x/a.mp3>", "Bye"]


def test_a_flow_that_never_ends_is_given_up() -> None:
    server = FakeTwilioWebhooks({"/ivr/voice": "<Response><Redirect>/ivr/voice</Redirect></Response>"})
    with pytest.raises(SimulatorError, match="Gave up after 5 requests"):
        _simulator(server, max_steps=5).run()
    assert len(server.seen) == 6 and server.seen[-1][0] == "/ivr/status"


def test_the_keyboard_is_asked_again_after_a_wrong_entry_and_end_of_input_hangs_up() -> None:
    server = FakeTwilioWebhooks({
        "/ivr/voice": '<Response><Gather action="/ivr/step/1" numDigits="1"><Say>Menu</Say></Gather></Response>',
        "/ivr/step/1": '<Response><Gather action="/ivr/step/2"><Say>Again</Say></Gather></Response>',
    })
    typed = iter(["abc", "34"])
    prompts: list[str] = []

    def keyboard(prompt: str) -> str:
        prompts.append(prompt)
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    lines: list[str] = []
    result = CallSimulator(post=server, token=TOKEN, base_url="http://10.0.0.5:8000",
                           signed_base_url="https://hotline.example.gov.vn", ask=keyboard, out=lines.append).run()
    assert server.seen[1][1]["Digits"] == "3"  # numDigits="1": only the first key is taken
    assert any("'abc' is not an answer here" in line for line in lines)
    assert len(prompts) == 3 and result.ended_by == "caller" and server.seen[-1][0] == "/ivr/status"


def test_a_refused_signature_is_reported_with_its_cause() -> None:
    server = FakeTwilioWebhooks({}, signed_base="https://elsewhere.example")
    with pytest.raises(SimulatorError, match=r"HTTP 403 Forbidden.*auth token"):
        _simulator(server).run()
    assert len(server.seen) == 1  # no status callback that would be refused as well


def test_scripts_split_on_commas_and_keep_silences() -> None:
    assert parse_script("1, 1,,say:đặt lịch,hangup") == ["1", "1", "", "say:đặt lịch", "hangup"]
    assert parse_script(None) == [] and parse_script("") == []

