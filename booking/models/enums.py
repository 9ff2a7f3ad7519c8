"""Enumerations shared by the booking models, stored as their string values (`database.base.str_enum`)."""

from __future__ import annotations

import enum


class OfficeLevel(enum.StrEnum):
    PROVINCE = "province"  # Trung tâm Phục vụ hành chính công tỉnh
    COMMUNE = "commune"  # Bộ phận Một cửa / Trung tâm cấp xã, phường, đặc khu


class Channel(enum.StrEnum):
    IVR = "ivr"
    OPERATOR = "operator"
    WEB = "web"
    API = "api"
    WALKIN = "walkin"  # seats kept for people who turn up at the counter


class BookingStatus(enum.StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"
    SERVED = "served"
    NO_SHOW = "no_show"


class CalendarDayKind(enum.StrEnum):
    DAY_OFF = "day_off"  # an extra day off announced by the government or the province
    WORKING_DAY = "working_day"  # a make-up working day (often a Saturday)
