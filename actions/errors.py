"""Refusals of the application layer: the actor may not do this (the domain's rules are `booking.errors`)."""

from __future__ import annotations

from booking.errors import BookingError
from booking.i18n import N_


class NotAllowed(BookingError):
    """The actor is known but may not do this here (another office, another role)."""

    code = "forbidden"
    message = N_("You may not do this.")

