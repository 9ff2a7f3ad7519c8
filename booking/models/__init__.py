"""The typed SQLAlchemy models; importing this package registers every table on `Base`."""

from booking.models.accounts import User, user_offices
from booking.models.audit import ApiToken, AuditEntry, LoginAttempt
from booking.models.bookings import Booking, BookingEvent, Citizen, Hold
from booking.models.calls import Call, CallbackRequest
from booking.models.enums import BookingStatus, CalendarDayKind, Channel, OfficeLevel, Role
from booking.models.offices import CalendarDay, ChannelReserve, Closure, Office, SessionOverride, SessionTemplate
from booking.models.ops import SchedulerHeartbeat, SchedulerRole
from booking.models.procedures import Procedure
from booking.models.sessions import ArrivalWindow, OfficeSession, SessionReserve

__all__ = [
    "ApiToken",
    "ArrivalWindow",
    "AuditEntry",
    "Booking",
    "BookingEvent",
    "BookingStatus",
    "CalendarDay",
    "CalendarDayKind",
    "Call",
    "CallbackRequest",
    "Channel",
    "ChannelReserve",
    "Citizen",
    "Closure",
    "Hold",
    "LoginAttempt",
    "Office",
    "OfficeLevel",
    "OfficeSession",
    "Procedure",
    "Role",
    "SchedulerHeartbeat",
    "SchedulerRole",
    "SessionOverride",
    "SessionReserve",
    "SessionTemplate",
    "User",
    "user_offices",
]
