"""A fixed clock that tests move by hand, for code that takes `now` as a callable."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    """A fixed clock that tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> Clock:
        self.now += timedelta(**delta)
        return self
