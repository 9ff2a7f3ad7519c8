"""The API's request and response bodies as pydantic models: what the views parse and render, and
what /api/v1/openapi.json describes (the document is generated from these classes, nothing else).

Input types keep the rules the API always had: whole numbers but never booleans, dates between
`booking.calendar.EARLIEST` and `LATEST`, local times without a UTC offset, text with a length
limit. Where JSON Schema cannot say exactly what the domain accepts (a Vietnamese phone number,
a booking code's check digit) the document gives a form that is always accepted, and the domain
still decides, with its own error code, about anything else sent.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer,
                      PlainValidator, WithJsonSchema, model_validator)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from actions.offices import Appointment, ClosureOutcome, Fate
from booking.availability import SessionRoom
from booking.calendar import EARLIEST, LATEST
from booking.plain_text import FORBIDDEN, clean
from booking.models import (
    Booking, BookingStatus, Channel, OfficeLevel, SessionOverride, WaitlistEntry, WaitlistStatus,
)
from hotline.api.contract import invalid

MAX_RANGE_DAYS = 62
MAX_ID = 2**31 - 1  # ids are 32-bit in the database

# Every date of the centuries EARLIEST..LATEST span (tests check the pattern against the bounds);
# `format: date` rules out the 30th of February that the pattern alone would let through. Digits are
# [0-9]: for Python's `re`, as for the API's parsers, \d is any Unicode digit.
DATE_PATTERN = (rf"^({'|'.join(str(c) for c in range(EARLIEST.year // 100, LATEST.year // 100 + 1))})[0-9][0-9]-"
                r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# Vietnamese mobile numbers, as phonenumbers' metadata allocates them (tests check every one parses):
# the domain accepts more (landlines, other spellings), this is the form the document promises to take.
PHONE_PATTERN = r"^(\+84|0)(3[0-9]|5[1689]|7[06-9]|8[1-8]|9[0-8])( ?[0-9]){7}$"
CODE_PATTERN = r"^[1-9][0-9]{8}$"


def _escaped(characters: str) -> str:
    """A regular-expression class body with every character but "-" as \\uXXXX (JSON and ECMA read it too)."""
    return "".join(c if c == "-" else f"\\u{ord(c):04x}" for c in characters)


# The characters no field may hold (`booking.plain_text`, the project's one rule for incoming text, which
# the request gate in hotline.errors applies before any view), so that the document does not offer text
# the API must refuse. A text field that needs content needs more than spaces. Lone surrogates are refused
# too, but left out here: UTF-8 cannot carry them, and the Rust regex engines that read the document
# (schemathesis through jsonschema_rs) cannot compile them.
_NOT_STORED = _escaped(FORBIDDEN.pattern[1:-1])
TEXT_PATTERN = f"^[^{_NOT_STORED}]*$"
SOME_TEXT_PATTERN = rf"^[^{_NOT_STORED}]*[^\s{_NOT_STORED}][^{_NOT_STORED}]*$"


def clean_text(value: str) -> str:
    """Text through the project's one rule (`booking.plain_text.clean`: NFC, no control characters), stripped.

    The request gate has already done it to every string of a request; a model used anywhere else gets
    the same. Each field's own length limit is its `max_length`, checked before this runs.
    """
    return clean(value, limit=len(value) * 3).strip()  # NFC composes; the bound is only clean()'s own


def _whole_number(value: object) -> object:
    # JSON's true is not 1. 2.0 is 2, as JSON Schema's "integer" says (2.5 is refused by pydantic), and
    # "12" from a query string is 12.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError("whole_number", "must be a whole number")
    return value


def _day(value: object) -> date:
    parsed: date | None = None
    if isinstance(value, date) and not isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None:
        raise PydanticCustomError("date", "must be a date YYYY-MM-DD")
    if not EARLIEST <= parsed <= LATEST:
        raise PydanticCustomError("date_range", "must be between {low} and {high}",
                                  {"low": str(EARLIEST), "high": str(LATEST)})
    return parsed


def _local_time(value: object) -> time:
    try:
        parsed = time.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise PydanticCustomError("time", "must be a time HH:MM")
    if parsed.tzinfo is not None:
        # Session hours are the office's wall clock; an offset ("07:00+07:00", "07:00Z") says something else.
        raise PydanticCustomError("time_offset", "must be a local time HH:MM without a UTC offset")
    return parsed


def _session_code(value: object) -> str:
    if not isinstance(value, str) or len(value) != 1 or not value.isalpha():
        raise PydanticCustomError("session", "must be one letter such as S or C")
    return value.upper()


_WHOLE = BeforeValidator(_whole_number)
_TEXT = AfterValidator(clean_text)

Id = Annotated[int, Field(ge=1, le=MAX_ID), _WHOLE]
Day = Annotated[date, PlainValidator(_day), WithJsonSchema({"type": "string", "format": "date",
                                                            "pattern": DATE_PATTERN, "examples": ["2027-03-02"]})]
LocalTime = Annotated[time, PlainValidator(_local_time),
                      WithJsonSchema({"type": "string", "pattern": TIME_PATTERN, "examples": ["07:30"]})]
SessionCode = Annotated[str, PlainValidator(_session_code),
                        WithJsonSchema({"type": "string", "pattern": "^[A-Za-z]$", "examples": ["S"]})]
# One line of text of at most so many characters, stripped; where some text is needed, more than spaces.
Phone = Annotated[str, Field(min_length=1, max_length=40, pattern=TEXT_PATTERN, examples=["0912 345 678"],
                             json_schema_extra={"pattern": PHONE_PATTERN},
                             description="A Vietnamese phone number; other spellings (84…, dots, dashes) and "
                                         "landlines are accepted too, and a number that is none is refused with "
                                         "`invalid_phone`."), _TEXT]
Name = Annotated[str, Field(max_length=200, pattern=TEXT_PATTERN), _TEXT]
Reason = Annotated[str, Field(max_length=300, pattern=TEXT_PATTERN), _TEXT]
NeededReason = Annotated[str, Field(max_length=300, pattern=SOME_TEXT_PATTERN), _TEXT]
Window = Annotated[int, Field(ge=0, le=100), _WHOLE]
Capacity = Annotated[int, Field(ge=0, le=10_000), _WHOLE]
Limit = Annotated[int, Field(ge=1, le=50), _WHOLE]
# An optional field that may also be sent as null; the document shows only the real type.
Absent = SkipJsonSchema[None]

# Responses: times are the office's wall clock, written HH:MM.
Clock = Annotated[time, PlainSerializer(lambda t: t.isoformat("minutes"), return_type=str),
                  WithJsonSchema({"type": "string", "pattern": r"^[0-9]{2}:[0-9]{2}$"})]
Seconds = Annotated[time, PlainSerializer(lambda t: t.isoformat(), return_type=str),
                    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{2}:[0-9]{2}:[0-9]{2}$"})]
Stamp = Annotated[datetime, PlainSerializer(lambda t: t.isoformat(), return_type=str),
                  WithJsonSchema({"type": "string", "format": "date-time"})]


class Model(BaseModel):
    # Python's `re`, like the generators that read the document, so a pattern means the same in both.
    model_config = ConfigDict(extra="ignore", regex_engine="python-re", populate_by_name=True,
                              from_attributes=True)


class Body(Model):
    """A request body. Fields it does not know are ignored, but the document offers none: they go through
    the request gate all the same, and a client has no reason to send them."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})


