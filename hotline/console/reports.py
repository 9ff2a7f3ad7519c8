"""Reports for managers and administrators: a period's bookings, capacity, no-shows, SMS and calls, and quarterly CSV.

The figures come from `booking.reports`, `notifications.reports` and `hotline.ivr.call_reports`;
this module only decides who may see which offices, and draws the charts and tables. Calls reach
the province's one hotline, so their figures are the whole hotline's whichever office is chosen.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, flash, render_template, request
from flask_babel import format_date, format_decimal, format_percent, get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from wtforms import DateField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # WTForms 3.3; types-WTForms 3.2 lacks it
from wtforms.validators import DataRequired, NumberRange, Optional

from accounts.models import Role
from booking.models import Channel, Office
from booking.reports import (FIRST_YEAR, LAST_YEAR, BookingReport, FloorLine, FloorReport, InvalidPeriod, InvalidQuarter,
                             OfficeLine, Period, booking_report, floor_report, waitlist_outcomes)
from hotline import charts
from hotline.auth import roles_required
from hotline.console.campaigns import TARGET_STATES
from hotline.console.common import blueprint, csv_response, local_today, me, requested_office
from hotline.console.forms import in_range
from hotline.console.labels import CHANNELS, MESSAGE_KINDS, WAITLIST_STATES
from hotline.ivr.call_reports import CallReport, call_report
from hotline.ivr.models import CallOutcome
from hotline.runtime import runtime
from notifications.campaigns import outcomes_in as campaign_outcomes
from notifications.models import MessageKind
from notifications.reports import SmsCounts, SmsReport, sms_report

# One colour per channel whatever else is on the chart, so that IVR is always the same blue.
CHANNEL_COLOURS = {channel: charts.PALETTE[i] for i, channel in enumerate(Channel)}
SMS_COLOURS = {"delivered": "#009E73", "failed": "#D55E00", "awaiting": "#999999"}

CSV_COLUMNS = ["year", "quarter", "office_code", "office_name",
               *(f"bookings_{channel.value}" for channel in Channel), "bookings_total", "cancelled", "served",
               "no_shows", "no_show_rate", "capacity_offered", "seats_booked", "utilisation", "sms_sent",
               "sms_delivered", "sms_failed", "served_at_desk", "no_shows_at_desk", "walk_ins", "walk_ins_served",
               "mean_wait_seconds"]
PROVINCE_CODE = "PROVINCE"
CSV_HEADINGS = {
    "year": _l("Year"), "quarter": _l("Quarter"), "office_code": _l("Office code"), "office_name": _l("Office name"),
    "bookings_total": _l("Bookings in all"), "cancelled": _l("Cancelled"), "served": _l("Served"),
    "no_shows": _l("Did not come"), "no_show_rate": _l("Share who did not come"),
    "capacity_offered": _l("Seats offered"), "seats_booked": _l("Seats booked"), "utilisation": _l("Utilisation"),
    "sms_sent": _l("SMS sent"), "sms_delivered": _l("SMS delivered"), "sms_failed": _l("SMS failed"),
    "served_at_desk": _l("Served at a desk"), "no_shows_at_desk": _l("Did not come up when called"),
    "walk_ins": _l("Walk-in tickets"), "walk_ins_served": _l("Walk-ins served"),
    "mean_wait_seconds": _l("Average wait to the first call (seconds)"),
}


def csv_headings() -> list[str]:
    """The quarterly CSV's first row in the reader's language, column for column as CSV_COLUMNS."""
    by_channel = {f"bookings_{c.value}": gettext("Bookings: %(channel)s", channel=CHANNELS[c]) for c in Channel}
    return [by_channel.get(key) or str(CSV_HEADINGS[key]) for key in CSV_COLUMNS]


CALL_OUTCOMES = {
    CallOutcome.BOOKED: _l("Booked an appointment"),
    CallOutcome.CHECKED: _l("Checked a booking"),
    CallOutcome.CANCELLED: _l("Cancelled a booking"),
    CallOutcome.RESCHEDULED: _l("Moved a booking"),
    CallOutcome.CALLBACK: _l("Asked to be called back"),
    CallOutcome.TRANSFERRED: _l("Talked to an operator"),
    CallOutcome.HUNG_UP: _l("Hung up with nothing done"),
}


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False  # a GET report changes nothing

    start = DateField(_l("From"), validators=[Optional(), in_range])
    end = DateField(_l("To"), validators=[Optional(), in_range])
    office_id = SelectField(_l("Office"), choices=[], validate_choice=False)


class QuarterForm(FlaskForm):
    class Meta:
        csrf = False

    year = IntegerField(_l("Year"), validators=[DataRequired(), NumberRange(min=FIRST_YEAR, max=LAST_YEAR)])
    quarter = SelectField(_l("Quarter"), coerce=int, choices=[SelectChoice(n, str(n)) for n in range(1, 5)])
    office_id = SelectField(_l("Office"), choices=[], validate_choice=False)


@dataclass(frozen=True)
class Scope:
    """Which offices a report covers: `office_ids` None means the whole province."""

    office_ids: Collection[int] | None
    chosen: Office | None

    @property
    def province(self) -> bool:
        return self.office_ids is None


def _scope(raw: str | None) -> Scope:
    """The offices the signed-in user asked for and may see; 403 for anybody else's office."""
    principal = me()
    if raw:
        office = requested_office(raw)
        return Scope([office.id], office)
    if principal.role is Role.ADMIN:
        return Scope(None, None)
    return Scope(sorted(principal.office_ids), None)


