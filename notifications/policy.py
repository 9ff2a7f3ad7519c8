"""How messages are written and when they may go: brandname, diacritics, the number to call, quiet hours, urgency."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.models import MessageKind
from notifications.sms import size_of, without_diacritics


@dataclass(frozen=True)
class SmsPolicy:
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    brandname: str = ""  # shown before each text, e.g. "UBND CA MAU"
    hotline: str = "1022"  # the number the texts ask people to call
    replies: bool = False  # the provider delivers replies, so texts may offer reply keywords
    fit_segments: int = 2  # what a confirmation or reminder is fitted into (notifications.texts.fit)
    # "keep" sends Vietnamese with its diacritics (UCS-2); "strip" always sends plain letters
    # (GSM-7); "auto" strips only a text that would otherwise take more than `max_segments`.
    diacritics: str = "keep"
    max_segments: int = 3
    quiet_start: time = time(21, 0)
    quiet_end: time = time(7, 0)
    # Answers to something the person just did go at once; reminders and broadcasts wait.
    urgent_kinds: frozenset[MessageKind] = frozenset(
        {MessageKind.CLOSURE, MessageKind.CONFIRMATION, MessageKind.CANCELLATION, MessageKind.MOVE,
         MessageKind.CALLBACK_ACK})

    def __post_init__(self) -> None:
        if self.diacritics not in ("keep", "strip", "auto"):
            raise ValueError("diacritics must be keep, strip or auto")

    def text(self, body: str) -> str:
        """The text as it will be sent: with the brandname, and plain letters if the policy says so."""
        full = f"{self.brandname}: {body}" if self.brandname else body
        if self.diacritics == "strip" or (self.diacritics == "auto" and size_of(full).segments > self.max_segments):
            return without_diacritics(full)
        return full

    def fits(self, body: str) -> bool:
        """Whether `body`, sent as this policy sends it (brandname, diacritics), costs at most `fit_segments`."""
        return size_of(self.text(body)).segments <= self.fit_segments

    def is_urgent(self, kind: MessageKind) -> bool:
        return kind in self.urgent_kinds

    def in_quiet_hours(self, moment: datetime) -> bool:
        local = moment.astimezone(self.timezone).time()
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end

    def due(self, moment: datetime, *, urgent: bool) -> datetime:
        """When a message asked for at `moment` may go: at once if urgent, else after quiet hours."""
        if urgent or not self.in_quiet_hours(moment):
            return moment
        local = moment.astimezone(self.timezone)
        morning = datetime.combine(local.date(), self.quiet_end, self.timezone)
        if morning <= local:
            morning += timedelta(days=1)
        return morning