# -- requests -----------------------------------------------------------------------------------

class NewBooking(Body):
    office_id: Id
    date: Day
    session: SessionCode
    phone: Phone
    name: Name | Absent = None
    procedure_id: Id | Absent = None
    window: Window | Absent = Field(None, description="Arrival window (0 is the first); the earliest with room "
                                                      "when left out.")
    language: Literal["vi", "en"] | Absent = Field(None, description="Language of the SMS; the hotline's own "
                                                                     "when left out.")


class NewWaitlistEntry(Body):
    """A full session's waitlist: the person is called (then texted) when a place comes free."""

    office_id: Id
    date: Day
    session: SessionCode
    phone: Phone = Field(description="Where the offer of a freed place is called and texted.")
    name: Name | Absent = None
    procedure_id: Id | Absent = None
    language: Literal["vi", "en"] | Absent = Field(None, description="Language of the call and the SMS; the "
                                                                     "hotline's own when left out.")


class Move(Body):
    office_id: Id
    date: Day
    session: SessionCode
    window: Window | Absent = None


class Cancel(Body):
    reason: Reason | Absent = None


class SessionChange(Body):
    """Capacity and/or hours of one session on one date; at least one of them."""

    model_config = ConfigDict(json_schema_extra={"additionalProperties": False, "anyOf": [
        {"required": ["capacity"]}, {"required": ["start"]}, {"required": ["end"]}]})

    capacity: Capacity | Absent = None
    start: LocalTime | Absent = None
    end: LocalTime | Absent = None

    @model_validator(mode="after")
    def _something(self) -> SessionChange:
        if self.capacity is None and self.start is None and self.end is None:
            raise PydanticCustomError("nothing", "give capacity, start or end")
        return self


