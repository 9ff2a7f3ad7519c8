"""The office settings screens: the usual week, one date, crowd limit, reserves, closures, the province calendar."""

from __future__ import annotations

from datetime import date

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.models import AuditEntry
from booking import bookings, office_settings
from booking.availability import office_availability
from booking.models import (
    Booking, BookingStatus, CalendarDay, CalendarDayKind, Channel, ChannelReserve, Closure, Office, SessionOverride,
    SessionTemplate,
)
from notifications.models import MessageKind, OutboxMessage
from tests.console import csrf, login, signed_in
from tests.closure_pages import confirmation
from tests.console import app as app, client as client, offices as offices
from tests.factories import NOW, OPERATOR, POLICY

TUESDAY = date(2027, 3, 2)
SATURDAY = date(2027, 3, 6)


def _sign_in(client: FlaskClient, username: str) -> str:
    """Signs in, asks for English pages (flashed messages are asserted in English), returns a CSRF token."""
    return csrf(signed_in(client, username), "/console/lookup")


def _post(client: FlaskClient, db: Session, path: str, token: str, **data: object) -> tuple[int, str]:
    """POSTs a settings form; returns the status and the page it leads back to (with its flashed messages).

    The test's own read transaction ends first: on SQLite it would keep the app from writing.
    """
    db.rollback()
    response = client.post(path, data={"csrf_token": token, **{k: str(v) for k, v in data.items()}})
    if response.status_code != 302:
        return response.status_code, response.get_data(as_text=True)
    return 302, client.get(response.headers["Location"]).get_data(as_text=True)


def _sessions(db: Session, office_id: int, day: date) -> dict[str, tuple[int, str, str, int]]:
    db.rollback()
    office = db.get(Office, office_id)
    assert office is not None
    (planned,) = office_availability(db, office, day, day, now=NOW, policy=POLICY)
    db.rollback()  # no read transaction left open to block the app's writers on SQLite
    return {s.code: (s.capacity, s.start.isoformat("minutes"), s.end.isoformat("minutes"), s.booked)
            for s in planned.sessions}


def _audit(db: Session, action: str) -> AuditEntry:
    db.rollback()
    return db.scalars(select(AuditEntry).where(AuditEntry.action == action)).one()


def test_the_page_shows_the_usual_week_and_the_next_dates_in_vietnamese(client: FlaskClient,
                                                                         offices: tuple[int, int]) -> None:
    mine, _ = offices
    login(client, "hoa")
    page = client.get(f"/console/offices/{mine}/settings").get_data(as_text=True)
    assert "Thứ Hai" in page and "07:30" in page and "11:30" in page  # the template, with Babel's weekday names
    assert "Th 3 02/03/2027" in page  # Tuesday's date in the per-date table
    assert 'for="tpl-weekday"' in page and 'id="tpl-weekday"' in page  # every field has its own label
    assert " style=" not in page and "<script" not in page and "onclick" not in page


def test_a_new_weekly_session_is_offered_on_future_dates(client: FlaskClient, offices: tuple[int, int],
                                                         db: Session) -> None:
    mine, _ = offices
    assert "S" not in _sessions(db, mine, SATURDAY)
    token = _sign_in(client, "hoa")
    status, page = _post(client, db, f"/console/offices/{mine}/settings/template", token,
                         weekday=5, code="S", start="08:00", end="11:00", capacity=12)
    assert status == 302 and "Saved." in page
    assert _sessions(db, mine, SATURDAY)["S"] == (12, "08:00", "11:00", 0)
    entry = _audit(db, "template.set")
    assert entry.actor == "user:hoa" and entry.office_id == mine and entry.before is None
    assert entry.after == {"weekday": 5, "code": "S", "start_time": "08:00:00", "end_time": "11:00:00",
                           "capacity": 12}

    status, page = _post(client, db, f"/console/offices/{mine}/settings/template/remove", token, weekday=5, code="S")
    assert "S" not in _sessions(db, mine, SATURDAY)
    removed = _audit(db, "template.remove")
    assert removed.before is not None and removed.before["capacity"] == 12 and removed.after is None