def _office_choices() -> list[SelectChoice]:
    principal = me()
    query = select(Office.id, Office.code, Office.name, Office.name_en).order_by(Office.code)
    if principal.role is not Role.ADMIN:
        query = query.where(Office.id.in_(sorted(principal.office_ids)))
    with runtime().reading() as db:
        offices = db.execute(query).all()
    everyone = gettext("Whole province") if principal.role is Role.ADMIN else gettext("All my offices")
    return [SelectChoice("", everyone)] + [SelectChoice(str(o.id), f"{o.code} – {_name(o.name, o.name_en)}")
                                           for o in offices]


def _name(name: str, name_en: str | None) -> str:
    return name_en if name_en and str(get_locale()) == "en" else name


def _reports(scope: Scope, period: Period) -> tuple[BookingReport, SmsReport, FloorReport]:
    rt = runtime()
    start, end = period.bounds(rt.settings.tz)
    with rt.reading() as db:
        bookings = booking_report(db, office_ids=scope.office_ids, period=period, today=local_today())
        sms = sms_report(db, start=start, end=end, office_ids=scope.office_ids)
        floor = floor_report(db, office_ids=scope.office_ids, period=period)
    return bookings, sms, floor


def _calls(period: Period) -> CallReport:
    rt = runtime()
    with rt.reading() as db:
        return call_report(db, period=period, tz=rt.settings.tz)


# -- the page ---------------------------------------------------------------------------------------

def number(value: float) -> str:
    return str(format_decimal(value))


def duration(seconds: float | None) -> str:
    """Minutes and seconds, as a call centre counts them; a dash when there was nothing to measure."""
    if seconds is None:
        return "—"
    minutes, rest = divmod(round(seconds), 60)
    return gettext("%(minutes)s min %(seconds)s s", minutes=number(minutes), seconds=f"{rest:02d}")


def percent(value: float | None) -> str:
    """A rate in the reader's locale; a dash when there was nothing to measure."""
    return "—" if value is None else str(format_percent(value, "#,##0.0%"))


def _charts(bookings: BookingReport, sms: SmsReport) -> dict[str, Markup]:
    period = bookings.period
    days = [format_date(line.day, "dd/MM") for line in bookings.days]
    span = {"start": format_date(period.start, "dd/MM/yyyy"), "end": format_date(period.end, "dd/MM/yyyy")}
    channels = bookings.channels
    kinds = list(sms.by_kind)
    return {
        "bookings": charts.stacked_bars(
            chart_id="chart-bookings", title=gettext("Bookings per day and channel"),
            desc=gettext("Appointments booked for each day from %(start)s to %(end)s, stacked by the channel "
                         "they were booked through, including those cancelled since. The table after the chart "
                         "gives the same numbers.", **span),
            categories=days, x_label=gettext("Day of the appointment"), y_label=gettext("Bookings"),
            series=[charts.Series(str(CHANNELS[c]), [line.bookings.get(c, 0) for line in bookings.days],
                                  CHANNEL_COLOURS[c]) for c in channels],
            number=number, empty_text=gettext("No bookings in this period.")),
        "utilisation": charts.lines(
            chart_id="chart-utilisation", title=gettext("Utilisation of capacity per day"),
            desc=gettext("Seats booked as a share of the seats offered in the sessions held each day from "
                         "%(start)s to %(end)s; days without sessions have no point. The table after the chart "
                         "gives the same numbers.", **span),
            categories=days, x_label=gettext("Day of the appointment"), y_label=gettext("Utilisation"),
            series=[charts.Series(gettext("Utilisation"), [line.utilisation for line in bookings.days])],
            number=percent, axis_number=lambda v: str(format_percent(v, "#,##0%")), at_least=1.0,
            empty_text=gettext("No sessions in this period.")),
        "sms": charts.stacked_bars(
            chart_id="chart-sms", title=gettext("SMS by kind and outcome"),
            desc=gettext("Text messages written from %(start)s to %(end)s, by kind: delivered, failed, and "
                         "sent but not yet reported. The table after the chart gives the same numbers.", **span),
            categories=[str(MESSAGE_KINDS[k]) for k in kinds], x_label=gettext("Kind of message"),
            y_label=gettext("Messages"),
            series=[charts.Series(gettext("Delivered"), [sms.by_kind[k].delivered for k in kinds],
                                  SMS_COLOURS["delivered"]),
                    charts.Series(gettext("Failed"), [sms.by_kind[k].failed for k in kinds], SMS_COLOURS["failed"]),
                    charts.Series(gettext("Awaiting a delivery report"),
                                  [sms.by_kind[k].awaiting_report for k in kinds], SMS_COLOURS["awaiting"])],
            number=number, empty_text=gettext("No SMS in this period.")),
    }


