"""SMS statistics for a period: how many messages of each kind went out and how many arrived.

A message belongs to the office of its booking or of its broadcast; call-back acknowledgements
and province-wide broadcasts belong to no office and count only for the whole province.

"Sent" counts every message that left the queue with an outcome (accepted by the provider,
delivered, undelivered or failed); "failed" joins undelivered and failed. The delivery rate is
delivered / (delivered + failed): messages still waiting for a delivery report are left out
rather than counted as lost. A message counts for the channel it went by (Zalo or SMS), and one sent by
SMS because Zalo could not deliver it counts as well among `after_zalo`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from booking.models import Booking
from booking.reports import ratio
from notifications.models import Broadcast, MessageKind, MessageStatus, OutboxMessage

_PENDING = (MessageStatus.QUEUED, MessageStatus.HELD, MessageStatus.SENDING)
_FAILED = (MessageStatus.UNDELIVERED, MessageStatus.FAILED)
_SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, *_FAILED)


@dataclass
class SmsCounts:
    by_status: dict[MessageStatus, int] = field(default_factory=dict)

    def count(self, *statuses: MessageStatus) -> int:
        return sum(self.by_status.get(s, 0) for s in statuses)

    def add(self, status: MessageStatus, n: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + n

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def pending(self) -> int:
        return self.count(*_PENDING)

    @property
    def sent(self) -> int:
        return self.count(*_SENT)

    @property
    def awaiting_report(self) -> int:
        return self.count(MessageStatus.SENT)

    @property
    def delivered(self) -> int:
        return self.count(MessageStatus.DELIVERED)

    @property
    def failed(self) -> int:
        return self.count(*_FAILED)

    @property
    def cancelled(self) -> int:
        return self.count(MessageStatus.CANCELLED)

    @property
    def delivery_rate(self) -> float | None:
        return ratio(self.delivered, self.delivered + self.failed)


@dataclass(frozen=True)
class SmsReport:
    total: SmsCounts
    by_kind: dict[MessageKind, SmsCounts]  # only the kinds that occur, in the enum's order
    by_office: dict[int | None, SmsCounts]  # None: messages of no office
    by_channel: dict[str, SmsCounts] = field(default_factory=dict)  # "sms", "zalo": those that occur
    after_zalo: SmsCounts = field(default_factory=SmsCounts)  # went by SMS because Zalo could not deliver

    def for_office(self, office_id: int | None) -> SmsCounts:
        return self.by_office.get(office_id) or SmsCounts()


def sms_report(session: Session, *, start: datetime, end: datetime,
               office_ids: Collection[int] | None) -> SmsReport:
    """Messages created from `start` (included) to `end` (excluded) for `office_ids` (None: everyone).

    One grouped query; the outer joins only attribute each message to an office.
    """
    office = func.coalesce(Booking.office_id, Broadcast.office_id)
    after_zalo = OutboxMessage.zalo_error.is_not(None)
    query = (select(office, OutboxMessage.kind, OutboxMessage.status, OutboxMessage.channel, after_zalo, func.count())
             .select_from(OutboxMessage)
             .outerjoin(Booking, Booking.id == OutboxMessage.booking_id)
             .outerjoin(Broadcast, Broadcast.id == OutboxMessage.broadcast_id)
             .where(OutboxMessage.created_at >= start, OutboxMessage.created_at < end)
             .group_by(office, OutboxMessage.kind, OutboxMessage.status, OutboxMessage.channel, after_zalo))
    if office_ids is not None:
        query = query.where(office.in_(list(office_ids)))
    total = SmsCounts()
    kinds: dict[MessageKind, SmsCounts] = {}
    offices: dict[int | None, SmsCounts] = {}
    channels: dict[str, SmsCounts] = {}
    fallbacks = SmsCounts()
    for office_id, kind, status, channel, fallback, n in session.execute(query):
        total.add(status, n)
        kinds.setdefault(kind, SmsCounts()).add(status, n)
        offices.setdefault(office_id, SmsCounts()).add(status, n)
        channels.setdefault(channel, SmsCounts()).add(status, n)
        if fallback and channel == "sms":
            fallbacks.add(status, n)
    by_kind = {kind: kinds[kind] for kind in MessageKind if kind in kinds}
    return SmsReport(total=total, by_kind=by_kind, by_office=offices, by_channel=channels, after_zalo=fallbacks)
