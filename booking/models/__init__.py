"""The booking domain's typed SQLAlchemy models; importing this package registers their tables on `database.base.Base`.

Staff accounts live in `accounts.models`, the audit log in `actions.models`, calls in `hotline.ivr.models`,
scheduler heartbeats in `hotline.heartbeats` and the outbox in `notifications.models`.
"""

from booking.models.bookings import Booking, BookingEvent, Citizen, Hold
from booking.models.callbacks import CallbackRequest
from booking.models.campaigns import Campaign, CampaignStatus, CampaignTarget, TargetStatus
from booking.models.desks import Desk
from booking.models.enums import BookingStatus, CalendarDayKind, Channel, OfficeLevel
from booking.models.offices import CalendarDay, ChannelReserve, Closure, Office, SessionOverride, SessionTemplate
from booking.models.procedures import Procedure
from booking.models.sessions import ArrivalWindow, OfficeSession, SessionReserve
from booking.models.waitlist import OfferCall, WaitlistEntry, WaitlistStatus

__all__ = [
    "ArrivalWindow",
    "Booking",
    "BookingEvent",
    "BookingStatus",
    "CalendarDay",
    "CalendarDayKind",
    "CallbackRequest",
    "Campaign",
    "CampaignStatus",
    "CampaignTarget",
    "Channel",
    "ChannelReserve",
    "Citizen",
    "Closure",
    "Desk",
    "Hold",
    "OfferCall",
    "Office",
    "OfficeLevel",
    "OfficeSession",
    "Procedure",
    "SessionOverride",
    "SessionReserve",
    "SessionTemplate",
    "TargetStatus",
    "WaitlistEntry",
    "WaitlistStatus",
]
