"""The IVR's list of offices, kept by each process (hotline/ivr/directory.py): never older than the last commit.

On both engines: a change to the offices committed by anyone (the ORM, plain SQL) is seen by the
next request, in the same process; an unchanged table is not read again; the office names that
bias speech recognition are said to Twilio but not stored with the call.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import create_engine, Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from actions.demo import load_demo
from booking.models import Office, OfficeLevel
from hotline.ivr.directory import Directory, SpokenOffice, directory
from hotline.ivr.models import Call
from tests.factories import NOW
from tests.ivr_caller import Caller

TOKEN = "secret-token"
NAM_CAN = "xã Năm Căn"


@pytest.fixture
def demo(db: Session) -> dict[str, int]:
    load_demo(db, now=NOW)
    db.commit()
    offices = {name: office_id for office_id, name in db.execute(select(Office.id, Office.spoken_name))}
    db.rollback()
    return offices


def by_id(office: SpokenOffice) -> int:
    return office.id


def names(found: tuple[SpokenOffice, ...]) -> set[str]:
    return {o.spoken_name for o in found}


def test_a_change_committed_by_anyone_is_seen_by_the_next_read(engine: Engine, sessions: sessionmaker[Session],
                                                               demo: dict[str, int]) -> None:
    offices = Directory(by_id)
    with sessions.begin() as s:
        first = offices.offices(s)
    assert NAM_CAN in names(first) and len(first) == 65
    with sessions.begin() as s:
        assert offices.offices(s) is first  # nothing changed: the same list, not read again

    with sessions.begin() as s:  # a manager closes the office (the ORM)
        s.get_one(Office, demo[NAM_CAN]).active = False
    with sessions.begin() as s:
        assert NAM_CAN not in names(offices.offices(s))

    with engine.begin() as conn:  # plain SQL, as a script would: a new name, the office open again
        conn.execute(text("UPDATE offices SET spoken_name = 'xã Năm Căn Mới', active = :yes WHERE id = :id"),
                     {"yes": True, "id": demo[NAM_CAN]})
    with sessions.begin() as s:
        found = names(offices.offices(s))
    assert "xã Năm Căn Mới" in found and NAM_CAN not in found

    with sessions.begin() as s:  # an office added
        s.add(Office(code="NEW", name="Bộ phận một cửa xã Mới", spoken_name="xã Mới", level=OfficeLevel.COMMUNE))
    with sessions.begin() as s:
        assert "xã Mới" in names(offices.offices(s)) and len(offices.offices(s)) == 66

    with sessions.begin() as s:  # every office touched by one statement, values unchanged: read again all the same
        before = offices.offices(s)
        s.execute(update(Office).values(crowd_limit=Office.crowd_limit))
    with sessions.begin() as s:
        assert offices.offices(s) is not before


def test_each_engine_has_a_directory_of_its_own(engine: Engine) -> None:
    assert directory(engine, by_id) is directory(engine, by_id)
    other = create_engine("sqlite://")
    try:
        assert directory(other, by_id) is not directory(engine, by_id)
    finally:
        other.dispose()


def test_an_office_closed_between_two_calls_is_not_offered_to_the_second(
        make_app: Callable[..., Flask], db: Session, demo: dict[str, int]) -> None:
    app = make_app(twilio_auth_token=TOKEN, ivr_speech=True)
    first = Caller(app.test_client(), TOKEN, caller="+84912345678", before_request=db.rollback)
    hints = first.ring().find("Gather")
    assert hints is not None and NAM_CAN in hints.attrib.get("hints", "")

    db.get_one(Office, demo[NAM_CAN]).active = False  # the manager's change, committed
    db.commit()
    second = Caller(app.test_client(), TOKEN, caller="+84912345679", before_request=db.rollback)
    hints = second.ring().find("Gather")
    assert hints is not None and hints.attrib.get("hints") and NAM_CAN not in hints.attrib["hints"]

    db.rollback()
    stored = db.get_one(Call, second.sid).context
    assert "request_hints" not in stored and "office_hints" not in stored  # said to Twilio, not stored