def test_changing_one_dates_capacity(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone="+84912345678", actor=OPERATOR, now=NOW,
                  policy=POLICY)
    db.commit()
    token = _sign_in(client, "hoa")
    form = client.get(f"/console/offices/{mine}/settings?day={TUESDAY.isoformat()}&code=S").get_data(as_text=True)
    assert 'id="date-start" name="start" type="time" value="07:30"' in form  # filled in from the table's link
    # Sending the hours back unchanged is no change of hours, which a booked session would refuse.
    status, page = _post(client, db, f"/console/offices/{mine}/settings/date", token,
                         day=TUESDAY.isoformat(), code="S", capacity=8, start="07:30", end="11:30", note="Thêm cán bộ")
    assert status == 302 and "Saved." in page and "Thêm cán bộ" in page
    assert _sessions(db, mine, TUESDAY)["S"] == (8, "07:30", "11:30", 1)
    assert _sessions(db, mine, date(2027, 3, 9))["S"][0] == 3  # the next Tuesday keeps the usual week
    entry = _audit(db, "session.change")
    assert entry.before is not None and entry.after is not None
    assert (entry.before["capacity"], entry.after["capacity"]) == (3, 8)


def test_changing_one_dates_hours_keeps_the_other_end(client: FlaskClient, offices: tuple[int, int],
                                                      db: Session) -> None:
    mine, _ = offices
    token = _sign_in(client, "hoa")
    _post(client, db, f"/console/offices/{mine}/settings/date", token, day=TUESDAY.isoformat(), code="S", start="08:00")
    assert _sessions(db, mine, TUESDAY)["S"] == (3, "08:00", "11:30", 0)
    status, page = _post(client, db, f"/console/offices/{mine}/settings/date", token, day=TUESDAY.isoformat(),
                         code="S", start="12:00")
    assert status == 302 and "a session must start before it ends" in page
    assert _sessions(db, mine, TUESDAY)["S"] == (3, "08:00", "11:30", 0)


def test_setting_the_crowd_limit(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    token = _sign_in(client, "hoa")
    status, page = _post(client, db, f"/console/offices/{mine}/settings/crowd", token, crowd_limit=4, window_minutes=20)
    assert status == 302 and "Saved." in page
    db.rollback()
    office = db.get(Office, mine)
    assert office is not None and (office.crowd_limit, office.window_minutes) == (4, 20)
    entry = _audit(db, "office.crowd_limit")
    assert entry.before == {"crowd_limit": 10, "window_minutes": 30}
    assert entry.after == {"crowd_limit": 4, "window_minutes": 20}


def test_setting_a_channel_reserve(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    token = _sign_in(client, "hoa")
    status, page = _post(client, db, f"/console/offices/{mine}/settings/reserve", token, code="S",
                         channel="operator", seats=2, release_hours=2)
    assert status == 302 and "A change applies only to sessions not yet open for booking" in page
    db.rollback()
    reserve = db.scalars(select(ChannelReserve)).one()
    assert (reserve.office_id, reserve.session_code, reserve.channel, reserve.seats,
            reserve.release_minutes_before) == (mine, "S", Channel.OPERATOR, 2, 120)
    db.rollback()
    office = db.get(Office, mine)
    assert office is not None
    (tuesday,) = office_availability(db, office, TUESDAY, TUESDAY, now=NOW, policy=POLICY, channel=Channel.IVR)
    assert tuesday.sessions[0].reserved == 2 and tuesday.sessions[0].remaining == 1
    _post(client, db, f"/console/offices/{mine}/settings/reserve", token, code="S", channel="operator", seats=0,
          release_hours=2)
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "reserve.set").order_by(AuditEntry.id)).all()
    assert [e.before for e in entries] == [None, {"session_code": "S", "channel": "operator", "seats": 2,
                                                  "release_minutes_before": 120}]
    assert entries[1].after is not None and entries[1].after["seats"] == 0


def test_cancelling_one_dates_session_cancels_and_texts_the_bookings(client: FlaskClient, offices: tuple[int, int],
                                                                     db: Session) -> None:
    mine, _ = offices
    booking = bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone="+84912345678", actor=OPERATOR,
                            now=NOW, policy=POLICY)
    afternoon = bookings.book(db, office_id=mine, day=TUESDAY, code="C", phone="+84912345679", actor=OPERATOR,
                              now=NOW, policy=POLICY)
    db.commit()
    code = booking.code
    token = _sign_in(client, "hoa")
    status, page = _post(client, db, f"/console/offices/{mine}/settings/date/cancel", token, day=TUESDAY.isoformat(),
                         code="S", note="Mất điện", notify="y")
    assert status == 302 and "1 appointments affected" in page
    db.rollback()
    assert db.scalars(select(Booking.status).where(Booking.code == code)).one() is BookingStatus.CANCELLED
    assert db.scalars(select(Booking.status).where(Booking.code == afternoon.code)).one() is BookingStatus.BOOKED
    sms = db.scalars(select(OutboxMessage)).one()
    assert (sms.kind, sms.recipient) == (MessageKind.CANCELLATION, "+84912345678") and code in sms.body
    assert set(_sessions(db, mine, TUESDAY)) == {"C"}
    entry = _audit(db, "session.cancel")
    assert entry.before is not None and entry.before["booked"] == 1 and entry.before["in_plan"] is True
    assert entry.after is not None and entry.after["bookings"] == [code] and entry.after["in_plan"] is False
    assert "Mất điện" in page  # the cancelled session is listed with its note, to be held again

    _post(client, db, f"/console/offices/{mine}/settings/date", token, day=TUESDAY.isoformat(), code="S")
    assert set(_sessions(db, mine, TUESDAY)) == {"S", "C"}


