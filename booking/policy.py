"""The tunable limits of the booking rules, passed explicitly to every service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol


class PolicySettings(Protocol):
    """The settings a policy is read from (config.Settings has them; the domain does not import it)."""

    # Read-only, so that a frozen dataclass (config.Settings) matches.
    @property
    def max_future_bookings(self) -> int: ...
    @property
    def hold_seconds(self) -> int: ...
    @property
    def rebook_delay_seconds(self) -> int: ...
    @property
    def no_show_grace_minutes(self) -> int: ...
    @property
    def waitlist_hold_minutes(self) -> int: ...


@dataclass(frozen=True)
class BookingPolicy:
    max_future_bookings: int = 2
    hold_ttl: timedelta = timedelta(seconds=120)
    rebook_delay: timedelta = timedelta(0)
    no_show_grace: timedelta = timedelta(minutes=30)
    waitlist_hold: timedelta = timedelta(minutes=30)  # a freed seat offered from the waitlist is held this long

    @classmethod
    def from_settings(cls, settings: PolicySettings) -> BookingPolicy:
        return cls(
            max_future_bookings=settings.max_future_bookings,
            hold_ttl=timedelta(seconds=settings.hold_seconds),
            rebook_delay=timedelta(seconds=settings.rebook_delay_seconds),
            no_show_grace=timedelta(minutes=settings.no_show_grace_minutes),
            waitlist_hold=timedelta(minutes=settings.waitlist_hold_minutes),
        )
