"""The tunable limits of the booking rules, passed explicitly to every service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class BookingPolicy:
    max_future_bookings: int = 2
    hold_ttl: timedelta = timedelta(seconds=120)
    rebook_delay: timedelta = timedelta(0)
    no_show_grace: timedelta = timedelta(minutes=30)

    @classmethod
    def from_settings(cls, settings: object) -> BookingPolicy:
        return cls(
            max_future_bookings=getattr(settings, "max_future_bookings"),
            hold_ttl=timedelta(seconds=getattr(settings, "hold_seconds")),
            rebook_delay=timedelta(seconds=getattr(settings, "rebook_delay_seconds")),
            no_show_grace=timedelta(minutes=getattr(settings, "no_show_grace_minutes")),
        )