def test_cancelling_without_notice_leaves_the_bookings_to_the_manager(client: FlaskClient,
                                                                      offices: tuple[int, int],
                                                                      db: Session) -> None:
    mine, _ = offices
    bookings.book(db, office_id=mine, day=TUESDAY, code="S", phone="+84912345678", actor=OPERATOR, now=NOW,
                  policy=POLICY)
    db.commit()
    token = _sign_in(client, "hoa")
    status, page = _post(client, db, f"/console/offices/{mine}/settings/date/cancel", token, day=TUESDAY.isoformat(),
                         code="S")
    assert status == 302 and "still booked" in page
    db.rollback()
    assert db.scalars(select(Booking.status)).one() is BookingStatus.BOOKED
    assert db.scalars(select(OutboxMessage)).all() == []
    assert db.scalars(select(SessionOverride.cancelled)).one() is True


def test_closing_from_the_settings_page_and_reopening(client: FlaskClient, offices: tuple[int, int],
                                                      db: Session) -> None:
    mine, _ = offices
    token = _sign_in(client, "hoa")
    # The form shows what the closure would do first (nothing is written); its button closes the office.
    preview = client.post(f"/console/offices/{mine}/settings/closures", data={
        "csrf_token": token, "start": "2027-03-03", "end": "2027-03-04", "reason": "Bão số 3"})
    assert preview.status_code == 200 and "People booked on those days" in preview.get_data(as_text=True)
    db.rollback()
    assert db.scalars(select(Closure)).all() == []
    db.rollback()
    response = client.post(f"/console/offices/{mine}/settings/closures",
                           data=confirmation(preview.get_data(as_text=True)))
    assert response.headers["Location"].endswith(f"/console/offices/{mine}/settings#closures")
    db.rollback()
    closure = db.scalars(select(Closure)).one()
    assert (closure.office_id, closure.start_date, closure.reason) == (mine, date(2027, 3, 3), "Bão số 3")
    assert _sessions(db, mine, date(2027, 3, 3)) == {}
    status, page = _post(client, db, f"/console/offices/{mine}/settings/closures/{closure.id}/reopen", token)
    assert status == 302 and "Reopened." in page
    db.rollback()
    assert db.scalars(select(Closure)).all() == []
    assert set(_sessions(db, mine, date(2027, 3, 3))) == {"S", "C"}
    entry = _audit(db, "office.reopen")
    assert entry.before is not None and entry.before["reason"] == "Bão số 3" and entry.after is None


def test_a_manager_cannot_lift_a_province_wide_closure(client: FlaskClient, offices: tuple[int, int],
                                                       db: Session) -> None:
    mine, _ = offices
    closure, _ = office_settings.close(db, office_id=None, start=TUESDAY, end=TUESDAY, reason="Quốc tang",
                                       actor="user:admin", now=NOW)
    db.commit()
    token = _sign_in(client, "hoa")
    status, page = _post(client, db, f"/console/offices/{mine}/settings/closures/{closure.id}/reopen", token)
    assert status == 302 and "Not found." in page
    db.rollback()
    assert len(db.scalars(select(Closure)).all()) == 1


def _posts(mine: int, closure_id: int = 1) -> list[str]:
    base = f"/console/offices/{mine}/settings"
    return [f"{base}/template", f"{base}/template/remove", f"{base}/date", f"{base}/date/cancel", f"{base}/crowd",
            f"{base}/reserve", f"{base}/closures", f"{base}/closures/{closure_id}/reopen"]


