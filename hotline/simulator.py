"""A call simulator that plays Twilio's part, so the hotline can be called from a keyboard.

It rings the voice webhook with the parameters Twilio sends, signs every request exactly as
Twilio does (X-Twilio-Signature over the URL and the POSTed parameters, with the account's auth
token), reads out what each <Say> would speak, asks for keys at every <Gather> (or takes them
from a script), follows action URLs and <Redirect>s, answers <Dial> as the operators would, and
ends the call on <Hangup> with the status callback Twilio sends when a call is over.

    flask --app wsgi call simulate --url http://127.0.0.1:8000          # a running server
    flask --app wsgi call simulate --digits 1,1,1,1                      # the app in-process

`CallSimulator` knows nothing of click or Flask: it is given a transport, a function
`post(url, params, headers) -> (status, body)`. `HttpTransport` speaks HTTP with the standard
library; `AppTransport` goes through a Flask app's test client.
"""

from __future__ import annotations

import logging

import html
import ipaddress
import re
import secrets
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urljoin, urlsplit
from urllib.request import ProxyHandler, Request, build_opener

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from twilio.request_validator import RequestValidator

DEFAULT_CALLER = "+84912345678"  # a Viettel mobile
DEFAULT_TO = "+842903821022"  # a Cà Mau landline: the hotline's number
DEFAULT_MAX_STEPS = 200
IN_PROCESS_BASE = "http://localhost"
API_VERSION = "2010-04-01"
KEYS = frozenset("0123456789*#")
ANSWERED = {"answered", "a", "yes", "y", "completed"}
UNANSWERED = {"no-answer", "noanswer", "n", "no", "", "silence"}
DIAL_OUTCOMES = {"busy", "failed", "canceled"}
HANG_UPS = {"hangup", "hang up", "bye"}
SHOWN = ("Digits", "SpeechResult", "DialCallStatus")  # the parameters worth printing with each request
ENDINGS = {"hangup": "The hotline hung up.", "caller": "You hung up.", "end": "The call ended."}
HINT = ("Type keys and Enter (e.g. 1, or 0912345678#). An empty line is silence; "
        "'hangup' ends the call; 'say:words' speaks instead of pressing keys.")

Transport = Callable[[str, Mapping[str, str], Mapping[str, str]], tuple[int, str]]
Ask = Callable[[str], str]


class SimulatorError(Exception):
    """The call could not go on: the server refused a request, answered nonsense, or looped."""


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def parse_script(digits: str | None) -> list[str]:
    """`--digits 1,1,,hangup` → ["1", "1", "", "hangup"]; an empty entry is silence."""
    if not digits:
        return []
    return [part.strip() for part in digits.split(",")]


def _plain(body: str) -> str:
    """An error page as one line of text: an HTML page's <main> (or <body>) without its tags."""
    if "<html" in body[:500].lower():
        part = re.search(r"<main\b.*?</main>", body, re.S | re.I) or re.search(r"<body\b.*?</body>", body, re.S | re.I)
        text = re.sub(r"<(style|script)\b.*?</\1>", " ", part.group(0) if part else body, flags=re.S | re.I)
        body = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(body.split())


