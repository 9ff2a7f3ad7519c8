"""HTTP for the senders that call a provider's API with `requests` (eSMS; others may share it)."""

from __future__ import annotations

import threading

import requests


class SessionPerThread:
    """One `requests.Session` for each sending thread: its connections are reused, never shared."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session
