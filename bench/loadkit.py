"""What the load runs (bench/rush.py, bench/soak.py, tests/load/) share: processes on loopback, a signed client.

- `Processes` (tests/faults/processes.py's `Children`) starts gunicorn (sync or gthread workers)
  and `flask scheduler run` as children in sessions of their own, each asking Linux to SIGTERM it
  should this process die first; leaving the `with` block, by an error or Ctrl-C (SIGTERM is
  turned into the same), stops every one of them: SIGTERM to each, then SIGKILL to its whole group.
- `fresh_database` creates a PostgreSQL database (or a SQLite file) for one run, migrated, and
  drops it afterwards.
- `HttpClient` is a small asyncio HTTP/1.1 client (one connection per simulated caller, reopened
  when the server closes it); `Signer` signs webhooks exactly as Twilio does.
- `Prompts` recognises what the hotline said: every prompt's translated text becomes a regular
  expression, so a <Say> is matched to its prompt key and its values (the booking code, the keys
  offered) are read back, in Vietnamese or English, whatever the prompts' wording.
- `Latencies` keeps per-step timings and prints p50/p95/p99; `rss_kib` reads a process's memory.
- `StackConfig`, `add_stack_arguments` and `run_and_report`: what the runs' configurations and
  command lines have in common (gunicorn's workers, the database; Ctrl-C and the report).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from babel.messages.pofile import read_po
from twilio.request_validator import RequestValidator

from bench._common import DEFAULT_ADMIN_URL, percentile, scratch_database
from database.engine import make_engine
from database.schema import upgrade
from ivr_flows.prompts import PROMPTS
from tests.faults import processes
from tests.faults.processes import Child, Children

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-load-secret-key-" + "0" * 42
HOTLINE_NUMBER = "+842903821022"
REQUEST_TIMEOUT = 30.0
C = TypeVar("C", bound="StackConfig")
R = TypeVar("R")


# --------------------------------------------------------------------------------------------
# What a run serves, and its command line


@dataclass(frozen=True)
class StackConfig:
    """How a run serves the hotline: gunicorn's workers, and its database (PostgreSQL beside `admin_url`, or SQLite)."""

    workers: int = 4
    worker_class: str = "sync"
    threads: int = 4
    sqlite: bool = False
    admin_url: str = DEFAULT_ADMIN_URL


def add_stack_arguments(parser: argparse.ArgumentParser, defaults: StackConfig) -> None:
    """--workers, --worker-class, --threads and --sqlite (each run adds --admin-url itself, last)."""
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default=defaults.worker_class)
    parser.add_argument("--threads", type=int, default=defaults.threads, help="threads per gthread worker")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")


def stack_options(args: argparse.Namespace) -> dict[str, Any]:
    """The StackConfig fields from the command line."""
    return {"workers": args.workers, "worker_class": args.worker_class, "threads": args.threads,
            "sqlite": args.sqlite, "admin_url": args.admin_url}


def run_and_report(run: Callable[[C], R], config: C, report_lines: Callable[[R], list[str]]) -> R | None:
    """`run(config)`, then its report printed; None (said on stderr) when Ctrl-C or SIGTERM cut the run short."""
    try:
        result = run(config)
    except KeyboardInterrupt:
        print("interrupted: servers stopped, database dropped", file=sys.stderr)
        return None
    for line in report_lines(result):
        print(line)
    return result


# --------------------------------------------------------------------------------------------
# Processes (started, watched and stopped by tests/faults/processes.py)


def server_env(database_url: str, instance: Path, *, env: str, token: str, account_sid: str,
               **settings: str) -> dict[str, str]:
    """The servers' environment (tests.faults.processes.server_env: nothing leaves the machine) for a load run:
    its secret key, Twilio account and token, signatures checked whatever `env` is."""
    return processes.server_env(database_url, instance, env=env, secret_key=SECRET_KEY, token=token,
                                TWILIO_ACCOUNT_SID=account_sid, TWILIO_VALIDATE_SIGNATURES="1", **settings)