Disposition = Literal["leave", "cancel_and_notify", "move"]


class NewClosure(Body):
    start: Day
    end: Day
    reason: NeededReason
    disposition: Disposition | Absent = Field(
        None, description="What becomes of the people booked on those days: `leave` them booked and untold, "
                          "`cancel_and_notify` (each is texted), or `move` each to the soonest session with room "
                          "that starts no earlier than their own appointment (texted the new time; whoever cannot "
                          "be moved is cancelled and texted). Left out: `cancel_and_notify` with `notify`, else "
                          "`leave`.")
    notify: Annotated[bool, Field(strict=True)] = Field(False, description="The older spelling of `disposition: "
                                                                           "cancel_and_notify`.")
    expect: Annotated[str, Field(pattern="^[0-9a-f]{32}$")] | Absent = Field(
        None, description="The `fingerprint` of a preview: the closure is refused (409 `plan_changed`, nothing "
                          "changed) if it would now do something else to the people booked.")

    def chosen(self) -> Disposition:
        return self.disposition or ("cancel_and_notify" if self.notify else "leave")


class AvailabilityQuery(Model):
    from_: Day | Absent = Field(None, alias="from", description="First day; today when left out.")
    to: Day | Absent = Field(None, description=f"Last day; six days after `from` when left out, at most "
                                               f"{MAX_RANGE_DAYS} days after it.")

    def days(self, today: date) -> tuple[date, date]:
        """The first and last day asked for, filling in what was left out."""
        start = self.from_ or today
        end = self.to or start + timedelta(days=6)
        if end > LATEST:
            raise invalid("to", f"to must be between {EARLIEST} and {LATEST}")
        if end < start or (end - start).days > MAX_RANGE_DAYS:
            raise invalid("to", f"to must be on or after from, at most {MAX_RANGE_DAYS} days later")
        return start, end


class NextQuery(Model):
    limit: Limit = 5
    office_id: list[Id] | Absent = None


class PhoneQuery(Model):
    phone: Phone


class OfficePath(Model):
    office_id: int


class CodePath(Model):
    code: Annotated[str, Field(json_schema_extra={"pattern": CODE_PATTERN}, examples=["123456782"],
                               description="Booking code: nine digits, the last a check digit. Spaces and "
                                           "dashes are accepted too; a wrong check digit is `invalid_code`.")]


class SessionPath(Model):
    office_id: int
    date: Day
    session: SessionCode


# -- responses ----------------------------------------------------------------------------------

class OfficeOut(Model):
    id: int
    code: str
    name: str
    name_en: str | None
    level: OfficeLevel
    address: str
    phone: str | None
    keypad_number: int | None
    crowd_limit: int
    window_minutes: int
    horizon_days: int
    cutoff_minutes: int
    active: bool


class Offices(Model):
    offices: list[OfficeOut]


class WindowOut(Model):
    position: int
    start: Clock
    end: Clock
    capacity: int
    remaining: int


class SessionOut(Model):
    code: str
    start: Clock
    end: Clock
    capacity: int
    booked: int
    held: int
    remaining: int
    bookable: bool
    windows: list[WindowOut]


class DayOut(Model):
    date: date
    closed_reason: str | None
    sessions: list[SessionOut]


class Availability(Model):
    office_id: int
    days: list[DayOut]


class NextSessionOut(Model):
    office_id: int
    date: date
    session: str
    start: Clock
    end: Clock
    remaining: int

    @classmethod
    def of(cls, room: SessionRoom) -> NextSessionOut:
        return cls(office_id=room.office_id, date=room.date, session=room.code, start=room.start, end=room.end,
                   remaining=room.remaining)


class NextSessions(Model):
    sessions: list[NextSessionOut]


MaybeDay = date | None  # an answer's date or none, named apart from BookingOut's own `date` field


class BookingOut(Model):
    code: Annotated[str, Field(pattern=r"^[0-9]{9}$")]
    office_id: int
    date: date
    session: str
    queue: str
    arrival_start: Clock
    arrival_end: Clock
    phone: str
    name: str | None
    procedure_id: int | None
    result_date: MaybeDay = Field(description="When the result is expected back (the procedure's working days "
                                                  "after the appointment); null when the procedure states none")
    channel: Channel
    status: BookingStatus
    created_at: Stamp

    @classmethod
    def of(cls, booking: Booking) -> BookingOut:
        return cls(code=booking.code, office_id=booking.office_id, date=booking.date, session=booking.session_code,
                   queue=booking.queue_label, arrival_start=booking.arrival_start, arrival_end=booking.arrival_end,
                   phone=booking.phone, name=booking.name, procedure_id=booking.procedure_id,
                   result_date=booking.result_date, channel=booking.channel, status=booking.status,
                   created_at=booking.created_at)


