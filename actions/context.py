"""Who is acting, how we know it, and everything else an action is given explicitly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from accounts.models import Role
from booking.bookings import Actor as HistoryActor
from booking.models import Channel
from booking.policy import BookingPolicy
from notifications.policy import SmsPolicy
from notifications.texts import Localizer


class Proof(StrEnum):
    """How we know who somebody is. Only these make an identity; a number somebody typed never does."""

    CALLER_ID = "caller_id"  # Twilio's From on a call: a Vietnamese mobile the network presented
    SMS_SENDER = "sms_sender"  # the sender of an SMS the provider delivered
    NONE = "none"  # a withheld number, a landline or a foreign one: may use booking codes only
    STAFF = "staff"  # signed in to the console
    TOKEN = "token"  # an API token
    SYSTEM = "system"  # the scheduler, the command line


STAFF_PROOFS = frozenset({Proof.STAFF, Proof.TOKEN, Proof.SYSTEM})


@dataclass(frozen=True)
class Actor:
    """Somebody (or something) asking for an action, with what they may do.

    `phone` is a number this actor has *proved* is theirs (the caller ID of a call, the sender of
    an SMS): its bookings are theirs to list, cancel and move. A number typed during a call is a
    contact for the SMS and is never put here. Staff and tokens act within `role` and, for
    managers, `office_ids`. `holds_as` names whose holds this actor takes: a call's holds are the
    call's, an operator's are the operator's.
    """

    name: str  # what the booking history and the audit log record: "ivr:CA…", "user:lan", "token:crm"
    channel: Channel
    proof: Proof
    phone: str | None = None
    role: Role | None = None
    office_ids: frozenset[int] = frozenset()
    ip: str | None = None

    @classmethod
    def caller(cls, call_sid: str, *, verified_mobile: str | None) -> Actor:
        """A caller on the hotline; `verified_mobile` is the caller ID when it is a Vietnamese mobile."""
        proof = Proof.CALLER_ID if verified_mobile else Proof.NONE
        return cls(f"ivr:{call_sid}", Channel.IVR, proof, phone=verified_mobile)

    @classmethod
    def sms_sender(cls, mobile: str) -> Actor:
        return cls(f"sms:{mobile}", Channel.WEB, Proof.SMS_SENDER, phone=mobile)

    @classmethod
    def staff(cls, name: str, role: Role, office_ids: frozenset[int], *, ip: str | None = None,
              channel: Channel = Channel.OPERATOR) -> Actor:
        return cls(name, channel, Proof.STAFF, role=role, office_ids=office_ids, ip=ip)

    @classmethod
    def token(cls, name: str, role: Role, *, ip: str | None = None) -> Actor:
        return cls(name, Channel.API, Proof.TOKEN, role=role, ip=ip)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name, Channel.OPERATOR, Proof.SYSTEM, role=Role.ADMIN)

    @property
    def is_staff(self) -> bool:
        return self.proof in STAFF_PROOFS

    @property
    def holds_as(self) -> str:
        return self.name

    @property
    def history(self) -> HistoryActor:
        """The name and channel a booking's history records."""
        return HistoryActor(self.name, self.channel)

    def may_handle(self, office_id: int) -> bool:
        """Book, look at, move or cancel appointments at this office (staff): operators serve every
        office's callers, managers only their own offices'."""
        return self.is_staff and (self.role is not Role.MANAGER or office_id in self.office_ids)

    def may_manage(self, office_id: int) -> bool:
        """Change the office's capacity, sessions, closures; run its day and send its notices."""
        return self.is_staff and (self.role is Role.ADMIN or (self.role is Role.MANAGER
                                                              and office_id in self.office_ids))


@dataclass(frozen=True)
class Context:
    """Everything an action needs, passed explicitly: nothing is read from a request or a global."""

    db: Session
    actor: Actor
    now: datetime
    policy: BookingPolicy
    sms: SmsPolicy
    localizer: Callable[[str], Localizer] = field(repr=False)

    def loc(self, language: str) -> Localizer:
        return self.localizer(language)
