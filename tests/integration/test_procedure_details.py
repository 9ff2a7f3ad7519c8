"""What citizens read about a procedure (issue 13): the catalogue's checks, the administrators' page, and the
date a booking's result is expected back, set wherever the booking's date is set. Both engines."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from accounts.models import Role
from actions import bookings as actions
from actions.context import Actor, Context
from actions.models import AuditEntry
from actions.offices import Disposition, Outcome, close_office
from booking.calendar import result_date
from booking.errors import InvalidSettings
from booking.models import Booking, CalendarDay, CalendarDayKind, Procedure
from booking.procedures import ProcedureDetails, create_procedure, update_procedure
from notifications.policy import SmsPolicy
from tests.console import csrf, signed_in
from tests.console import app as app, client as client, offices as offices
from tests.factories import NOW, POLICY, make_office, make_procedure, phone
from tests.outbox import PlainLocalizer

TUESDAY, WEDNESDAY, THURSDAY, FRIDAY = (date(2027, 3, d) for d in range(2, 6))
BIRTH = ProcedureDetails(
    code="HT-KHAISINH", name="Đăng ký khai sinh", field="Hộ tịch", at_commune=True,
    documents="Tờ khai đăng ký khai sinh\r\n\r\n  Giấy chứng sinh  \nCCCD của người đi đăng ký\n",
    documents_short="CCCD, tờ khai, giấy chứng sinh", fee_vnd=0, fee_note="miễn lệ phí khi đăng ký đúng hạn",
    processing_days=0, online_url="https://dichvucong.gov.vn", by_post=True, national_code="1.001193")


def _fetch(db: Session, query: Select[Any]) -> list[Any]:
    """Rows as the app committed them, with no transaction left open (SQLite would lock the app out)."""
    db.rollback()
    db.expire_all()
    rows = list(db.scalars(query))
    db.expunge_all()
    db.rollback()
    return rows


# -- the catalogue's checks --------------------------------------------------------------------------

def test_a_procedure_keeps_what_citizens_read(db: Session) -> None:
    procedure = create_procedure(db, details=BIRTH)
    assert procedure.documents == "Tờ khai đăng ký khai sinh\nGiấy chứng sinh\nCCCD của người đi đăng ký"
    assert (procedure.documents_short, procedure.fee_vnd, procedure.fee_note, procedure.processing_days) == (
        "CCCD, tờ khai, giấy chứng sinh", 0, "miễn lệ phí khi đăng ký đúng hạn", 0)
    assert (procedure.online_url, procedure.by_post, procedure.national_code) == (
        "https://dichvucong.gov.vn", True, "1.001193")
    changed = update_procedure(db, procedure_id=procedure.id, details=replace(
        BIRTH, fee_vnd=None, processing_days=None, online_url=" ", national_code="", documents_en=""))
    assert (changed.fee_vnd, changed.processing_days, changed.online_url, changed.national_code,
            changed.documents_en) == (None, None, None, None, None)


@pytest.mark.parametrize(("change", "said"), [
    ({"fee_vnd": -1}, "the fee is 0"),
    ({"processing_days": -1}, "0 to 365 working days"),
    ({"processing_days": 366}, "0 to 365 working days"),
    ({"online_url": "http://dichvucong.gov.vn"}, "https://"),
    ({"online_url": "javascript:alert(1)"}, "https://"),
    ({"online_url": "https://"}, "https://"),
    ({"online_url": "https://dich vu.gov.vn"}, "https://"),
    ({"online_url": "https://user:pw@dichvucong.gov.vn"}, "https://"),
    ({"online_url": "https://dichvucong.gov.vn/" + "a" * 300}, "online address"),
    ({"documents": "Tờ khai\x00"}, "documents: the character U+0000"),
    ({"documents_short": "x" * 121}, "documents in short: too long"),
    ({"fee_note": "x" * 201}, "fee note: too long"),
    ({"national_code": "1.001 193"}, "national procedure code"),
])
def test_a_procedure_with_impossible_details_is_refused(db: Session, change: dict[str, Any], said: str) -> None:
    with pytest.raises(InvalidSettings) as refused:
        create_procedure(db, details=replace(BIRTH, **change))
    assert said in str(refused.value)
    assert db.scalars(select(Procedure)).all() == []


# -- the administrators' page ------------------------------------------------------------------------

def test_the_administrator_edits_every_detail_on_the_procedure_page(client: FlaskClient, db: Session,
                                                                    offices: tuple[int, int]) -> None:
    admin = signed_in(client, "admin")
    procedure_id = make_procedure(db, code="CT-BANSAO", name="Cấp bản sao từ sổ gốc", field="Chứng thực").id
    db.commit()
    page = f"/console/admin/procedures/{procedure_id}"
    token = csrf(admin, page)
    base = {"csrf_token": token, "code": "CT-BANSAO", "field": "Chứng thực", "name": "Cấp bản sao từ sổ gốc",
            "at_commune": "y", "active": "y"}
    refused = admin.post(page, data=base | {"fee_vnd": "hai nghìn"})
    assert refused.status_code == 200 and "Type the fee in dong" in refused.get_data(as_text=True)
    refused = admin.post(page, data=base | {"online_url": "http://dichvucong.gov.vn"})
    assert refused.status_code == 200 and "https://" in refused.get_data(as_text=True)
    refused = admin.post(page, data=base | {"processing_days": "400"})
    assert refused.status_code == 200
    saved = admin.post(page, data=base | {
        "documents": "Bản chính giấy tờ cần sao\r\nCCCD\r\n\r\n", "documents_en": "The original\nID card",
        "documents_short": "bản chính, CCCD", "documents_short_en": "the original, ID card",
        "fee_vnd": "1.500.000 đ", "fee_note": "theo số trang", "processing_days": "2",
        "online_url": "https://dichvucong.gov.vn", "by_post": "y", "national_code": "2.000815"})
    assert saved.status_code == 302
    (stored,) = _fetch(db, select(Procedure).where(Procedure.id == procedure_id))
    assert (stored.documents, stored.documents_en) == ("Bản chính giấy tờ cần sao\nCCCD", "The original\nID card")
    assert (stored.documents_short, stored.documents_short_en) == ("bản chính, CCCD", "the original, ID card")
    assert (stored.fee_vnd, stored.fee_note, stored.processing_days) == (1_500_000, "theo số trang", 2)
    assert (stored.online_url, stored.by_post, stored.national_code) == ("https://dichvucong.gov.vn", True, "2.000815")
    (audited,) = _fetch(db, select(AuditEntry).where(AuditEntry.action == "procedure.update"))
    assert audited.before is not None and audited.after is not None
    assert (audited.before["fee_vnd"], audited.after["fee_vnd"], audited.after["processing_days"]) == (
        None, 1_500_000, 2)
    # The form shows the fee as Vietnamese write it, and the documents one a line.
    form = admin.get(page).get_data(as_text=True)
    assert re.search(r'name="fee_vnd"[^>]*value="1\.500\.000"', form)
    assert "Bản chính giấy tờ cần sao\nCCCD</textarea>" in form
    listing = admin.get("/console/admin/procedures").get_data(as_text=True)
    assert "Online" in listing and "1,500,000" in listing  # the list reads in the reader's language (English)


def test_only_administrators_edit_procedures(client: FlaskClient, db: Session, offices: tuple[int, int]) -> None:
    procedure_id = make_procedure(db).id
    db.commit()
    operator = signed_in(client, "lan")
    assert operator.get(f"/console/admin/procedures/{procedure_id}").status_code == 403


# -- the result date -----------------------------------------------------------------------------------

def _ctx(db: Session, actor: Actor) -> Context:
    return Context(db=db, actor=actor, now=NOW, policy=POLICY, sms=SmsPolicy(), localizer=PlainLocalizer)


def test_result_date_counts_the_provinces_make_up_saturday_and_days_off(db: Session) -> None:
    # 2027: a bridge day off on Thursday 11/2 after Tết, and Saturday 20/2 worked as a Monday.
    db.add_all([CalendarDay(date=date(2027, 2, 11), kind=CalendarDayKind.DAY_OFF, note="Nghỉ bù"),
                CalendarDay(date=date(2027, 2, 20), kind=CalendarDayKind.WORKING_DAY, works_as_weekday=0,
                            note="Làm bù")])
    db.flush()
    assert result_date(db, date(2027, 2, 3), None) is None
    assert result_date(db, date(2027, 2, 3), 0) == date(2027, 2, 3)
    assert result_date(db, date(2027, 2, 3), 1) == date(2027, 2, 12)  # Tết 4-10/2, then the bridge day
    assert result_date(db, date(2027, 2, 3), 7) == date(2027, 2, 20)  # 12, 15 … 19 and the Saturday
    assert result_date(db, date(2027, 2, 3), 8) == date(2027, 2, 22)


def test_a_booking_knows_its_result_date_when_booked_and_moved(db: Session) -> None:
    office = make_office(db)
    three_days = make_procedure(db, processing_days=3)
    unstated = make_procedure(db)
    operator = Actor.staff("user:lan", Role.OPERATOR, frozenset())
    booking = actions.book(_ctx(db, operator), office_id=office.id, day=TUESDAY, code="S", phone=phone(1),
                           language="vi", procedure_id=three_days.id)
    assert booking.result_date == FRIDAY
    moved = actions.move(_ctx(db, operator), code=booking.code, office_id=office.id, day=THURSDAY, session_code="C")
    assert moved.result_date == date(2027, 3, 9)  # Thursday + Friday, Monday, Tuesday
    other = actions.book(_ctx(db, operator), office_id=office.id, day=TUESDAY, code="S", phone=phone(2),
                         language="vi", procedure_id=unstated.id)
    assert other.result_date is None


def test_a_booking_confirmed_from_a_hold_knows_its_result_date(db: Session) -> None:
    office = make_office(db)
    same_day = make_procedure(db, processing_days=0)
    caller = Actor.caller("CA" + "2" * 32, verified_mobile=phone(3))
    held = actions.hold(_ctx(db, caller), office_id=office.id, day=WEDNESDAY, code="C", contact=phone(3))
    booking = actions.confirm(_ctx(db, caller), hold_id=held.id, language="vi", procedure_id=same_day.id)
    assert booking.result_date == WEDNESDAY


def test_a_booking_moved_by_a_closure_gets_a_new_result_date(db: Session) -> None:
    office = make_office(db)
    two_days = make_procedure(db, processing_days=2)
    operator = Actor.staff("user:lan", Role.OPERATOR, frozenset())
    booking = actions.book(_ctx(db, operator), office_id=office.id, day=THURSDAY, code="S", phone=phone(4),
                           language="vi", procedure_id=two_days.id)
    assert booking.result_date == date(2027, 3, 8)
    manager = Actor.staff("user:minh", Role.MANAGER, frozenset({office.id}))
    (fate,) = close_office(_ctx(db, manager), office_id=office.id, start=THURSDAY, end=THURSDAY, reason="Bão",
                           disposition=Disposition.MOVE).fates
    assert fate.outcome is Outcome.MOVED
    db.refresh(booking)
    assert (booking.date, booking.result_date) == (FRIDAY, date(2027, 3, 9))


def test_the_console_shows_the_result_date_documents_and_fee(client: FlaskClient, db: Session,
                                                            offices: tuple[int, int]) -> None:
    mine, _ = offices
    procedure = make_procedure(db, processing_days=3, documents="Tờ khai\nCCCD", fee_vnd=2000,
                               fee_note="mỗi trang")
    booking = actions.book(_ctx(db, Actor.system()), office_id=mine, day=TUESDAY, code="S", phone=phone(5),
                           language="vi", procedure_id=procedure.id)
    code = booking.code
    db.commit()
    page = signed_in(client, "lan").get(f"/console/bookings/{code}").get_data(as_text=True)
    assert re.search(r"Result expected on</dt><dd[^>]*>Friday, March 5, 2027<", page)
    assert "<li>Tờ khai</li><li>CCCD</li>" in page
    assert "₫2,000" in page and "mỗi trang" in page
    (stored,) = _fetch(db, select(Booking).where(Booking.code == code))
    assert stored.result_date == FRIDAY


def test_every_demo_procedure_passes_the_catalogues_checks(db: Session) -> None:
    from actions.demo import DETAILS, PROCEDURES

    for code, name, name_en, field, field_en, at_province, at_commune in PROCEDURES:
        details = DETAILS[code]
        assert details["documents"] and details["documents_short"] and details["documents_en"], code
        create_procedure(db, details=ProcedureDetails(code=code, name=name, name_en=name_en, field=field,
                                                      field_en=field_en, at_province=at_province,
                                                      at_commune=at_commune, **details))
    assert set(DETAILS) == {row[0] for row in PROCEDURES}


def test_the_demo_fills_in_the_details_of_a_catalogue_loaded_before_them(db: Session) -> None:
    from actions.demo import load_demo

    load_demo(db, now=NOW)
    birth = db.scalars(select(Procedure).where(Procedure.code == "HT-KHAISINH")).one()
    assert (birth.fee_vnd, birth.processing_days, birth.online_url) == (0, 0, "https://dichvucong.gov.vn")
    copies = db.scalars(select(Procedure).where(Procedure.code == "CT-BANSAO")).one()
    copies.documents, copies.processing_days = "", None  # as migration 0009 leaves a catalogue
    mine = db.scalars(select(Procedure).where(Procedure.code == "TP-LYLICH")).one()
    mine.fee_vnd = 150_000  # an administrator's change
    db.flush()
    load_demo(db, now=NOW)
    assert (copies.fee_vnd, copies.processing_days) == (2_000, 0)
    assert mine.fee_vnd == 150_000


def test_the_api_gives_a_bookings_result_date_and_a_new_one_when_moved(client: FlaskClient, db: Session) -> None:
    from accounts.tokens import issue_token

    office_id = make_office(db).id
    procedure_id = make_procedure(db, processing_days=3).id
    unstated_id = make_procedure(db).id
    _, secret = issue_token(db, name="portal", role=Role.OPERATOR, created_by="test", now=NOW)
    db.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    made = client.post("/api/v1/bookings", headers=headers, json={
        "office_id": office_id, "date": "2027-03-02", "session": "S", "phone": "0912 345 678",
        "procedure_id": procedure_id})
    assert made.status_code == 201, made.get_json()
    booking = made.get_json()["booking"]
    assert booking["result_date"] == "2027-03-05"
    moved = client.post(f"/api/v1/bookings/{booking['code']}/move", headers=headers,
                        json={"office_id": office_id, "date": "2027-03-04", "session": "C"})
    assert moved.get_json()["booking"]["result_date"] == "2027-03-09"
    other = client.post("/api/v1/bookings", headers=headers, json={
        "office_id": office_id, "date": "2027-03-02", "session": "S", "phone": "0912 345 679",
        "procedure_id": unstated_id})
    assert other.get_json()["booking"]["result_date"] is None