def test_an_operator_may_change_nothing(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, _ = offices
    token = _sign_in(client, "lan")
    assert client.get(f"/console/offices/{mine}/settings").status_code == 403
    assert client.get("/console/calendar").status_code == 403
    for path in [*_posts(mine), "/console/calendar", "/console/calendar/2027-03-05/remove"]:
        assert client.post(path, data={"csrf_token": token, "weekday": "0", "code": "S", "start": "08:00",
                                       "end": "09:00", "capacity": "1", "day": "2027-03-05"}).status_code == 403, path
    db.rollback()
    assert db.scalars(select(AuditEntry)).all() == []


def test_a_manager_stays_within_their_office(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    mine, other = offices
    closure, _ = office_settings.close(db, office_id=other, start=TUESDAY, end=TUESDAY, reason="Sửa trụ sở",
                                       actor="user:admin", now=NOW)
    db.commit()
    token = _sign_in(client, "hoa")
    assert client.get(f"/console/offices/{mine}/settings").status_code == 200
    assert client.get(f"/console/offices/{other}/settings").status_code == 403
    assert client.get("/console/calendar").status_code == 403
    for path in _posts(other, closure.id):
        assert client.post(path, data={"csrf_token": token, "weekday": "0", "code": "S", "start": "08:00",
                                       "end": "09:00", "capacity": "1"}).status_code == 403, path
    # Nor through their own office's address.
    _post(client, db, f"/console/offices/{mine}/settings/closures/{closure.id}/reopen", token)
    db.rollback()
    assert db.scalars(select(Closure)).one().id == closure.id
    assert db.scalars(select(AuditEntry)).all() == []


def test_a_change_without_its_csrf_token_is_refused(client: FlaskClient, offices: tuple[int, int],
                                                    db: Session) -> None:
    mine, _ = offices
    _sign_in(client, "admin")
    for path in [*_posts(mine), "/console/calendar", "/console/calendar/2027-03-05/remove"]:
        assert client.post(path, data={"weekday": "5", "code": "S", "start": "08:00", "end": "09:00",
                                       "capacity": "1", "day": "2027-03-05", "kind": "day_off"}).status_code == 400
    assert client.get(f"/console/offices/{mine}/settings/crowd").status_code == 405
    db.rollback()
    assert db.scalars(select(SessionTemplate).where(SessionTemplate.weekday == 5)).all() == []
    assert db.scalars(select(AuditEntry)).all() == []


def test_the_admin_records_and_removes_a_province_day(client: FlaskClient, offices: tuple[int, int],
                                                      db: Session) -> None:
    mine, other = offices
    token = _sign_in(client, "admin")
    assert client.get(f"/console/offices/{other}/settings").status_code == 200
    status, page = _post(client, db, "/console/calendar", token, day="2027-03-05", kind="day_off", works_as="",
                         note="Nghỉ bù")
    assert status == 302 and "Nghỉ bù" in page and "Friday 05/03/2027" in page
    assert _sessions(db, mine, date(2027, 3, 5)) == {} and _sessions(db, other, date(2027, 3, 5)) == {}
    status, page = _post(client, db, "/console/calendar", token, day=SATURDAY.isoformat(), kind="working_day",
                         works_as="4", note="Làm bù")
    assert set(_sessions(db, mine, SATURDAY)) == {"S", "C"}  # the Friday sessions
    db.rollback()
    saturday = db.get(CalendarDay, SATURDAY)
    assert saturday is not None and (saturday.kind, saturday.works_as_weekday) == (CalendarDayKind.WORKING_DAY, 4)
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "calendar.set").order_by(AuditEntry.id)).all()
    assert [(e.before, e.after and e.after["kind"]) for e in entries] == [(None, "day_off"), (None, "working_day")]

    status, page = _post(client, db, "/console/calendar/2027-03-05/remove", token)
    assert status == 302 and "Removed." in page
    assert set(_sessions(db, mine, date(2027, 3, 5))) == {"S", "C"}
    db.rollback()
    assert [d.date for d in db.scalars(select(CalendarDay))] == [SATURDAY]
    removed = _audit(db, "calendar.remove")
    assert removed.before is not None and removed.before["note"] == "Nghỉ bù" and removed.after is None


