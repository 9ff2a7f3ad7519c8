"""Domain errors: every broken rule raises one of these, with a message the edges can translate.

Each error carries a stable `code` (used by the API and in logs) and a message template marked
with `N_` plus its parameters, so that the IVR, the console and the API can each render it in the
caller's language without knowing the rule behind it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from booking.i18n import N_


class BookingError(Exception):
    """A rule of the booking domain was broken; nothing was written."""

    code: ClassVar[str] = "booking_error"
    message: str = N_("The request could not be carried out.")  # an instance may carry its own

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.params = params
        if message is not None:
            self.message = message
        super().__init__(self.render())

    def render(self, gettext: Any = None) -> str:
        """The message in the language of `gettext` (identity when none is given)."""
        template = gettext(self.message) if gettext else self.message
        return template % self.params if self.params else template


class NotFound(BookingError):
    code = "not_found"
    message = N_("Not found.")


class InvalidPhone(BookingError):
    code = "invalid_phone"
    message = N_("“%(text)s” is not a valid Vietnamese phone number.")


class NotAMobile(BookingError):
    code = "not_a_mobile"
    message = N_("%(phone)s is not a mobile number; a mobile number is needed for the SMS.")


class InvalidBookingCode(BookingError):
    code = "invalid_code"
    message = N_("“%(text)s” is not a valid booking code; please check the digits.")


class OfficeClosed(BookingError):
    code = "office_closed"
    message = N_("The office is closed on %(date)s.")


class OfficeInactive(BookingError):
    code = "office_inactive"
    message = N_("This office is not taking appointments.")


class NoSuchSession(BookingError):
    code = "no_such_session"
    message = N_("The office holds no such session on %(date)s.")


class OutsideHorizon(BookingError):
    code = "outside_horizon"
    message = N_("Appointments can be booked at most %(days)s days ahead.")


class PastCutoff(BookingError):
    code = "past_cutoff"
    message = N_("This session no longer takes appointments.")


class SessionFull(BookingError):
    code = "session_full"
    message = N_("This session is fully booked.")


class WindowFull(BookingError):
    code = "window_full"
    message = N_("This arrival time is fully booked; please choose another.")


class AlreadyBookedForSession(BookingError):
    code = "already_booked"
    message = N_("This phone number already has an appointment in this session.")


class TooManyBookings(BookingError):
    code = "too_many_bookings"
    message = N_("This phone number already has %(limit)s upcoming appointments.")


class HoldExpired(BookingError):
    code = "hold_expired"
    message = N_("The seat was held for too long and has been released; please choose again.")


class InvalidTransition(BookingError):
    """The booking's status does not allow the change asked for."""

    code = "invalid_transition"
    message = N_("This appointment can no longer be changed.")


class NotCancellable(InvalidTransition):
    code = "not_cancellable"
    message = N_("Only an appointment that is still booked can be cancelled.")


class NotMovable(InvalidTransition):
    code = "not_movable"
    message = N_("Only an appointment that is still booked can be moved.")


class CheckInNotAllowed(InvalidTransition):
    code = "check_in_not_allowed"
    message = N_("This appointment cannot be checked in: it is not for today, or it is no longer booked.")


class AlreadyCheckedIn(CheckInNotAllowed):
    """The code was already checked in (a second scan at the desk): say when, not "not today"."""

    code = "already_checked_in"
    message = N_("This appointment was already checked in at %(time)s.")


class NotServable(InvalidTransition):
    code = "not_servable"
    message = N_("Only a person who has checked in can be marked as served.")


class NoShowTooEarly(InvalidTransition):
    code = "no_show_too_early"
    message = N_("It is too early to mark this person as not having come.")


class ProcedureNotOffered(BookingError):
    code = "procedure_not_offered"
    message = N_("This office does not accept the procedure %(procedure)s.")


class InvalidSettings(BookingError):
    code = "invalid_settings"
    message = N_("Invalid setting: %(detail)s.")