class HttpTransport:
    """POSTs form-encoded webhooks over HTTP with urllib; loopback servers are reached without proxies."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._direct = build_opener(ProxyHandler({}))
        self._default = build_opener()

    @staticmethod
    def _loopback(url: str) -> bool:
        host = urlsplit(url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def __call__(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        data = urlencode(params).encode()
        request = Request(url, data=data, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **headers})
        opener = self._direct if self._loopback(url) else self._default
        try:
            with opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read().decode("utf-8", errors="replace")
        except HTTPError as error:
            with error:
                return error.code, error.read().decode("utf-8", errors="replace")
        except (URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise SimulatorError(f"Cannot reach {url}: {reason}. Is the server running?") from error


class AppTransport:
    """Calls a Flask app in this process through its test client."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        # The app's log lines would land between the spoken prompts on the same terminal.
        logging.getLogger().setLevel(logging.WARNING)

    def __call__(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        response = self.client.post(url, data=dict(params), headers=dict(headers))
        return response.status_code, response.get_data(as_text=True)


@dataclass
class SentRequest:
    """One webhook the simulator sent, kept for the caller of `run` (and for tests)."""

    url: str
    params: dict[str, str]
    status: int


@dataclass
class CallResult:
    ended_by: str  # "hangup" (the TwiML hung up), "caller" (we hung up), "end" (TwiML ran out of verbs)
    requests: list[SentRequest]
    spoken: list[str]


class _CallerHangsUp(Exception):
    """The caller hangs up."""


class _TwimlHangsUp(Exception):
    """The TwiML said <Hangup/> (or <Reject/>)."""


@dataclass
class CallSimulator:
    """One simulated inbound call, from the first ring to the status callback.

    `answers` are used in order at every <Gather> and <Dial>; when they run out, `ask` (e.g.
    `input`) is asked, or the caller hangs up when there is no `ask` (a scripted, non-interactive run).
    """

    post: Transport
    token: str
    base_url: str
    caller: str = DEFAULT_CALLER
    to: str = DEFAULT_TO
    answers: Iterable[str] = ()
    ask: Ask | None = None
    out: Callable[[str], None] = print
    signed_base_url: str | None = None  # the URL the server checks signatures against, when not base_url
    account_sid: str = "AC" + "0" * 32
    max_steps: int = DEFAULT_MAX_STEPS
    verbose: bool = False
    label: str = ""  # how to name the server called (default: base_url)
    sid: str = field(default_factory=new_call_sid)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.signed_base_url = (self.signed_base_url or self.base_url).rstrip("/")
        self._script = iter(list(self.answers))
        self._requests: list[SentRequest] = []
        self._spoken: list[str] = []
        self._hinted = False
        self._ended = False

    # -- the call ------------------------------------------------------------------------------------

    def run(self) -> CallResult:
        """Ring, follow the call to its end, send the status callback. Raises SimulatorError."""
        self.out(f"📞 Calling {self.to} from {self.caller} (CallSid {self.sid}) at {self.label or self.base_url}")
        url = f"{self.base_url}/ivr/voice"
        params: dict[str, str] = {}
        try:
            for _ in range(self.max_steps):
                root = self._webhook(url, params)
                following = self._play(root, url)
                if following is None:
                    return self._end("end")
                url, params = following
            self._hang_up(quietly=True)
            raise SimulatorError(f"Gave up after {self.max_steps} requests: the call flow seems to go round "
                                 "in circles (--max-steps raises the limit).")
        except _CallerHangsUp:
            return self._end("caller")
        except _TwimlHangsUp:
            return self._end("hangup")
        except KeyboardInterrupt:  # Ctrl-C while waiting for the server: hang up, as a caller would
            self._hang_up(quietly=True)
            raise

    def _end(self, how: str) -> CallResult:
        self._hang_up(ENDINGS[how])
        return CallResult(ended_by=how, requests=list(self._requests), spoken=list(self._spoken))

    # -- requests ------------------------------------------------------------------------------------

    def _params(self, **extra: str) -> dict[str, str]:
        return {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": self.sid,
                "CallStatus": "in-progress", "Called": self.to, "Caller": self.caller, "Direction": "inbound",
                "From": self.caller, "To": self.to, **extra}

    def _signed_url(self, url: str) -> str:
        if url.startswith(self.base_url + "/"):
            return f"{self.signed_base_url}{url[len(self.base_url):]}"
        return url

    def _send(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        signature = RequestValidator(self.token).compute_signature(self._signed_url(url), params)
        headers = {"X-Twilio-Signature": signature, "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
                   "User-Agent": "TwilioProxy/1.1 (hotline call simulator)", "Accept": "*/*"}
        status, body = self.post(url, params, headers)
        self._requests.append(SentRequest(url=url, params=dict(params), status=status))
        return status, body

    def _show(self, url: str) -> str:
        return url[len(self.base_url):] if url.startswith(self.base_url + "/") else url

    def _webhook(self, url: str, extra: dict[str, str]) -> ET.Element:
        params = self._params(**extra)
        shown = " ".join(f"{k}={v}" for k, v in extra.items() if k in SHOWN)
        status, body = self._send(url, params)
        self.out(f"   → POST {self._show(url)}{'  ' + shown if shown else ''}  [{status}]")
        if status != HTTPStatus.OK:
            if status == HTTPStatus.FORBIDDEN:
                self._ended = True  # the status callback would be refused as well
            self._hang_up(quietly=True)
            raise SimulatorError(self._http_error(url, status, body))
        if self.verbose:
            self.out(body)
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            self._hang_up(quietly=True)
            raise SimulatorError(f"POST {self._show(url)} did not answer TwiML ({exc}): {body[:300]!r}") from exc
        if root.tag != "Response":
            self._hang_up(quietly=True)
            raise SimulatorError(f"POST {self._show(url)} answered <{root.tag}>, not a TwiML <Response>.")
        return root

    def _http_error(self, url: str, status: int, body: str) -> str:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        message = f"POST {self._show(url)} answered HTTP {status} {phrase}."
        if status == HTTPStatus.FORBIDDEN:
            message += (" The server refused the X-Twilio-Signature: sign with the server's auth token "
                        "(--token, TWILIO_AUTH_TOKEN, or the same HOTLINE_INSTANCE_PATH as the server), "
                        "and check --public-url if the server sets PUBLIC_BASE_URL.")
        elif status == HTTPStatus.NOT_FOUND:
            message += " Is --url the hotline's base URL (without /ivr/voice)?"
        detail = _plain(body)[:300]
        return message + (f"\n{detail}" if detail else "")

    def _hang_up(self, ending: str = "", quietly: bool = False) -> None:
        """Send the status callback Twilio sends when the call is over."""
        if self._ended:
            return
        self._ended = True
        url = f"{self.base_url}/ivr/status"
        params = self._params(CallStatus="completed", CallDuration=str(max(1, 8 * len(self._requests))))
        try:
            status, body = self._send(url, params)
        except SimulatorError:
            if quietly:
                return
            raise
        if not quietly:
            self.out(f"📴 {ending}  → POST {self._show(url)}  CallStatus=completed  [{status}]")
        if status not in (HTTPStatus.OK, HTTPStatus.NO_CONTENT) and not quietly:
            raise SimulatorError(self._http_error(url, status, body))

    # -- TwiML ---------------------------------------------------------------------------------------

    def _play(self, root: ET.Element, url: str) -> tuple[str, dict[str, str]] | None:
        """Carry out the verbs in order; the next request to make, or None when the call is over."""
        for verb in root:
            if verb.tag in ("Say", "Play", "Pause"):
                self._speak(verb)
            elif verb.tag == "Gather":
                for inner in verb:
                    self._speak(inner)
                answer = self._gather(verb)
                if answer is not None:
                    return urljoin(url, verb.get("action") or url), answer
                # Silence: Twilio goes on to the verb after the <Gather> (here a <Redirect>).
            elif verb.tag == "Redirect":
                target = (verb.text or "").strip() or url
                target = urljoin(url, target)  # relative to the document, as Twilio resolves it
                self.out(f"   ↪ <Redirect> to {self._show(target)}")
                return target, {}
            elif verb.tag == "Dial":
                status = self._dial(verb)
                action = verb.get("action")
                if action:
                    return urljoin(url, action), status
            elif verb.tag in ("Hangup", "Reject"):
                raise _TwimlHangsUp
            else:
                self.out(f"   (<{verb.tag}> is not simulated; skipped)")
        return None  # Twilio ends the call when a document runs out of verbs

    def _speak(self, verb: ET.Element) -> None:
        if verb.tag == "Say":
            text = " ".join((verb.text or "").split())
            self._spoken.append(text)
            self.out(f"🔊 [{verb.get('language', '?')}] {text}")
        elif verb.tag == "Play":
            url = (verb.text or "").strip()
            self._spoken.append(f"<Play {url}>")
            self.out(f"🎵 {url}")
        elif verb.tag == "Pause":
            self.out(f"   (pause {verb.get('length', '1')} s)")

    def _next_answer(self, prompt: str) -> tuple[str, bool]:
        """The next scripted answer, else the keyboard's, else (non-interactive) a hang-up; and whether typed."""
        answer = next(self._script, None)
        if answer is not None:
            self.out(f"{prompt}{answer}")
            return answer, False
        if self.ask is None:
            self.out(f"{prompt}hangup   (no more --digits)")
            return "hangup", False
        if not self._hinted:
            self._hinted = True
            self.out(f"   {HINT}")
        try:
            return self.ask(prompt).strip(), True
        except (EOFError, KeyboardInterrupt):
            self.out("hangup")
            return "hangup", True

    def _gather(self, gather: ET.Element) -> dict[str, str] | None:
        """The parameters posted to the <Gather>'s action, or None for silence."""
        inputs = (gather.get("input") or "dtmf").split()
        finish = gather.get("finishOnKey", "#")
        num_digits = int(gather.get("numDigits") or 0)
        while True:
            answer, typed = self._next_answer("⌨️  keys> ")
            lowered = answer.lower()
            if lowered in ("", "silence"):
                self.out("   (silence)")
                return None
            if lowered in HANG_UPS:
                raise _CallerHangsUp
            if lowered.startswith("say:"):
                words = answer[4:].strip()
                if "speech" not in inputs:
                    self.out("   (this <Gather> listens for keys only: the words are heard as silence)")
                    return None
                return {"SpeechResult": words, "Confidence": "0.92"}
            keys = answer.replace(" ", "")
            if keys and set(keys) <= KEYS and "dtmf" in inputs:
                finished_on = ""
                if finish and finish in keys:
                    keys, finished_on = keys[:keys.index(finish)], finish
                if num_digits and len(keys) > num_digits:
                    self.out(f"   (this <Gather> takes {num_digits} key(s): {keys[:num_digits]} is sent)")
                    keys, finished_on = keys[:num_digits], ""
                if not keys:
                    self.out("   (silence)")
                    return None
                return {"Digits": keys, "FinishedOnKey": finished_on, "msg": "Gather End"}
            self._invalid(answer, typed, "keys 0-9 * #, an empty line for silence, 'hangup' or 'say:words'")

    def _dial(self, dial: ET.Element) -> dict[str, str]:
        numbers = [(n.text or "").strip() for n in dial if n.tag in ("Number", "Client", "Sip")]
        if (dial.text or "").strip():
            numbers.insert(0, (dial.text or "").strip())
        self.out(f"☎️  Dialling {', '.join(numbers) or '(no number)'} for {dial.get('timeout', '30')} s")
        while True:
            answer, typed = self._next_answer("☎️  answered or no-answer? ")
            answer = answer.lower()
            if answer in HANG_UPS:
                raise _CallerHangsUp
            if answer in ANSWERED:
                self.out("   (an operator answered; after the conversation Twilio reports DialCallStatus=completed)")
                return {"DialCallStatus": "completed", "DialCallSid": new_call_sid(), "DialCallDuration": "60",
                        "DialBridged": "true"}
            if answer in UNANSWERED or answer in DIAL_OUTCOMES:
                status = answer if answer in DIAL_OUTCOMES else "no-answer"
                return {"DialCallStatus": status, "DialCallSid": new_call_sid(), "DialBridged": "false"}
            self._invalid(answer, typed, "'answered', 'no-answer', 'busy' or 'hangup'")

    def _invalid(self, answer: str, typed: bool, expected: str) -> None:
        """A typed answer that does not fit is asked again; a scripted one stops the call."""
        if not typed:
            self._hang_up(quietly=True)
            raise SimulatorError(f"Cannot use {answer!r} here: expected {expected}.")
        self.out(f"   {answer!r} is not an answer here: type {expected}.")


# -- the command ---------------------------------------------------------------------------------


@click.group("call", help="Simulated phone calls to the hotline (Twilio's part played locally).", cls=AppGroup)
def call_group() -> None:
    pass


@call_group.command("simulate")
@click.option("--url", "base_url", metavar="URL",
              help="Base URL of a running hotline, e.g. http://127.0.0.1:8000. Default: the app in this process.")
@click.option("--from", "caller", default=DEFAULT_CALLER, show_default=True,
              help="The caller's number, or 'anonymous' for a withheld one.")
@click.option("--to", "to", default=DEFAULT_TO, show_default=True, help="The hotline's number that was called.")
@click.option("--digits", metavar="LIST",
              help="Answers in order, comma-separated: keys (1, 0912345678#), '' or 'silence', 'hangup', "
                   "'say:words', and at a transfer 'answered' or 'no-answer'. Then the keyboard is asked "
                   "(or, when input is not a terminal, the caller hangs up).")
@click.option("--token", help="Twilio auth token to sign with. Default: the app's (TWILIO_AUTH_TOKEN, or the "
                              "development token in the instance folder, which a local server shares).")
@click.option("--public-url", metavar="URL",
              help="The URL the server checks signatures against when it differs from --url (its PUBLIC_BASE_URL).")
@click.option("--max-steps", default=DEFAULT_MAX_STEPS, show_default=True, type=click.IntRange(1),
              help="Requests after which a call that has not ended is given up.")
@click.option("-v", "--verbose", is_flag=True, help="Also print each TwiML answer.")
def simulate(base_url: str | None, caller: str, to: str, digits: str | None, token: str | None,
             public_url: str | None, max_steps: int, verbose: bool) -> None:
    """Call the hotline from the keyboard: hear its prompts, press keys, follow the call to its end."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # Flask types the proxy as Flask
    settings = app.extensions["hotline"].settings
    transport: Transport
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.BadParameter("give the server's base URL, e.g. http://127.0.0.1:8000", param_hint="--url")
        transport, base, signed, label = HttpTransport(), base_url, public_url, ""
    else:
        from database import schema

        try:
            schema.ensure_current(app.extensions["hotline"].engine)
        except schema.SchemaOutOfDate as exc:
            raise click.ClickException(str(exc)) from exc
        # In-process the app checks signatures against PUBLIC_BASE_URL when set, else the request's URL.
        transport, base, label = AppTransport(app), IN_PROCESS_BASE, "the app in this process"
        signed = public_url or settings.public_base_url or None
    simulator = CallSimulator(post=transport, token=token or settings.twilio_auth_token, base_url=base,
                              caller=caller, to=to, answers=parse_script(digits),
                              ask=input if sys.stdin.isatty() else None, out=click.echo, signed_base_url=signed,
                              max_steps=max_steps, verbose=verbose, label=label)
    try:
        simulator.run()
    except SimulatorError as exc:
        raise click.ClickException(str(exc)) from exc


def register(app: Flask) -> None:
    app.cli.add_command(call_group)