INVALID_SETTINGS: list[tuple[str, dict[str, object], str]] = [
    ("template", {"weekday": 0, "code": "S", "start": "11:00", "end": "08:00", "capacity": 5},
     "a session must start before it ends"),
    ("template", {"weekday": 0, "code": "S", "start": "08:00", "end": "11:00", "capacity": -1},
     "a capacity of 0 or more"),
    ("template", {"weekday": 9, "code": "S", "start": "08:00", "end": "11:00", "capacity": 5}, "Not a valid choice"),
    ("template", {"weekday": "x", "code": "S", "start": "08:00", "end": "11:00", "capacity": 5}, "Weekday"),
    ("template", {"weekday": 0, "code": "Q", "start": "8h", "end": "", "capacity": "nhiều"}, "Capacity"),
    ("template", {"weekday": 0, "code": "S", "start": "08:00", "end": "11:00", "capacity": 10**12}, "Capacity"),
    ("template/remove", {"weekday": 0, "code": "s"}, "Invalid input"),
    ("template/remove", {"weekday": 6, "code": "S"}, "Not found."),
    ("date", {"day": "2027-02-30", "code": "S", "capacity": 5}, "Date"),
    ("date", {"day": TUESDAY.isoformat(), "code": "S", "capacity": -3}, "capacity must be 0 or more"),
    ("date", {"day": TUESDAY.isoformat(), "code": "S", "start": "10:00", "end": "09:00"},
     "a session must start before it ends"),
    ("date/cancel", {"day": "", "code": "S"}, "Date"),
    ("crowd", {"crowd_limit": 0}, "the crowd limit must be at least 1"),
    ("crowd", {"crowd_limit": 5, "window_minutes": 1000}, "an arrival window lasts 5 to 240 minutes"),
    ("reserve", {"code": "S", "channel": "pigeon", "seats": 1, "release_hours": 1}, "Channel"),
    ("reserve", {"code": "S", "channel": "ivr", "seats": -1, "release_hours": 1}, "0 or more"),
    ("closures", {"start": "2027-03-05", "end": "2027-03-03", "reason": "Bão"}, "The last date is before the first."),
    ("closures", {"start": "2027-03-03", "end": "2027-03-05", "reason": ""}, "Reason"),
]


def test_invalid_settings_are_flashed_and_change_nothing(client: FlaskClient, offices: tuple[int, int],
                                                         db: Session) -> None:
    mine, _ = offices
    token = _sign_in(client, "hoa")  # one sign-in for every case: hashing passwords is what costs here
    for path, data, message in INVALID_SETTINGS:
        status, page = _post(client, db, f"/console/offices/{mine}/settings/{path}", token, **data)
        assert status == 302 and 'class="flash error"' in page and message in page, (path, data)
    db.rollback()
    assert db.scalars(select(AuditEntry)).all() == []
    assert db.scalars(select(SessionOverride)).all() == [] and db.scalars(select(Closure)).all() == []
    assert len(db.scalars(select(SessionTemplate).where(SessionTemplate.office_id == mine)).all()) == 10


def test_invalid_calendar_days_are_flashed(client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    token = _sign_in(client, "admin")
    for data in ({"day": "2027-13-01", "kind": "day_off"}, {"day": "2027-03-05", "kind": "holiday"},
                 {"day": "2027-03-06", "kind": "working_day", "works_as": "7"},
                 {"day": "2027-03-06", "kind": "working_day", "works_as": "Thứ Hai"}):
        status, page = _post(client, db, "/console/calendar", token, **data)
        assert status == 302 and 'class="flash error"' in page, data
    assert client.post("/console/calendar/someday/remove", data={"csrf_token": token}).status_code == 404
    status, page = _post(client, db, "/console/calendar/2027-03-05/remove", token)
    assert status == 302 and "Not found." in page
    db.rollback()
    assert db.scalars(select(CalendarDay)).all() == [] and db.scalars(select(AuditEntry)).all() == []


def test_a_day_off_or_a_removed_weekly_session_says_who_is_still_booked(
        client: FlaskClient, offices: tuple[int, int], db: Session) -> None:
    """Their sessions close, their bookings stay: the page says how many people are left to cancel or move."""
    mine, other = offices
    for office_id, n in ((mine, 1), (mine, 2), (other, 3)):
        bookings.book(db, office_id=office_id, day=TUESDAY, code="S", phone=f"+8491234567{n}", actor=OPERATOR,
                      now=NOW, policy=POLICY)
    db.commit()
    token = _sign_in(client, "admin")
    status, page = _post(client, db, "/console/calendar", token, day=TUESDAY.isoformat(), kind="day_off",
                         note="Nghỉ bù")
    assert status == 302 and "Saved. 3 people are booked on this day (at 2 offices)" in page
    _post(client, db, f"/console/calendar/{TUESDAY.isoformat()}/remove", token)

    status, page = _post(client, db, f"/console/offices/{mine}/settings/template/remove", token, weekday=1, code="S")
    assert status == 302 and "Removed. 2 people booked on those dates keep their appointments" in page
    db.rollback()
    assert [b.status for b in db.scalars(select(Booking))] == [BookingStatus.BOOKED] * 3
    status, page = _post(client, db, f"/console/offices/{mine}/settings/template/remove", token, weekday=2, code="S")
    assert "Removed." in page and "people booked" not in page  # nobody booked on Wednesdays