class Processes(Children):
    """The children of one run; every one is stopped gracefully when the `with` block ends, however it ends."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir)
        self._previous_term: Any = None

    def __enter__(self) -> Processes:
        # SIGTERM (a CI runner giving up, `kill`) unwinds like Ctrl-C, so the `finally`s run.
        if threading_main():
            self._previous_term = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop_all()
        finally:
            if self._previous_term is not None:
                signal.signal(signal.SIGTERM, self._previous_term)

    def web(self, env: dict[str, str], *, workers: int, worker_class: str = "sync", threads: int = 4,
            sock: socket.socket | None = None) -> Child:
        """gunicorn serving wsgi:app as the load runs want it: 60 s timeout, warnings and errors in the app's format."""
        return self.gunicorn("gunicorn", env, workers=workers, worker_class=worker_class, threads=threads,
                             timeout=60, graceful_timeout=10, sock=sock,
                             options=("--log-level", "warning", "--logger-class", "hotline.logs.GunicornLogger"))


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process in KiB (VmRSS), or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------------------------
# The database of one run


def migrate(url: str) -> None:
    """The database at `url` upgraded to the schema this code needs (database.schema.upgrade)."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def fresh_database(*, sqlite: bool, admin_url: str, workdir: Path, prefix: str) -> Iterator[str]:
    """A migrated database for one run: a SQLite file in `workdir`, or a PostgreSQL database dropped at the end."""
    if sqlite:
        url = f"sqlite:///{workdir / (prefix + '.sqlite3')}"
        migrate(url)
        yield url
        return
    with scratch_database(admin_url, prefix=prefix) as url:
        yield url


# --------------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    ms: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class HttpClient:
    """HTTP/1.1 to one loopback port: one request at a time, the connection kept while the server keeps it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      timeout: float = REQUEST_TIMEOUT) -> Reply:
        """Latency runs from the connect (or the send, on a kept connection) to the last byte of the answer."""
        started = time.perf_counter()
        reused = self.writer is not None
        try:
            status, ctype, payload = await asyncio.wait_for(self._exchange(method, path, body, headers or {}), timeout)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            if not reused:
                raise
            started = time.perf_counter()  # the kept connection had been closed by the server: try a new one
            status, ctype, payload = await asyncio.wait_for(self._exchange(method, path, body, headers or {}), timeout)
        except BaseException:
            await self.close()
            raise
        return Reply(status, ctype, payload, (time.perf_counter() - started) * 1000)

    async def _exchange(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if "content-length" in fields:
            length = int(fields["content-length"])
            payload = await self.reader.readexactly(length) if length else b""
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            payload = await self._chunked()
        else:
            payload = await self.reader.read()  # the body ends with the connection
            await self.close()
        if fields.get("connection", "").lower() == "close" or lines[0].startswith("HTTP/1.0"):
            await self.close()
        return status, fields.get("content-type", ""), payload

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


class Signer:
    """X-Twilio-Signature over the exact URL requested and the POSTed form, as Twilio computes it."""

    def __init__(self, token: str, base_url: str) -> None:
        self.validator = RequestValidator(token)
        self.base_url = base_url.rstrip("/")

    def form(self, path: str, params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a signed webhook POST to `path` (which may carry a query)."""
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.validator.compute_signature(self.base_url + path, params),
            "I-Twilio-Idempotency-Token": os.urandom(16).hex(), "User-Agent": "TwilioProxy/1.1", "Accept": "*/*",
        }


def call_params(sid: str, caller: str, account_sid: str, **extra: str) -> dict[str, str]:
    """What Twilio posts to a voice webhook (its usual parameters), plus `extra`."""
    return {"AccountSid": account_sid, "ApiVersion": "2010-04-01", "CallSid": sid, "CallStatus": "in-progress",
            "Called": HOTLINE_NUMBER, "CalledCountry": "VN", "Caller": caller, "CallerCountry": "VN",
            "Direction": "inbound", "From": caller, "FromCountry": "VN", "To": HOTLINE_NUMBER, "ToCountry": "VN",
            **extra}


# --------------------------------------------------------------------------------------------
# What the hotline said


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
GATHER_ACTION = re.compile(r"^/ivr/step/\d+$")


@cache
def _catalogue(language: str) -> dict[str, str]:
    """msgid → msgstr of the language's catalogue (untranslated and fuzzy entries stay English, as at run time)."""
    if language == "en":
        return {}
    path = ROOT / "translations" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    return {str(m.id): str(m.string) for m in catalogue if m.id and m.string and not m.fuzzy
            and isinstance(m.id, str)}


@cache
def prompt_regex(key: str, language: str) -> re.Pattern[str]:
    """The prompt's text in `language` as a pattern: `%(n)s` and `%(code)s` read back, other values anything."""
    text = _catalogue(language).get(PROMPTS[key], PROMPTS[key])
    pattern, last, seen = "", 0, set()
    for match in _PLACEHOLDER.finditer(text):
        pattern += re.escape(text[last:match.start()])
        name = match.group(1)
        if name in seen:
            pattern += ".+?"
        elif name == "n":
            pattern += r"(?P<n>\d+)"
        elif name == "code":
            pattern += r"(?P<code>[\d ,]+?)"
        else:
            pattern += f"(?P<{name}>.+?)"
        seen.add(name)
        last = match.end()
    return re.compile(pattern + re.escape(text[last:]), re.S)


@dataclass
class Heard:
    """One TwiML answer: what was said, where keys go, whether the hotline hung up."""

    says: list[str]
    action: str | None
    redirect: str | None
    hangup: bool
    language: str
    listens: bool = False  # the <Gather> takes speech as well as keys

    @classmethod
    def parse(cls, xml: str, language: str) -> Heard:
        root = ET.fromstring(xml)
        gather = root.find("Gather")
        redirect = root.find("Redirect")
        return cls(says=[(el.text or "").strip() for el in root.iter("Say")],
                   action=gather.attrib.get("action") if gather is not None else None,
                   redirect=(redirect.text or "").strip() if redirect is not None else None,
                   hangup=root.find("Hangup") is not None, language=language,
                   listens=gather is not None and "speech" in gather.attrib.get("input", "").split())

    def match(self, key: str) -> re.Match[str] | None:
        pattern = prompt_regex(key, self.language)
        return next((m for text in self.says if (m := pattern.fullmatch(text))), None)

    def has(self, key: str) -> bool:
        return self.match(key) is not None

    def keys(self, key: str, *, but: tuple[str, ...] = ()) -> list[str]:
        """The keys offered by the choices said with prompt `key` (e.g. session_choice → ["1", "2"]).

        `but` names prompts that the choice's pattern matches too and are not choices: "Nghe tiếp,
        bấm 9." ("For more, press 9.") reads like an office called "Nghe tiếp".
        """
        pattern = prompt_regex(key, self.language)
        others = [prompt_regex(other, self.language) for other in but]
        return [m.group("n") for text in self.says
                if (m := pattern.fullmatch(text)) and not any(o.fullmatch(text) for o in others)]

    def booking_code(self) -> str | None:
        found = self.match("booked_code")
        return re.sub(r"\D", "", found.group("code")) if found else None


# --------------------------------------------------------------------------------------------
# Latency


@dataclass
class Latencies:
    by_step: dict[str, list[float]] = field(default_factory=dict)

    def add(self, step: str, ms: float) -> None:
        self.by_step.setdefault(step, []).append(ms)

    @staticmethod
    def stats(values: list[float]) -> dict[str, float]:
        if not values:
            return {"count": 0}
        return {"count": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
                "p99": percentile(values, 99), "max": max(values)}

    def summary(self, order: list[str] | None = None) -> dict[str, dict[str, float]]:
        steps = [s for s in (order or []) if s in self.by_step] + sorted(set(self.by_step) - set(order or []))
        result = {step: self.stats(self.by_step[step]) for step in steps}
        result["all"] = self.stats([x for values in self.by_step.values() for x in values])
        return result


def latency_lines(summary: dict[str, dict[str, float]], width: int = 16) -> list[str]:
    lines = [f"  {'step':<{width}} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for step, s in summary.items():
        if not s.get("count"):
            continue
        lines.append(f"  {step:<{width}} {int(s['count']):>6} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['p99']:>8.1f} "
                     f"{s['max']:>8.1f}")
    return lines


def verdict_lines(problems: list[str], passed: str) -> list[str]:
    """The end of a report: every check that failed, or `passed` (which says what was checked)."""
    return ["CHECKS FAILED:", *(f"  - {p}" for p in problems)] if problems else [passed]


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def workdir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)