def _period(form: PeriodForm, default: Period) -> Period | None:
    """The period asked for; None (with the reason flashed) when it cannot be reported on."""
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return None
    try:
        return Period.checked(form.start.data or default.start, form.end.data or default.end)
    except InvalidPeriod as exc:
        flash(exc.render(gettext), "error")
        return None


@blueprint.get("/reports")
@roles_required(Role.MANAGER)
def reports() -> tuple[str, int]:
    scope = _scope(request.args.get("office_id"))
    today = local_today()
    # The current month to today: what a manager asks first, and never an empty page on the 1st of a month
    # (today is in it) nor a period cut from two months.
    default = Period(today.replace(day=1), today)
    form = PeriodForm(request.args, start=default.start, end=default.end)
    form.office_id.choices = _office_choices()
    quarter = QuarterForm(formdata=None, year=today.year, quarter=(today.month - 1) // 3 + 1,
                          office_id=request.args.get("office_id", ""))
    quarter.office_id.choices = form.office_id.choices
    period = _period(form, default)
    context: dict[str, Any] = dict(form=form, quarter=quarter, scope=scope, number=number, percent=percent,
                                   duration=duration, office_name=_line_name, outcome_label=CALL_OUTCOMES)
    if period is None:
        return render_template("console/reports.html", **context), 400
    bookings, sms, floor = _reports(scope, period)
    nearly = sms.by_kind.get(MessageKind.NEARLY_TURN)
    with runtime().reading() as db:
        waitlisted = waitlist_outcomes(db, office_ids=scope.office_ids, start=period.start, end=period.end)
        start, end = period.bounds(runtime().settings.tz)
        called = campaign_outcomes(db, office_ids=scope.office_ids, start=start, end=end)
    return render_template("console/reports.html", bookings=bookings, sms=sms, calls=_calls(period),
                           charts=_charts(bookings, sms), waitlist=waitlisted, waitlist_label=WAITLIST_STATES,
                           campaigns=called if any(called.values()) else None, campaign_label=TARGET_STATES,
                           floor=floor, nearly_turn=nearly.sent if nearly else 0, desk_office=_desk_office(bookings),
                           **context), 200


def _desk_office(bookings: BookingReport) -> dict[int | None, str]:
    """Office codes by id, to name each desk's office in the per-desk table."""
    return {line.office_id: line.code for line in bookings.offices}


def _line_name(line: OfficeLine) -> str:
    return _name(line.name, line.name_en)


# -- quarterly CSV ----------------------------------------------------------------------------------

def _rate(value: float | None) -> str:
    """Machine-readable: a dot and four decimals, empty when there was nothing to measure."""
    return "" if value is None else f"{value:.4f}"


def csv_row(year: int, quarter: int, code: str, name: str, line: OfficeLine, sms: SmsCounts,
            floor: FloorLine) -> list[str | int]:
    wait = floor.mean_wait
    return [year, quarter, code, name, *(line.bookings.get(c, 0) for c in Channel), line.total,
            line.cancelled, line.served, line.no_shows, _rate(line.no_show_rate), line.capacity, line.seats_booked,
            _rate(line.utilisation), sms.sent, sms.delivered, sms.failed, floor.served_at_desk,
            floor.no_shows_at_desk, floor.walk_ins, floor.walk_ins_served, "" if wait is None else round(wait)]


def quarterly_rows(year: int, quarter: int, bookings: BookingReport, sms: SmsReport, floor: FloorReport,
                   *, province: bool) -> Sequence[list[str | int]]:
    rows = [csv_row(year, quarter, line.code, line.name, line, sms.for_office(line.office_id),
                    floor.offices.get(line.office_id or 0, FloorLine())) for line in bookings.offices]
    if province:
        # The province's SMS include those of no office (call-backs, province-wide notices).
        rows.append(csv_row(year, quarter, PROVINCE_CODE, gettext("Whole province"), bookings.total, sms.total,
                            floor.total))
    return rows


@blueprint.get("/reports/quarterly.csv")
@roles_required(Role.MANAGER)
def report_quarterly_csv() -> Response:
    scope = _scope(request.args.get("office_id"))
    form = QuarterForm(request.args)
    form.office_id.choices = []
    if not form.validate() or form.year.data is None:
        abort(400, description=InvalidQuarter(first=FIRST_YEAR, last=LAST_YEAR).render(gettext))
    year, quarter = form.year.data, form.quarter.data
    try:
        period = Period.quarter(year, quarter)
    except InvalidPeriod as exc:
        abort(400, description=exc.render(gettext))
    bookings, sms, floor = _reports(scope, period)
    suffix = "-" + re.sub(r"[^A-Za-z0-9_-]", "", scope.chosen.code) if scope.chosen else ""
    return csv_response(f"report-{year}-Q{quarter}{suffix}.csv", csv_headings(),
                        quarterly_rows(year, quarter, bookings, sms, floor, province=scope.province))