class WaitlistEntryOut(Model):
    id: int
    office_id: int
    date: date
    session: str
    phone: str
    status: WaitlistStatus
    ahead: int = Field(description="People waiting before this one when it joined.")
    created_at: Stamp

    @classmethod
    def of(cls, entry: WaitlistEntry, ahead: int) -> WaitlistEntryOut:
        return cls(id=entry.id, office_id=entry.office_id, date=entry.date, session=entry.session_code,
                   phone=entry.phone, status=entry.status, ahead=ahead, created_at=entry.created_at)


class OneWaitlistEntry(Model):
    entry: WaitlistEntryOut


class OneBooking(Model):
    booking: BookingOut

    @classmethod
    def of(cls, booking: Booking) -> OneBooking:
        return cls(booking=BookingOut.of(booking))


class Bookings(Model):
    bookings: list[BookingOut]


class SessionSettings(Model):
    date: date
    code: str
    capacity: int | None
    start_time: Seconds | None
    end_time: Seconds | None

    @classmethod
    def of(cls, override: SessionOverride) -> SessionSettings:
        return cls(date=override.date, code=override.code, capacity=override.capacity,
                   start_time=override.start_time, end_time=override.end_time)


class ChangedSession(Model):
    session: SessionSettings


class ClosureOut(Model):
    id: int
    start: date
    end: date
    reason: str


class AppointmentOut(Model):
    office_id: int
    date: date
    session: str
    queue: str
    arrival_start: Clock
    arrival_end: Clock

    @classmethod
    def of(cls, where: Appointment) -> AppointmentOut:
        return cls(office_id=where.office_id, date=where.date, session=where.session, queue=where.queue,
                   arrival_start=where.arrival_start, arrival_end=where.arrival_end)


class FateOut(Model):
    code: str
    outcome: Literal["kept", "cancelled", "moved"]
    was: AppointmentOut
    now: AppointmentOut | None = Field(description="Where a moved booking is now.")
    sms_at: Stamp | None = Field(description="When the person's text leaves (quiet hours wait unless the "
                                             "appointment is less than 12 hours away); null: no text.")

    @classmethod
    def of(cls, fate: Fate) -> FateOut:
        return cls(code=fate.code, outcome=fate.outcome.value, was=AppointmentOut.of(fate.was),
                   now=AppointmentOut.of(fate.now_at) if fate.now_at else None, sms_at=fate.notice_due)


class ClosurePlan(Model):
    """What a closure does (or, previewed, would do) to the people booked on its days."""

    disposition: Disposition
    affected: int = Field(description="Bookings on the closed days.")
    moved: int
    cannot_move: int = Field(description="With `move`: bookings no later session had room for, cancelled instead.")
    bookings: list[FateOut]
    fingerprint: str = Field(description="Send it back as `expect` to close only if nothing changed meanwhile.")

    @staticmethod
    def fields_of(outcome: ClosureOutcome) -> dict[str, Any]:
        return dict(disposition=outcome.disposition.value, affected=outcome.affected, moved=len(outcome.moved),
                    cannot_move=len(outcome.cannot_move), bookings=[FateOut.of(f) for f in outcome.fates],
                    fingerprint=outcome.fingerprint)

    @classmethod
    def of(cls, outcome: ClosureOutcome) -> ClosurePlan:
        return cls(**cls.fields_of(outcome))


class Closed(ClosurePlan):
    closure: ClosureOut

    @classmethod
    def made(cls, outcome: ClosureOutcome) -> Closed:
        assert outcome.closure_id is not None  # a closure made, not a preview
        return cls(closure=ClosureOut(id=outcome.closure_id, start=outcome.start, end=outcome.end,
                                      reason=outcome.reason), **cls.fields_of(outcome))


class ErrorMessage(Model):
    vi: str
    en: str


class ErrorDetail(Model):
    code: str
    field: str | Absent = None
    message: ErrorMessage


class Error(Model):
    """Every refusal: a stable code, the field at fault when there is one, the message in both languages."""

    error: ErrorDetail


