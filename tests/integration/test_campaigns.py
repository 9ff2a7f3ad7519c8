"""Outbound call campaigns on both engines, with a fixed clock: the list, the hours and the rate of calling,
retries then unreachable, and the call itself through the hotline's flow engine over signed webhooks (booked,
declined); Calls API requests go to the Twilio stand-in, checked against Twilio's OpenAPI description."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from accounts.models import Role
from actions import campaigns
from actions.context import Actor, Context
from actions.errors import NotAllowed
from actions.models import AuditEntry
from booking.models import Booking, BookingStatus, Campaign, CampaignStatus, CampaignTarget, Office, TargetStatus
from hotline.campaign_calls import place_due_calls
from hotline.runtime import runtime
from hotline.waitlist_calls import make_caller
from notifications.campaigns import CampaignRefused, counts_of
from notifications.policy import SmsPolicy
from tests.factories import NOW, POLICY, VN, make_office, phone
from tests.integration.test_sms_sending import openapi_document
from tests.integration.test_sms_sending import twilio as twilio  # every request it got must be one Twilio allows
from tests.outbox import PlainLocalizer
from tests.integration.test_waitlist_calls import FROM, OfferCall_, post, said
from tests.integration.test_waitlist_calls import _ends_the_tests_transaction as _ends_the_tests_transaction
from tests.integration.test_waitlist_calls import _before_request
from tests.integration.test_waitlist_calls import app as app  # the app calling from FROM through the stand-in
from tests.twilio_standin import TwilioStandIn, openapi_problems, response_problems

MONDAY_9 = NOW  # Monday 1 March 2027, 09:00 in Vietnam


def manager(office_id: int) -> Actor:
    return Actor.staff("user:mai", Role.MANAGER, frozenset({office_id}))


def ctx(db: Session, actor: Actor, now: datetime = NOW) -> Context:
    return Context(db=db, actor=actor, now=now, policy=POLICY, sms=SmsPolicy(), localizer=PlainLocalizer)


def numbers(*lines: str) -> bytes:
    return ("\n".join(("Số điện thoại", *lines)) + "\n").encode()


def campaign(db: Session, n: int = 3, *, rate: int = 5, attempts: int = 3, retry: int = 30,
             start: bool = True, office_id: int | None = None) -> tuple[int, int]:
    office = db.get(Office, office_id) if office_id is not None else make_office(db)
    assert office is not None
    created = campaigns.create(ctx(db, manager(office.id)), office_id=office.id, title="Hồ sơ còn thiếu",
                               language="vi", rate_per_minute=rate, max_attempts=attempts, retry_minutes=retry,
                               hours_start=time(8), hours_end=time(17),
                               numbers=numbers(*(phone(i) for i in range(1, n + 1))), file_name="ds.csv")
    if start:
        campaigns.change(ctx(db, manager(office.id)), campaign_id=created.campaign.id, to="start")
    db.commit()
    return office.id, created.campaign.id


def place(app: Flask, at: datetime) -> dict[str, int]:
    for before in _before_request:
        before()
    return place_due_calls(app, make_caller(runtime(app).settings), now=at)


def targets(db: Session, campaign_id: int) -> list[CampaignTarget]:
    db.rollback()
    return list(db.scalars(select(CampaignTarget).where(CampaignTarget.campaign_id == campaign_id)
                           .order_by(CampaignTarget.id)))


def placed_calls(app: Flask, twilio: TwilioStandIn, since: int = 0) -> list[OfferCall_]:
    found = []
    for request in twilio.calls[since:]:
        assert request.status == 201 and request.sid is not None
        assert request.field("From") == FROM and request.field("StatusCallback") == request.field("Url") + "/status"
        found.append(OfferCall_(app.test_client(), request.sid, request.field("To"), request.field("Url")))
    return found


def logged(db: Session, prefix: str = "campaign") -> list[str]:
    db.rollback()
    return [e.action for e in db.scalars(select(AuditEntry).where(AuditEntry.action.like(prefix + "%"))
                                         .order_by(AuditEntry.id))]


# -- the list and who may steer it ------------------------------------------------------------------

def test_the_list_keeps_each_callable_number_once_landlines_too(db: Session) -> None:
    office = make_office(db)
    created = campaigns.create(
        ctx(db, manager(office.id)), office_id=office.id, title="t", language="vi", rate_per_minute=5,
        max_attempts=2, retry_minutes=30, hours_start=time(8), hours_end=time(17), file_name="C:\\lists\\ds.csv",
        numbers=numbers("0981234567", "+84 98 123 4567", "0290 3821 022", "113", "19006868", "not a number"))
    db.commit()
    report, saved = created.report, created.campaign
    assert (report.kept, report.duplicates, report.refused) == (2, 1, 3)  # short and premium numbers refused
    assert [reason for _line, _text, reason in report.errors] == ["not_callable", "not_callable", "invalid"]
    assert sorted(t.phone for t in targets(db, saved.id)) == ["+842903821022", "+84981234567"]
    assert (saved.status, saved.targets_count, saved.file_name) == (CampaignStatus.DRAFT, 2, "ds.csv")
    assert logged(db) == ["campaign.create"]


def test_only_a_manager_of_the_office_steers_it_and_each_change_is_audited(db: Session) -> None:
    office_id, campaign_id = campaign(db, start=False)
    other = Actor.staff("user:binh", Role.MANAGER, frozenset({office_id + 1000}))
    with pytest.raises(NotAllowed):
        campaigns.change(ctx(db, other), campaign_id=campaign_id, to="start")
    with pytest.raises(NotAllowed):
        campaigns.create(ctx(db, other), office_id=office_id, title="", language="vi", rate_per_minute=1,
                         max_attempts=1, retry_minutes=1, hours_start=time(8), hours_end=time(9), numbers=b"")
    db.rollback()
    for change in ("start", "pause", "resume", "cancel"):
        campaigns.change(ctx(db, manager(office_id)), campaign_id=campaign_id, to=change)
    with pytest.raises(CampaignRefused):
        campaigns.change(ctx(db, manager(office_id)), campaign_id=campaign_id, to="resume")
    db.commit()
    assert logged(db) == ["campaign.create", "campaign.start", "campaign.pause", "campaign.resume", "campaign.cancel"]
    assert db.get(Campaign, campaign_id).status is CampaignStatus.CANCELLED  # type: ignore[union-attr]


def test_settings_out_of_range_and_an_empty_list_are_refused(db: Session) -> None:
    office = make_office(db)
    db.commit()
    values: dict[str, Any] = dict(office_id=office.id, title="", language="vi", rate_per_minute=5, max_attempts=2,
                                  retry_minutes=30, hours_start=time(8), hours_end=time(17), numbers=numbers(phone(1)))
    for wrong in ({"rate_per_minute": 0}, {"rate_per_minute": 61}, {"max_attempts": 11}, {"retry_minutes": 0},
                  {"hours_start": time(17)}, {"numbers": numbers("113")}):
        with pytest.raises(CampaignRefused):
            campaigns.create(ctx(db, manager(office.id)), **{**values, **wrong})
        db.rollback()


# -- hours and rate ---------------------------------------------------------------------------------

def test_calls_only_within_the_hours_on_working_days_at_the_rate(app: Flask, db: Session,
                                                               twilio: TwilioStandIn) -> None:
    _office, campaign_id = campaign(db, 7, rate=3)
    six = datetime(2027, 3, 1, 6, 0, tzinfo=VN)
    sunday = datetime(2027, 2, 28, 10, 0, tzinfo=VN)
    five_pm = datetime(2027, 3, 1, 17, 0, tzinfo=VN)
    for outside in (six, sunday, five_pm):
        assert place(app, outside) == {"placed": 0, "refused": 0}
    assert twilio.calls == []
    assert place(app, MONDAY_9) == {"placed": 3, "refused": 0}
    assert place(app, MONDAY_9 + timedelta(seconds=30)) == {"placed": 0, "refused": 0}  # 3 in this minute already
    assert place(app, MONDAY_9 + timedelta(seconds=61)) == {"placed": 3, "refused": 0}
    assert place(app, MONDAY_9 + timedelta(seconds=122)) == {"placed": 1, "refused": 0}
    assert len(twilio.calls) == 7
    assert sorted(r.field("To") for r in twilio.calls) == sorted(phone(i) for i in range(1, 8))
    doc = openapi_document()
    for request in twilio.calls:
        if doc is not None:
            assert openapi_problems(request, doc) == []
            assert response_problems(twilio.created[request.sid], doc, "api.v2010.account.call") == []  # type: ignore[index]
    assert {t.status for t in targets(db, campaign_id)} == {TargetStatus.CALLING}
    assert logged(db, "campaign.call").count("campaign.call") == 7


def test_a_paused_campaign_places_no_calls(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    office_id, campaign_id = campaign(db, 2)
    campaigns.change(ctx(db, manager(office_id)), campaign_id=campaign_id, to="pause")
    db.commit()
    assert place(app, MONDAY_9) == {"placed": 0, "refused": 0}
    assert twilio.calls == []


# -- status callbacks: retries, then unreachable ----------------------------------------------------

def test_no_answer_and_busy_are_called_again_after_the_delay_then_unreachable(app: Flask, db: Session,
                                                                            twilio: TwilioStandIn) -> None:
    _office, campaign_id = campaign(db, 1, attempts=2, retry=30)
    place(app, MONDAY_9)
    (first,) = placed_calls(app, twilio)
    unsigned = post(first.client, first.url + "/status", first.params(CallStatus="no-answer"), sign=False)
    assert unsigned[0] == 403  # refused, nothing changes
    assert targets(db, campaign_id)[0].status is TargetStatus.CALLING
    assert first.status("no-answer") == 204
    (target,) = targets(db, campaign_id)
    assert (target.status, target.attempts) == (TargetStatus.PENDING, 1)
    assert target.next_attempt_at == MONDAY_9 + timedelta(minutes=30)
    assert place(app, MONDAY_9 + timedelta(minutes=10))["placed"] == 0  # not before the delay
    assert place(app, MONDAY_9 + timedelta(minutes=31))["placed"] == 1
    (second,) = placed_calls(app, twilio, since=1)
    assert first.status("busy") == 204  # a late callback of the first call changes nothing
    assert targets(db, campaign_id)[0].status is TargetStatus.CALLING
    assert second.status("busy") == 204
    (target,) = targets(db, campaign_id)
    assert (target.status, target.attempts) == (TargetStatus.UNREACHABLE, 2)
    assert place(app, MONDAY_9 + timedelta(hours=3))["placed"] == 0
    assert db.get(Campaign, campaign_id).status is CampaignStatus.DONE  # type: ignore[union-attr]
    assert logged(db, "campaign.not_reached") == ["campaign.not_reached"] * 2
    assert logged(db, "campaign.done") == ["campaign.done"]  # once, with the outcomes


def test_a_number_the_calls_api_refuses_fails_after_its_attempts(app: Flask, db: Session,
                                                                 twilio: TwilioStandIn) -> None:
    from tests.twilio_standin import twilio_error

    _office, campaign_id = campaign(db, 1, attempts=1)
    twilio.script(twilio_error(400, 21217, "Phone number does not appear to be valid"))
    assert place(app, MONDAY_9) == {"placed": 0, "refused": 1}
    assert targets(db, campaign_id)[0].status is TargetStatus.FAILED


# -- the call: through the flow engine, booked or declined ------------------------------------------

def test_the_person_called_books_the_soonest_session_through_the_flow(app: Flask, db: Session,
                                                                      twilio: TwilioStandIn) -> None:
    office_id, campaign_id = campaign(db, 1)
    place(app, MONDAY_9)
    (call,) = placed_calls(app, twilio)
    assert post(app.test_client(), call.url, call.params(CallSid="CA" + "0" * 32))[0] == 404  # not our call
    assert post(app.test_client(), call.url, call.params(), sign=False)[0] == 403
    greeting = said(call.answer())
    assert "Trung tâm Phục vụ hành chính công" in greeting and "đặt lịch" in greeting
    assert "bấm phím 9" in greeting
    confirm = said(call.press("1"))  # the first (soonest) session; the number we rang is theirs
    assert confirm
    booked = said(call.press("1"))
    assert booked
    db.rollback()
    (target,) = targets(db, campaign_id)
    booking = db.get(Booking, target.booking_id) if target.booking_id else None
    assert target.status is TargetStatus.BOOKED and booking is not None
    assert (booking.phone, booking.office_id, booking.status) == (phone(1), office_id, BookingStatus.BOOKED)
    assert call.status("completed") == 204
    assert targets(db, campaign_id)[0].status is TargetStatus.BOOKED
    assert db.get(Campaign, campaign_id).status is CampaignStatus.DONE  # type: ignore[union-attr]
    assert "campaign.booked" in logged(db)
    assert counts_of(db, [campaign_id])[campaign_id]["booked"] == 1


def test_nine_declines_and_hanging_up_after_the_offer_declines_too(app: Flask, db: Session,
                                                                   twilio: TwilioStandIn) -> None:
    _office, campaign_id = campaign(db, 2)
    place(app, MONDAY_9)
    first, second = placed_calls(app, twilio)
    first.answer()
    end = first.press("9")
    assert end.find("Hangup") is not None and "không gọi lại" in said(end)
    second.answer()
    assert second.status("completed") == 204
    statuses = {t.phone: t.status for t in targets(db, campaign_id)}
    assert statuses == {first.to: TargetStatus.DECLINED, second.to: TargetStatus.DECLINED}
    assert logged(db, "campaign.declined") == ["campaign.declined"] * 2
    counts = counts_of(db, [campaign_id])[campaign_id]
    assert (counts["declined"], counts["booked"], counts["pending"]) == (2, 0, 0)


# -- the console ------------------------------------------------------------------------------------

def test_a_manager_makes_starts_and_cancels_a_campaign_in_the_console(make_app: Any, db: Session) -> None:
    import io

    from tests.console import csrf, make_staff, signed_in

    mine, other = make_staff(db)
    client = signed_in(make_app().test_client(), "hoa")
    new = "/console/campaigns/new"
    page = client.get(new)
    assert page.status_code == 200 and "Call campaigns" in client.get("/console/campaigns").get_data(as_text=True)

    def form(office: int, **fields: Any) -> dict[str, Any]:
        return {"csrf_token": csrf(client, new), "title": "Thiếu hồ sơ", "office": str(office), "language": "vi",
                "rate": "5", "attempts": "3", "retry": "60", "hours_start": "08:00", "hours_end": "17:00",
                "numbers": (io.BytesIO(numbers(phone(1), phone(1), "0290 3821 022", "113")), "ds.csv"), **fields}

    assert client.post(new, data=form(other), content_type="multipart/form-data").status_code == 403
    assert client.post(new, data=form(mine, rate="0"), content_type="multipart/form-data").status_code == 422
    assert client.post(new, data=form(mine, hours_end="07:00"), content_type="multipart/form-data").status_code == 422
    assert client.post(new, data={k: v for k, v in form(mine).items() if k != "csrf_token"},
                       content_type="multipart/form-data").status_code == 400
    made = client.post(new, data=form(mine), content_type="multipart/form-data")
    assert made.status_code == 302
    db.rollback()
    saved = db.scalars(select(Campaign)).one()
    assert (saved.office_id, saved.targets_count, saved.duplicates_count, saved.refused_count) == (mine, 2, 1, 1)
    campaign_id = saved.id
    db.rollback()  # SQLite: the app writes next
    detail = f"/console/campaigns/{campaign_id}"
    shown = client.get(detail).get_data(as_text=True)
    assert "To call" in shown and "Start calling" in shown
    assert client.post(detail + "/start").status_code == 400  # no CSRF token
    assert client.post(detail + "/start", data={"csrf_token": csrf(client, detail)}).status_code == 302
    assert client.post(detail + "/start", data={"csrf_token": csrf(client, detail)}).status_code == 302  # refused
    db.rollback()
    assert db.get(Campaign, campaign_id).status is CampaignStatus.RUNNING  # type: ignore[union-attr]
    db.rollback()
    assert client.post(detail + "/cancel", data={"csrf_token": csrf(client, detail)}).status_code == 302
    assert client.post("/console/campaigns/999999/pause", data={"csrf_token": csrf(client, detail)}).status_code == 404
    db.rollback()
    assert db.get(Campaign, campaign_id).status is CampaignStatus.CANCELLED  # type: ignore[union-attr]
    assert logged(db) == ["campaign.create", "campaign.start", "campaign.cancel"]
    db.rollback()
    lan = signed_in(make_app().test_client(), "lan")  # an operator manages no campaigns
    assert lan.get("/console/campaigns").status_code == 403
    admin = signed_in(make_app().test_client(), "admin")
    assert client.get(detail).status_code == 200 and admin.get(detail).status_code == 200
    assert "Thiếu hồ sơ" in admin.get("/console/campaigns").get_data(as_text=True)


def test_the_reports_count_what_came_of_the_calls(app: Flask, db: Session, twilio: TwilioStandIn) -> None:
    import re

    from tests.console import make_staff, signed_in

    mine, _other = make_staff(db)
    _office, campaign_id = campaign(db, 3, attempts=1, office_id=mine)
    place(app, MONDAY_9)
    declining, unanswered, booking = placed_calls(app, twilio)
    declining.answer()
    declining.press("9")
    assert unanswered.status("busy") == 204
    booking.answer()
    booking.press("1")
    booking.press("1")
    assert {t.status for t in targets(db, campaign_id)} == {
        TargetStatus.DECLINED, TargetStatus.UNREACHABLE, TargetStatus.BOOKED}
    db.rollback()
    page = signed_in(app.test_client(), "hoa").get("/console/reports").get_data(as_text=True)
    table = page[page.index('id="campaign-outcomes"'):]
    table = table[:table.index("</table>")]
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th><td>([^<]+)</td>', table))
    assert (rows["Booked"], rows["Declined"], rows["Unreachable"], rows["Called"]) == ("1", "1", "1", "3")


def test_schedulers_claiming_at_once_stay_within_the_rate(db: Session, sessions: sessionmaker[Session]) -> None:
    from notifications.campaigns import claim_due

    from tests.integration.test_waitlist import race

    _office, campaign_id = campaign(db, 10, rate=3)
    db.rollback()
    claimed: list[int] = []

    def claim(session: Session) -> None:
        claimed.extend(c.target_id for c in claim_due(session, campaign_id, now=MONDAY_9, tz=VN))

    assert race(sessions, [claim] * 4) == {"ok": 4}
    assert len(claimed) == len(set(claimed)) == 3  # across the four schedulers, each number once
    assert sum(t.status is TargetStatus.CALLING for t in targets(db, campaign_id)) == 3


def test_a_call_whose_end_is_never_reported_is_tried_again_after_an_hour(app: Flask, db: Session,
                                                                         twilio: TwilioStandIn) -> None:
    _office, campaign_id = campaign(db, 1, attempts=2, retry=30)
    place(app, MONDAY_9)
    assert place(app, MONDAY_9 + timedelta(minutes=59))["placed"] == 0
    assert place(app, MONDAY_9 + timedelta(minutes=61))["placed"] == 0  # counted as not reached: due in 30 minutes
    (target,) = targets(db, campaign_id)
    assert (target.status, target.next_attempt_at) == (TargetStatus.PENDING, MONDAY_9 + timedelta(minutes=91))
    assert place(app, MONDAY_9 + timedelta(minutes=92))["placed"] == 1
    assert len(twilio.calls) == 2


def test_the_audit_log_names_a_campaigns_steps_in_words(make_app: Any, db: Session) -> None:
    from tests.console import make_staff, signed_in

    mine, _other = make_staff(db)
    campaign(db, 1, office_id=mine)
    db.rollback()
    page = signed_in(make_app().test_client(), "admin").get("/console/audit").get_data(as_text=True)
    assert "Call campaign created" in page and "Call campaign started" in page


def test_a_landline_called_books_with_a_mobile_typed_for_the_sms(app: Flask, db: Session,
                                                                 twilio: TwilioStandIn) -> None:
    office = make_office(db)
    created = campaigns.create(ctx(db, manager(office.id)), office_id=office.id, title="", language="vi",
                               rate_per_minute=5, max_attempts=1, retry_minutes=30, hours_start=time(8),
                               hours_end=time(17), numbers=numbers("0290 3821 022"))
    campaigns.change(ctx(db, manager(office.id)), campaign_id=created.campaign.id, to="start")
    db.commit()
    campaign_id = created.campaign.id
    place(app, MONDAY_9)
    (call,) = placed_calls(app, twilio)
    assert call.to == "+842903821022"
    call.answer()
    call.press("1")  # the soonest session; a landline takes no SMS, so a mobile is asked for
    call.press("0981234567")
    call.press("1")  # the number read back is right
    call.press("1")  # confirmed
    (target,) = targets(db, campaign_id)
    booking = db.get(Booking, target.booking_id) if target.booking_id else None
    assert target.status is TargetStatus.BOOKED and booking is not None and booking.phone == "+84981234567"


def test_erasing_a_number_keeps_the_outcomes_and_calls_it_no_more(app: Flask, db: Session,
                                                                  twilio: TwilioStandIn) -> None:
    from actions import privacy

    _office, campaign_id = campaign(db, 2)
    admin = Actor.staff("user:admin", Role.ADMIN, frozenset())
    erased = privacy.erase(ctx(db, admin), phone=phone(1))
    db.commit()
    assert erased.counts["campaign_targets"] == 1
    statuses = {t.phone: t.status for t in targets(db, campaign_id)}
    assert phone(1) not in statuses and statuses[phone(2)] is TargetStatus.PENDING
    assert TargetStatus.DECLINED in statuses.values()
    place(app, MONDAY_9)
    assert [r.field("To") for r in twilio.calls] == [phone(2)]
