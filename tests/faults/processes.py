"""Child processes on loopback, always cleaned up: gunicorn and schedulers for the fault tests and the benchmarks.

Every child runs in a session of its own (so that its whole group, gunicorn's workers included,
can be signalled at once) and asks Linux to SIGTERM it should this process die first, even by
SIGKILL. `Children` is a context manager: whatever happens in the block, every group it started is
sent SIGTERM, then SIGKILL, when the block ends (`stop_all` stops them gracefully first, as
bench/loadkit.py's `Processes` and bench/voice_latency.py do). gunicorn listens on a loopback
socket bound here and handed over (`--bind fd://N`), so there is no race for a port.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "fault-test-secret-key-" + "0" * 42
AUTH_TOKEN = "f" * 32
CLOSED_PROXY = "http://127.0.0.1:9"  # nothing listens on the discard port: a connection is refused at once
HOTLINE_SETTINGS = ("HOTLINE_", "TWILIO_", "IVR_", "BOOKING_", "SMS_", "LEADER_", "READY_", "PUBLIC_BASE_URL",
                    "DATABASE_URL", "SECRET_KEY", "PROMETHEUS_", "LOG_", "METRICS_")
PROXIES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def server_env(database_url: str, instance: Path, *, env: str = "production", secret_key: str = SECRET_KEY,
               token: str = AUTH_TOKEN, **settings: str) -> dict[str, str]:
    """This environment without any of the hotline's settings, then HOTLINE_ENV=`env` on `database_url`.

    Proxies point at a closed loopback port and only loopback bypasses them, so nothing a server
    does can leave the machine: a stray request to the outside fails at once.
    """
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(HOTLINE_SETTINGS) and k.lower() not in PROXIES}
    environment.update(HOTLINE_ENV=env, DATABASE_URL=database_url, SECRET_KEY=secret_key, TWILIO_AUTH_TOKEN=token,
                       HOTLINE_INSTANCE_PATH=str(instance), PYTHONUNBUFFERED="1")
    for var in ("http_proxy", "https_proxy", "all_proxy"):
        environment[var] = environment[var.upper()] = CLOSED_PROXY
    environment["no_proxy"] = environment["NO_PROXY"] = "127.0.0.1,localhost"
    environment.update(settings)
    return environment


def die_with_parent() -> None:
    """In the child before exec: SIGTERM from Linux if this process dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def loopback_socket() -> socket.socket:
    """A loopback socket on a free port, to hand to gunicorn (`--bind fd://N`): no race for the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0  # a server's: it is stopped after the others

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def last_lines(self, lines: int) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def tail(self, lines: int = 40) -> str:
        return f"--- {self.name} (pid {self.pid}, exit {self.proc.poll()}) ---\n" + self.last_lines(lines)


def stop(child: Child, timeout: float = 20.0) -> str:
    """SIGTERM (gunicorn's master stops its workers gracefully), then SIGKILL to the whole group."""
    if child.proc.poll() is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)  # workers an exited master may have left
        return f"had exited ({child.proc.returncode})"
    with contextlib.suppress(ProcessLookupError):
        child.proc.send_signal(signal.SIGTERM)
    try:
        child.proc.wait(timeout=timeout)
        how = "stopped"
    except subprocess.TimeoutExpired:
        how = "killed"
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.proc.wait(timeout=10)
    return how


class Children:
    """Starts children and, on leaving the block, stops every one of them and their groups."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Child] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill_all()

    def kill_all(self, grace: float = 3.0) -> None:
        """SIGTERM to every group at once, then SIGKILL after `grace` seconds: clean-up need not be graceful."""
        for child in self.started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for child in self.started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)  # the group: workers outlive a killed master otherwise
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)

    def stop_all(self, timeout: float = 20.0) -> dict[str, str]:
        """Each child stopped gracefully (`stop`), how, by name; the servers last, as the others may write to them."""
        # A second Ctrl-C while stopping must not leave the rest running.
        outcome = {}
        for child in sorted(self.started, key=lambda c: c.port != 0):
            while True:
                try:
                    outcome[child.name] = stop(child, timeout)
                    break
                except KeyboardInterrupt:
                    continue
        return outcome

    def tails(self) -> str:
        return "\n".join(child.tail() for child in self.started)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str], *, pass_fds: Sequence[int] = (),
              port: int = 0) -> Child:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(list(argv), cwd=ROOT, env=env, pass_fds=tuple(pass_fds), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=die_with_parent)
        child = Child(name, proc, log_path, port)
        self.started.append(child)
        return child

    def scheduler(self, name: str, env: dict[str, str]) -> Child:
        return self.start(name, [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run", "--name", name],
                          env)

    def gunicorn(self, name: str, env: dict[str, str], *, workers: int = 2, worker_class: str = "sync",
                 threads: int = 4, timeout: int = 30, graceful_timeout: int = 5, app: str = "wsgi:app",
                 options: Sequence[str] = (), sock: socket.socket | None = None) -> Child:
        """gunicorn serving `app` on `sock` (by default a loopback socket bound here), closed here once handed over.

        `options` are more of gunicorn's command-line options (logging, say); errors go to the child's log.
        """
        sock = sock or loopback_socket()
        try:
            port = sock.getsockname()[1]
            fd = sock.fileno()
            os.set_inheritable(fd, True)
            argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", worker_class,
                    "--bind", f"fd://{fd}", "--no-control-socket", "--timeout", str(timeout),
                    "--graceful-timeout", str(graceful_timeout), "--error-logfile", "-", *options]
            if worker_class == "gthread":
                argv += ["--threads", str(threads)]
            return self.start(name, [*argv, app], env, pass_fds=(fd,), port=port)
        finally:
            sock.close()  # gunicorn holds its own copy


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05,
               children: Children | None = None) -> float:
    """Poll `condition()` until true; the seconds it took. Fails naming `what` (and the children's logs)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g} s\n{children.tails() if children else ''}")


def http_status(base_url: str, path: str, timeout: float = 5.0) -> int:
    """The status of GET `path`, or 0 when the server does not answer."""
    host, port = base_url.removeprefix("http://").split(":")
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        finally:
            conn.close()
    except OSError:
        return 0


def wait_healthy(server: Child, children: Children, timeout: float = 30.0) -> float:
    """Seconds until GET /healthz answers 200; fails with the children's logs if the server exits or never answers."""
    took = wait_until(lambda: not server.alive() or http_status(server.base_url, "/healthz") == 200,
                      timeout, f"{server.name} answering /healthz", interval=0.1, children=children)
    if not server.alive():
        raise AssertionError(f"{server.name} exited before answering /healthz:\n{children.tails()}")
    return took


def _processes() -> Iterator[tuple[int, list[str]]]:
    """Every process, from /proc: its pid and the fields of its stat after the name (state, ppid, pgrp, ...)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), raw[raw.rfind(")") + 2:].split()


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (gunicorn's workers, when it is the master)."""
    return sorted(pid for pid, stat in _processes() if int(stat[1]) == parent)


def group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group."""
    return any(int(stat[2]) == pgid and stat[0] != "Z" for _pid, stat in _processes())
