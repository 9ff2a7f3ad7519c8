"""The call centre's figures for a period: calls, containment, hang-ups by state, transfers, time to book.

A call belongs to the period it started in (local dates, as `booking.reports.Period` bounds them).
Calls still going on (no status callback yet) are counted among the calls but in no outcome, so a
rate is over the calls that have ended.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from booking.reports import Period, ratio
from hotline.ivr.models import SELF_SERVICE, Call, CallOutcome


@dataclass(frozen=True)
class CallReport:
    period: Period
    calls: int  # started in the period, ended or not
    by_outcome: dict[CallOutcome, int]  # every outcome, zeros included
    hangups_by_state: list[tuple[str, int]]  # the most first
    booking_calls: int  # calls that made a booking, whatever they came to afterwards
    median_seconds_to_book: float | None
    median_duration_seconds: float | None

    @property
    def ended(self) -> int:
        return sum(self.by_outcome.values())

    @property
    def in_progress(self) -> int:
        return self.calls - self.ended

    @property
    def contained(self) -> int:
        """Calls that ended with something the caller did by themselves, without an operator."""
        return sum(n for outcome, n in self.by_outcome.items() if outcome in SELF_SERVICE)

    @property
    def containment_rate(self) -> float | None:
        return ratio(self.contained, self.ended)

    @property
    def transfers(self) -> int:
        return self.by_outcome[CallOutcome.TRANSFERRED]

    @property
    def hangups(self) -> int:
        return self.by_outcome[CallOutcome.HUNG_UP]


def call_report(db: Session, *, period: Period, tz: ZoneInfo) -> CallReport:
    start, end = period.bounds(tz)
    in_period = (Call.started_at >= start, Call.started_at < end)
    counts = {outcome: n for outcome, n in db.execute(
        select(Call.outcome, func.count()).where(*in_period).group_by(Call.outcome))}
    hangups = db.execute(select(Call.ended_in, func.count()).where(*in_period, Call.outcome == CallOutcome.HUNG_UP)
                         .group_by(Call.ended_in)).all()
    # Only the calls that booked (or ended) are read: a median needs the values, and SQLite has no percentile.
    to_book = [(booked - started).total_seconds() for started, booked in db.execute(
        select(Call.started_at, Call.booked_at).where(*in_period, Call.booked_at.is_not(None))) if booked]
    durations = [d for d in db.scalars(select(Call.duration_seconds).where(*in_period, Call.duration_seconds.is_not(None)))
                 if d is not None]
    return CallReport(
        period=period, calls=sum(counts.values()),
        by_outcome={outcome: counts.get(outcome, 0) for outcome in CallOutcome},
        hangups_by_state=sorted(((state or "", n) for state, n in hangups), key=lambda item: (-item[1], item[0])),
        booking_calls=len(to_book),
        median_seconds_to_book=statistics.median(to_book) if to_book else None,
        median_duration_seconds=statistics.median(durations) if durations else None)
