"""SMS sent per second through the twilio client and the dispatcher, beside plain HTTP to the same stand-in.

    .venv/bin/python -m bench.sms_dispatch_rate [--messages 3000] [--concurrency 4 8] [--repeat 3]
                                                [--batch 200] [--profile] [--url URL]

The issue's target: the dispatch rate through the twilio client to a loopback stand-in for
Twilio is at least half the rate of plain HTTP requests to the same stand-in.

Steps:
1. A stand-in for Twilio's Messages API runs in a process of its own (so its CPU does not share
   this process's GIL): http.server.ThreadingHTTPServer on 127.0.0.1, HTTP/1.1 with keep-alive
   (Content-Length on every answer, TCP_NODELAY, headers and body written in one send), answering
   POST /2010-04-01/Accounts/{sid}/Messages.json (Basic auth, To and From or
   MessagingServiceSid required) with 201 and a small JSON message resource whose sid is "SM" and
   32 fresh hex digits. It counts messages and the connections that carried them; GET /__stats
   reads the counters. Nothing leaves the loopback interface.
2. For each `--concurrency` N and each of `--repeat` rounds, `--messages` messages (distinct
   recipients, one Vietnamese text) are sent three ways:
   (a) plain: `requests.Session.post` of the same form (To, From, Body, Basic auth), one session
       per thread (connections reused), N threads, the JSON answer parsed: the "plain rate";
   (b) twilio: one notifications.senders.TwilioSender(account_sid, auth_token, from_="HOTLINE",
       base_url="http://127.0.0.1:PORT") shared by N threads calling .send(Outgoing(...)) (the
       sender keeps a twilio Client per thread);
   In (a) and (b) every thread first sends a few warm-up messages (opening its connection) and
   the clock starts when all are ready.
   (c) dispatcher: the messages are a broadcast in a scratch PostgreSQL database (created beside
       the admin URL, migrated; uploaded with notifications.broadcasts.upload, scheduled and
       enqueued), and notifications.dispatcher.dispatch_once runs with
       DispatchConfig(batch=--batch, rate=1e9, concurrency=N) and a fresh TwilioSender until the
       outbox is drained: end to end (claim + send + record), on the fixed clock Monday
       2027-03-01 09:00 (Vietnam). One small broadcast is dispatched first, untimed, to warm up.
       Each dispatch_once call is split into claim (from its start to its first send), send
       (first send to last) and record (last send to its end); statements sent to PostgreSQL are
       counted.
   The CPU used by this process (the client), the stand-in and (for c) the PostgreSQL backend is
   read over each measured window, and the stand-in's connection count shows connection reuse.
3. `--profile` also sends 500 messages from one thread each way under cProfile (plain and
   twilio) and profiles one dispatcher run's main thread (claim and record; the sending threads
   are not profiled), printing the top entries and saving bench/results/sms_dispatch_rate_*.prof.

The result is printed and written to bench/results/sms_dispatch_rate.json. It asserts nothing.
The scratch database is dropped WITH (FORCE) at the end, even on failure, and the stand-in stopped.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import multiprocessing
import os
import re
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests
from sqlalchemy import event, func, select, text

from bench._common import (
    profile_text,
    DEFAULT_ADMIN_URL, NOW, RESULTS, backend_pids, busy_share, environment, load_average, process_cpu, safe_url,
    scratch_database, server_version, write_result,
)

NAME = "sms_dispatch_rate"
TARGET_RATIO = 0.5
ACCOUNT_SID = "AC" + "b3" * 16
AUTH_TOKEN = "bench-auth-token-not-a-secret"
FROM = "HOTLINE"
BODY = ("UBND CA MAU: Nhắc lịch hẹn: 08:30 thứ Ba 02/03/2027 tại Bộ phận Một cửa xã Tân Thành, số thứ tự 12. "
        "Hủy hẹn gọi 0290 1022.")
WARMUP_PER_THREAD = 5
RUN_TIMEOUT = 300.0  # seconds: a run taking longer is stopped and reported as such
MESSAGES_PATH = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json")


# --------------------------------------------------------------------------------------------
# The stand-in for Twilio (its own process)


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, StandInHandler)
        self.lock = threading.Lock()
        self.messages = 0
        self.connections = 0
        self.rejected = 0


class StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TwilioStandIn/1.0"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16  # headers and body leave in one send (flushed after each request)
    server: StandInServer
    _carried = False

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != "/__stats":
            self._answer(404, {"code": 20404, "message": "not found", "status": 404})
            return
        with self.server.lock:
            stats = {"messages": self.server.messages, "connections": self.server.connections,
                     "rejected": self.server.rejected, "pid": os.getpid()}
        self._answer(200, stats)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = MESSAGES_PATH.fullmatch(self.path)
        if match is None:
            self._answer(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
            return
        if not self.headers.get("Authorization", "").startswith("Basic "):
            self._answer(401, {"code": 20003, "message": "Authenticate", "status": 401})
            return
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
        if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
            with self.server.lock:
                self.server.rejected += 1
            self._answer(400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400})
            return
        sid, now = "SM" + secrets.token_hex(16), formatdate(usegmt=True)
        account = match.group(1)
        with self.server.lock:
            self.server.messages += 1
            if not self._carried:
                self._carried = True
                self.server.connections += 1
        self._answer(201, {
            "account_sid": account, "api_version": "2010-04-01", "body": form.get("Body", ""),
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0", "num_segments": "1",
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued", "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        })


def serve(conn: Any) -> None:
    """The stand-in process: bind a free loopback port, report it, serve until terminated."""
    server = StandInServer(("127.0.0.1", 0))
    conn.send(server.server_address[1])
    conn.close()
    server.serve_forever(poll_interval=0.5)


@contextmanager
def stand_in() -> Iterator[tuple[str, int]]:
    """(base URL, pid) of a stand-in running in a process of its own; stopped afterwards."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(child,), name="twilio-stand-in", daemon=True)
    proc.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the stand-in did not start")
        port = parent.recv()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(base + "/__stats", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base, proc.pid or 0
    finally:
        proc.terminate()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join(5)


def stats(base: str) -> dict[str, int]:
    with requests.get(base + "/__stats", timeout=5) as r:
        return r.json()


# --------------------------------------------------------------------------------------------
# The clients


def recipient(n: int) -> str:
    return f"+8491{n % 10**7:07d}"


class Window:
    """Client CPU, stand-in CPU and messages/connections seen by the stand-in over a measured window."""

    def __init__(self, base: str, server_pid: int, extra_pids: list[int] | None = None) -> None:
        self.base, self.server_pid, self.extra = base, server_pid, extra_pids or []

    def __enter__(self) -> Window:
        self.s_enter = self.s0 = stats(self.base)
        self.cpu0, self.srv0, self.extra0 = time.process_time(), process_cpu([self.server_pid]), process_cpu(self.extra)
        self.t0 = time.perf_counter()
        return self

    def start(self) -> None:
        """Restart the clock, the counts and the CPU counts (after a warm-up inside the window)."""
        self.s0 = stats(self.base)
        self.cpu0, self.srv0, self.extra0 = time.process_time(), process_cpu([self.server_pid]), process_cpu(self.extra)
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.client_cpu = time.process_time() - self.cpu0
        self.server_cpu = process_cpu([self.server_pid]) - self.srv0
        self.extra_cpu = process_cpu(self.extra) - self.extra0
        s1 = stats(self.base)
        self.server_messages = s1["messages"] - self.s0["messages"]
        # Connections count from the window's opening (warm-ups open them), messages from its start.
        self.server_connections = s1["connections"] - self.s_enter["connections"]

    def summary(self, done: int) -> dict[str, Any]:
        return {"seconds": self.seconds, "messages_per_second": done / self.seconds if self.seconds else None,
                "client_cpu_seconds": self.client_cpu, "client_cpu_ms_per_message": 1000 * self.client_cpu / max(done, 1),
                "client_cpu_share_of_one_core": self.client_cpu / self.seconds if self.seconds else None,
                "stand_in_cpu_seconds": self.server_cpu,
                "stand_in_cpu_ms_per_message": 1000 * self.server_cpu / max(done, 1),
                "stand_in_messages_in_window": self.server_messages,
                "stand_in_connections": self.server_connections}


def threaded(messages: int, concurrency: int, make_send: Callable[[], Callable[[int], bool]], window: Window,
             ) -> dict[str, Any]:
    """`concurrency` threads share `messages` sends after a warm-up each; returns counts and timing."""
    numbers = itertools.count()
    lock = threading.Lock()
    ok, failed, errors = [0], [0], Counter[str]()
    ready = threading.Barrier(concurrency + 1, timeout=60)
    go = threading.Event()
    deadline = [time.perf_counter() + RUN_TIMEOUT + 60]  # the barrier waits at most 60 s

    def worker(k: int) -> None:
        send = make_send()
        for w in range(WARMUP_PER_THREAD):
            send(10**6 + k * 100 + w)
        ready.wait()
        go.wait(60)
        while time.perf_counter() < deadline[0]:
            with lock:
                n = next(numbers)
            if n >= messages:
                return
            try:
                good = send(n)
            except Exception as exc:  # counted and reported, the run goes on
                good = False
                with lock:
                    errors[type(exc).__name__] += 1
            with lock:
                if good:
                    ok[0] += 1
                else:
                    failed[0] += 1

    threads = [threading.Thread(target=worker, args=(k,), name=f"sender-{k}", daemon=True)
               for k in range(concurrency)]
    with window:
        for t in threads:
            t.start()
        ready.wait()
        window.start()
        go.set()
        for t in threads:
            t.join(RUN_TIMEOUT + 30)
    out = window.summary(ok[0])
    out.update({"sent": ok[0], "failed": failed[0], "exceptions": dict(errors),
                "timed_out": any(t.is_alive() for t in threads)})
    return out


def run_plain(base: str, server_pid: int, *, messages: int, concurrency: int) -> dict[str, Any]:
    url = f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

    def make_send() -> Callable[[int], bool]:
        session = requests.Session()  # one per thread: its connection pool is reused by every send

        def send(n: int) -> bool:
            r = session.post(url, data={"To": recipient(n), "From": FROM, "Body": BODY}, auth=(ACCOUNT_SID, AUTH_TOKEN),
                             headers={"Accept": "application/json"}, timeout=10)
            return r.status_code == 201 and r.json()["sid"].startswith("SM")

        return send

    return threaded(messages, concurrency, make_send, Window(base, server_pid))


def run_twilio(base: str, server_pid: int, *, messages: int, concurrency: int) -> dict[str, Any]:
    from notifications.senders import Outgoing, TwilioSender

    sender = TwilioSender(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM, base_url=base)
    outcomes: Counter[str] = Counter()

    def make_send() -> Callable[[int], bool]:
        def send(n: int) -> bool:
            result = sender.send(Outgoing(n, recipient(n), BODY))
            outcomes[result.outcome] += 1
            return result.outcome == "accepted" and bool(result.provider_sid)

        return send

    out = threaded(messages, concurrency, make_send, Window(base, server_pid))
    out["outcomes_including_warmup"] = dict(outcomes)
    return out


# --------------------------------------------------------------------------------------------
# The dispatcher


class TimedSender:
    """Wraps a sender: when the sends of the current dispatch_once call started and ended."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.first: float | None = None
        self.last: float | None = None

    def send(self, message: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.inner.send(message)
        finally:
            end = time.perf_counter()
            with self.lock:
                self.first = start if self.first is None else min(self.first, start)
                self.last = end if self.last is None else max(self.last, end)


def make_broadcast(url: str, phones: list[str]) -> int:
    """An uploaded broadcast of `phones`, scheduled and in the outbox; returns its id."""
    from database.engine import make_engine, make_session_factory
    from notifications.broadcasts import create, enqueue, schedule, upload
    from notifications.models import AudienceKind
    from notifications.policy import SmsPolicy

    engine = make_engine(url)
    try:
        with make_session_factory(engine).begin() as session:
            broadcast = create(session, body=BODY, audience=AudienceKind.UPLOAD, spec={}, created_by="bench", now=NOW)
            report = upload(session, broadcast, iter(phones))
            if report.kept != len(phones):
                raise RuntimeError(f"upload kept {report.kept} of {len(phones)} numbers: {report.errors[:3]}")
            schedule(session, broadcast, send_at=NOW, now=NOW)
            queued = enqueue(session, broadcast, now=NOW, policy=SmsPolicy())
            if queued != len(phones):
                raise RuntimeError(f"enqueued {queued} of {len(phones)}")
            return broadcast.id
    finally:
        engine.dispose()


def drain(url: str, base: str, server_pid: int, *, concurrency: int, batch: int, broadcast_id: int,
          expected: int, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    """dispatch_once until nothing is claimed; per-call phases, statements and CPU."""
    from database.engine import make_engine, make_session_factory
    from notifications.dispatcher import DispatchConfig, dispatch_once
    from notifications.models import OutboxMessage
    from notifications.policy import SmsPolicy
    from notifications.senders import TwilioSender

    engine = make_engine(url)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        statements[0] += 1

    sessions = make_session_factory(engine)
    sender = TimedSender(TwilioSender(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM, base_url=base))
    config = DispatchConfig(batch=batch, rate=1e9, concurrency=concurrency)
    policy = SmsPolicy()
    counts: Counter[str] = Counter()
    phases: dict[str, list[float]] = {"claim": [], "send": [], "record": []}
    calls = 0
    try:
        with sessions() as s:  # the pool's connection exists before the window, so its backend is known
            s.execute(text("SELECT 1"))
        pids = backend_pids(url) or []
        statements[0] = 0
        max_calls = expected // max(batch, 1) * 3 + 10
        with Window(base, server_pid, pids) as window:
            deadline = time.perf_counter() + RUN_TIMEOUT
            while calls < max_calls and time.perf_counter() < deadline:
                sender.reset()
                t0 = time.perf_counter()
                if profile is not None:
                    profile.enable()
                got = dispatch_once(sessions, sender, now=lambda: NOW, policy=policy, config=config,
                                    worker="bench-dispatcher")
                if profile is not None:
                    profile.disable()
                t1 = time.perf_counter()
                calls += 1
                counts.update(got)
                if sum(got.values()) == 0:
                    break
                if sender.first is not None and sender.last is not None:
                    phases["claim"].append(sender.first - t0)
                    phases["send"].append(sender.last - sender.first)
                    phases["record"].append(t1 - sender.last)
        with engine.connect() as conn:
            by_status = dict(conn.execute(select(OutboxMessage.status, func.count())
                                          .where(OutboxMessage.broadcast_id == broadcast_id)
                                          .group_by(OutboxMessage.status)).all())
            sids = conn.execute(select(func.count(func.distinct(OutboxMessage.provider_sid)))
                                .where(OutboxMessage.broadcast_id == broadcast_id)).scalar_one()
    finally:
        engine.dispose()
    sent = counts.get("sent", 0)
    out = window.summary(sent)
    total = {k: sum(v) for k, v in phases.items()}
    out.update({
        "sent": sent, "outcomes": dict(counts), "dispatch_once_calls": calls,
        "outbox_by_status": {str(k): v for k, v in by_status.items()}, "distinct_provider_sids": sids,
        "phase_seconds": total,
        "phase_share": {k: v / out["seconds"] for k, v in total.items()} if out["seconds"] else None,
        "phase_ms_per_batch_median": {k: statistics.median(v) * 1000 if v else None for k, v in phases.items()},
        "statements": statements[0], "statements_per_message": statements[0] / max(sent, 1),
        "postgres_backend_cpu_seconds": window.extra_cpu if pids else None,
        "postgres_backend_cpu_ms_per_message": 1000 * window.extra_cpu / max(sent, 1) if pids else None,
        "drained": by_status.get("queued", 0) == 0 and by_status.get("sending", 0) == 0,
    })
    return out


def run_dispatcher(url: str, base: str, server_pid: int, *, messages: int, concurrency: int, batch: int,
                   round_no: int, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    start = 2_000_000 + round_no * messages
    broadcast_id = make_broadcast(url, [recipient(start + n) for n in range(messages)])
    return drain(url, base, server_pid, concurrency=concurrency, batch=batch, broadcast_id=broadcast_id,
                 expected=messages, profile=profile)


# --------------------------------------------------------------------------------------------
# Profiles


def top_text(profiler: cProfile.Profile, path: Path, top: int = 25) -> dict[str, str]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(path))
    return profile_text(profiler, top)


def profile_senders(base: str, n: int = 500) -> dict[str, Any]:
    """One thread, `n` sends each way under cProfile: where the client's time goes per message."""
    from notifications.senders import Outgoing, TwilioSender

    url = f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    session = requests.Session()
    sender = TwilioSender(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM, base_url=base)
    out: dict[str, Any] = {}
    for name in ("plain", "twilio"):
        for w in range(WARMUP_PER_THREAD):  # connection and client made outside the profile
            if name == "plain":
                session.post(url, data={"To": recipient(w), "From": FROM, "Body": BODY}, auth=(ACCOUNT_SID, AUTH_TOKEN))
            else:
                sender.send(Outgoing(w, recipient(w), BODY))
        profiler = cProfile.Profile()
        c0, t0 = time.process_time(), time.perf_counter()
        profiler.enable()
        for k in range(n):
            if name == "plain":
                r = session.post(url, data={"To": recipient(k), "From": FROM, "Body": BODY},
                                 auth=(ACCOUNT_SID, AUTH_TOKEN), headers={"Accept": "application/json"}, timeout=10)
                r.json()
            else:
                sender.send(Outgoing(k, recipient(k), BODY))
        profiler.disable()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        out[name] = {"messages": n, "seconds_under_profile": wall, "cpu_ms_per_message_under_profile": 1000 * cpu / n,
                     **top_text(profiler, RESULTS / f"{NAME}_{name}.prof")}
    return out


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sms_dispatch_rate", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_ADMIN_URL,
                        help="admin URL of the PostgreSQL server; the scratch database is created beside it")
    parser.add_argument("--messages", type=int, default=3000, help="messages per measured run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8], help="sending threads (several values)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of (a), (b), (c) per concurrency; medians reported")
    parser.add_argument("--batch", type=int, default=200, help="DispatchConfig.batch for the dispatcher")
    parser.add_argument("--no-dispatcher", action="store_true", help="skip (c), the dispatcher through PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="also profile one thread's sends and the dispatcher")
    args = parser.parse_args(argv)
    if args.messages < 1 or args.repeat < 1 or args.batch < 1 or min(args.concurrency) < 1:
        parser.error("--messages, --repeat, --batch and --concurrency must be at least 1")
    if args.messages > 10**6:
        parser.error("--messages is at most 1,000,000")
    return args


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = {k: v for k, v in vars(args).items() if k != "url"}
    result: dict[str, Any] = {"benchmark": NAME, "environment": environment(args.url), "settings": settings,
                              "target_ratio": TARGET_RATIO}
    started = time.perf_counter()
    result["environment"]["load_average_before"] = load_average()
    result["environment"]["busy_share_before"] = busy = busy_share()
    if not args.no_dispatcher:
        result["environment"]["server_version"] = server_version(args.url)
    print(f"SMS dispatch rate to a loopback Twilio stand-in, {args.messages:,} messages a run, "
          f"concurrency {args.concurrency}, {args.repeat} round(s), {os.cpu_count()} CPUs")
    if busy is not None and busy > 0.1:
        print(f"  note: the machine is not idle ({busy:.0%} of its CPUs busy just before); figures will be lower "
              f"and noisier")
    with stand_in() as (base, server_pid), contextlib_scratch(args) as url:
        print(f"  stand-in at {base} (pid {server_pid}); "
              f"{'dispatcher database ' + safe_url(url) if url else 'no dispatcher runs'}", flush=True)
        if url:
            # Untimed warm-up of the dispatcher path (statement caches, the first connections).
            bid = make_broadcast(url, [recipient(1_500_000 + n) for n in range(args.batch)])
            drain(url, base, server_pid, concurrency=args.concurrency[0], batch=args.batch, broadcast_id=bid,
                  expected=args.batch)
        runs: list[dict[str, Any]] = []
        round_no = 0
        for concurrency in args.concurrency:
            entry: dict[str, Any] = {"concurrency": concurrency, "plain": [], "twilio": [], "dispatcher": []}
            for r in range(args.repeat):
                print(f"  concurrency {concurrency}, round {r + 1}: plain ...", end="", flush=True)
                entry["plain"].append(run_plain(base, server_pid, messages=args.messages, concurrency=concurrency))
                print(f" {entry['plain'][-1]['messages_per_second']:.0f}/s; twilio ...", end="", flush=True)
                entry["twilio"].append(run_twilio(base, server_pid, messages=args.messages, concurrency=concurrency))
                print(f" {entry['twilio'][-1]['messages_per_second']:.0f}/s", end="", flush=True)
                if url:
                    print("; dispatcher ...", end="", flush=True)
                    entry["dispatcher"].append(run_dispatcher(url, base, server_pid, messages=args.messages,
                                                              concurrency=concurrency, batch=args.batch,
                                                              round_no=round_no))
                    round_no += 1
                    print(f" {entry['dispatcher'][-1]['messages_per_second']:.0f}/s", end="", flush=True)
                print(flush=True)
            entry["plain_rate"] = median_of(entry["plain"], "messages_per_second")
            entry["twilio_rate"] = median_of(entry["twilio"], "messages_per_second")
            plain = entry["plain_rate"] or float("nan")
            entry["twilio_ratio"] = entry["twilio_rate"] / plain
            entry["twilio_meets_target"] = entry["twilio_ratio"] >= TARGET_RATIO
            if entry["dispatcher"]:
                entry["dispatcher_rate"] = median_of(entry["dispatcher"], "messages_per_second")
                entry["dispatcher_ratio"] = entry["dispatcher_rate"] / plain
                entry["dispatcher_meets_target"] = entry["dispatcher_ratio"] >= TARGET_RATIO
            runs.append(entry)
        result["runs"] = runs
        if args.profile:
            print("  profiling one thread's sends and one dispatcher run ...", flush=True)
            result["profile"] = profile_senders(base)
            if url:
                profiler = cProfile.Profile()
                d = run_dispatcher(url, base, server_pid, messages=args.messages, concurrency=args.concurrency[-1],
                                   batch=args.batch, round_no=round_no, profile=profiler)
                result["profile"]["dispatcher_main_thread"] = {
                    "messages_per_second_under_profile": d["messages_per_second"],
                    **top_text(profiler, RESULTS / f"{NAME}_dispatcher.prof", top=35)}
        result["stand_in_totals"] = stats(base)
    result["wall_seconds"] = time.perf_counter() - started
    path = write_result(NAME, result)
    report(result, path)
    return 0


@contextmanager
def contextlib_scratch(args: argparse.Namespace) -> Iterator[str | None]:
    if args.no_dispatcher:
        yield None
        return
    with scratch_database(args.url, prefix="hotline_sms") as url:
        yield url


def rates(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['messages_per_second']:.0f}" for r in runs)


def report(result: dict[str, Any], path: Path) -> None:
    print()
    if "profile" in result:
        for name, p in result["profile"].items():
            print(f"Profile: {name}" + (f" ({p['messages']} sends from one thread, "
                                        f"{p['cpu_ms_per_message_under_profile']:.2f} ms CPU each under cProfile)"
                                        if "messages" in p else ""))
            print(p["top_cumulative"])
            print(p["top_tottime"])
    for entry in result["runs"]:
        n = entry["concurrency"]
        print(f"concurrency {n} (medians of {len(entry['plain'])} round(s); per round: "
              f"plain {rates(entry['plain'])}; twilio {rates(entry['twilio'])}"
              + (f"; dispatcher {rates(entry['dispatcher'])}" if entry["dispatcher"] else "") + ")")
        for kind in ("plain", "twilio", "dispatcher"):
            if not entry[kind]:
                continue
            last = min(entry[kind], key=lambda r: abs(r["messages_per_second"] - entry[f"{kind}_rate"]))
            label = {"plain": "(a) plain requests", "twilio": "(b) TwilioSender", "dispatcher": "(c) dispatch_once"}[kind]
            print(f"  {label:22s} {entry[f'{kind}_rate']:7.0f} msg/s   client CPU {last['client_cpu_ms_per_message']:.2f} "
                  f"ms/msg ({last['client_cpu_share_of_one_core']:.0%} of a core), stand-in CPU "
                  f"{last['stand_in_cpu_ms_per_message']:.2f} ms/msg, connections {last['stand_in_connections']}"
                  f", sent {last['sent']}/{last['stand_in_messages_in_window']} seen"
                  + (f", failed {last['failed']}" if last.get("failed") else ""))
            if kind == "dispatcher":
                ph, share = last["phase_ms_per_batch_median"], last["phase_share"]
                pg = last["postgres_backend_cpu_ms_per_message"]
                print(f"  {'':22s} {last['dispatch_once_calls']} dispatch_once calls; per batch (median ms) claim "
                      f"{ph['claim']:.0f}, send {ph['send']:.0f}, record {ph['record']:.0f}; share of the time: "
                      + ", ".join(f"{k} {v:.0%}" for k, v in (share or {}).items()))
                print(f"  {'':22s} {last['statements_per_message']:.2f} SQL statements/msg"
                      + (f", PostgreSQL backend CPU {pg:.2f} ms/msg" if pg is not None else "")
                      + f"; outbox {last['outbox_by_status']}, {last['distinct_provider_sids']} distinct sids")
        print(f"  ratio (b)/(a) {entry['twilio_ratio']:.2f}  target >= {TARGET_RATIO} -> "
              f"{'met' if entry['twilio_meets_target'] else 'NOT met'}")
        if "dispatcher_ratio" in entry:
            print(f"  ratio (c)/(a) {entry['dispatcher_ratio']:.2f}  target >= {TARGET_RATIO} -> "
                  f"{'met' if entry['dispatcher_meets_target'] else 'NOT met'}")
    print(f"(wall time {result['wall_seconds']:.0f} s; result written to {path})")


if __name__ == "__main__":
    sys.exit(main())
