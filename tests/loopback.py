"""What every loopback stand-in of a provider shares: a threaded HTTP server, a script of answers, a record.

A stand-in subclasses `LoopbackServer` with its handler class (a BaseHTTPRequestHandler whose
`owner` is the stand-in) and its own types of answer and of recorded request. The server listens
on 127.0.0.1 at a free port, so the real client runs unchanged with only its base URL pointed here.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Generic, Self, TypeVar

A = TypeVar("A")  # how the stand-in answers one request
R = TypeVar("R")  # what it records of one


class LoopbackServer(Generic[A, R]):
    """Use as a context manager: `with StandIn() as standin: ...`."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "standin"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: list[A] = []
        self._records: list[R] = []
        self._closing = threading.Event()  # set on stop: releases handlers still delaying an answer
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (self.handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the stand-in is not running"
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def wait_closing(self, seconds: float) -> bool:
        """Wait `seconds` before answering; True if the stand-in is shutting down meanwhile."""
        return self._closing.wait(seconds)

    # scripting
    def script(self, *answers: A) -> None:
        """Answer the next requests with these, in order; afterwards as usual."""
        with self._lock:
            self._script.extend(answers)

    def fail_next(self, n: int, answer: A) -> None:
        self.script(*([answer] * n))

    def _next_answer(self) -> A | None:
        with self._lock:
            return self._script.pop(0) if self._script else None

    # what happened
    @property
    def requests(self) -> list[R]:
        with self._lock:
            return list(self._records)

    def _record(self, request: R) -> None:
        with self._lock:
            self._records.append(request)
