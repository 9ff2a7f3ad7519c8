"""The real province: the demo is Cà Mau's 65 centres from the official register, and an administrator
brings any province's offices in line with it (`offices import-province`), on both engines."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from accounts.models import Role
from accounts.users import create_user
from actions.demo import load_demo
from actions.models import AuditEntry
from booking import offices as office_admin
from booking.models import Office, OfficeLevel, Procedure, SessionTemplate
from database.schema import downgrade, upgrade
from tests.console import PASSWORD, signed_in
from tests.factories import NOW, make_office


@pytest.fixture
def cli(make_app: Callable[..., Flask]) -> FlaskCliRunner:
    return make_app().test_cli_runner()


def _count(db: Session, what: type[object], *where: object) -> int:
    db.rollback()  # read what the command committed, and leave no transaction open (SQLite has one writer)
    found = db.scalar(select(func.count()).select_from(what).where(*where))  # type: ignore[arg-type]
    db.rollback()
    return found or 0


def _offices(db: Session) -> list[tuple[object, ...]]:
    """Every office with its usual week, as rows that compare equal when nothing changed."""
    db.rollback()
    rows = db.execute(select(Office.id, Office.code, Office.official_code, Office.province_code, Office.name,
                             Office.name_en, Office.spoken_name, Office.level, Office.keypad_number, Office.address,
                             Office.active).order_by(Office.id)).all()
    week = db.execute(select(SessionTemplate.office_id, SessionTemplate.weekday, SessionTemplate.code,
                             SessionTemplate.capacity).order_by(SessionTemplate.id)).all()
    return [tuple(row) for row in rows] + [tuple(row) for row in week]


def test_demo_load_makes_the_province_centre_and_one_per_ward_and_commune(cli: FlaskCliRunner, db: Session) -> None:
    """The demo is the real Cà Mau: 65 active centres with official codes, unique codes and spoken names;
    the offices the README and the tests name keep their codes, keypad numbers and names."""
    first = cli.invoke(args=["demo", "load"])
    assert "65 offices and 11 procedures added" in first.output, first.output
    offices = list(db.scalars(select(Office)))
    assert len(offices) == 65 and all(o.active for o in offices)
    for column in ("code", "official_code", "spoken_name", "keypad_number", "name"):
        values = [getattr(o, column) for o in offices]
        assert None not in values and len(set(values)) == 65, column
    assert {o.province_code for o in offices} == {"96"}
    (province,) = [o for o in offices if o.level is OfficeLevel.PROVINCE]
    assert (province.code, province.official_code, province.keypad_number, province.spoken_name, province.name) == (
        "CM-TTHCC", "96", 1, "tỉnh Cà Mau", "Trung tâm Phục vụ hành chính công tỉnh Cà Mau")
    by_code = {o.code: o for o in offices}
    assert (by_code["CM-NAMCAN"].official_code, by_code["CM-NAMCAN"].keypad_number,
            by_code["CM-NAMCAN"].spoken_name) == ("32191", 5, "xã Năm Căn")
    assert by_code["CM-AXUYEN"].spoken_name == "phường An Xuyên" and by_code["CM-AXUYEN"].keypad_number == 2
    assert by_code["CM-DAMDOI"].address == "Ấp Thị Trấn A, xã Đầm Dơi, tỉnh Cà Mau"
    assert all(o.name == f"Trung tâm Phục vụ hành chính công {o.spoken_name}" for o in offices)
    assert db.scalar(select(func.count()).select_from(Procedure)) == 11


def test_demo_load_is_idempotent(cli: FlaskCliRunner, db: Session) -> None:
    cli.invoke(args=["demo", "load"])
    before, audited = _offices(db), _count(db, AuditEntry)
    second = cli.invoke(args=["demo", "load"])
    assert "Demo data: 0 offices and 0 procedures added." in second.output and "in line" not in second.output
    assert _offices(db) == before and _count(db, AuditEntry) == audited and _count(db, Procedure) == 11


def test_demo_load_adopts_the_offices_an_older_demo_made_instead_of_doubling_them(db: Session) -> None:
    """`run.sh` loads the demo into an existing database: the six offices of the old demo (no official code)
    get theirs, and a keypad number taken by an office of the province's own stays with it."""
    old = make_office(db, code="CM-NAMCAN", name="Trung tâm Phục vụ hành chính công xã Năm Căn", keypad_number=5)
    desk = make_office(db, code="QUAY-PHU", name="Quầy tiếp nhận phụ", keypad_number=2)
    added = load_demo(db, now=NOW)
    db.commit()
    assert (added["offices"], added["updated"]) == (64, 1)
    assert _count(db, Office) == 66 and _count(db, Office, Office.code == "CM-NAMCAN") == 1
    adopted = db.get_one(Office, old.id)
    assert (adopted.official_code, adopted.province_code, adopted.keypad_number) == ("32191", "96", 5)
    an_xuyen = db.scalars(select(Office).where(Office.official_code == "32002")).one()
    assert an_xuyen.code == "CM-AXUYEN" and an_xuyen.keypad_number not in (None, 2)
    assert (db.get_one(Office, desk.id).keypad_number, db.get_one(Office, desk.id).official_code) == (2, None)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.target_id == str(old.id))).one()
    assert entry.actor == "system" and entry.after is not None and entry.after["import"] == "adopt"


def test_import_of_another_province_by_code_is_idempotent(cli: FlaskCliRunner, db: Session) -> None:
    """Huế beside the Cà Mau demo: its centre (a city: "thành phố Huế") and one per ward and commune, codes
    from its name, keypad numbers after Cà Mau's, audited as the system; a second run changes nothing."""
    cli.invoke(args=["demo", "load"])
    done = cli.invoke(args=["offices", "import-province", "46"])
    assert done.exit_code == 0, done.output
    assert "Trung tâm Phục vụ hành chính công thành phố Huế: 41 units in the register; changed: 41 create, " \
           "0 adopt, 0 rename, 0 deactivate." in done.output
    db.rollback()
    hue = list(db.scalars(select(Office).where(Office.province_code == "46")))
    assert len(hue) == 41 and len({o.code for o in hue}) == 41 and all(o.code.startswith("HUE-") for o in hue)
    (centre,) = [o for o in hue if o.level is OfficeLevel.PROVINCE]
    assert (centre.code, centre.official_code, centre.spoken_name) == ("HUE-TTHCC", "46", "thành phố Huế")
    assert sorted(o.keypad_number or 0 for o in hue) == list(range(66, 107))
    assert len(centre.templates) == 11 and {t.capacity for t in centre.templates if t.weekday == 5} == {30}
    assert _count(db, AuditEntry, AuditEntry.actor == "system", AuditEntry.action == "office.create",
                  AuditEntry.office_id.in_([o.id for o in hue])) == 41
    before, audited = _offices(db), _count(db, AuditEntry)
    again = cli.invoke(args=["offices", "import-province", "46"])
    assert "changed: 0 create, 0 adopt, 0 rename, 0 deactivate." in again.output, again.output
    assert _offices(db) == before and _count(db, AuditEntry) == audited


def test_dry_run_writes_nothing(cli: FlaskCliRunner, db: Session) -> None:
    """Đồng Tháp has wards and communes of the same ASCII name (phường and xã Mỹ Tho): those get their
    official code in their office code; the dry run lists every office it would make and makes none."""
    shown = cli.invoke(args=["offices", "import-province", "82", "--dry-run"])
    assert shown.exit_code == 0, shown.output
    assert "103 units in the register; would change: 103 create, 0 adopt" in shown.output
    codes = [line.split()[1] for line in shown.output.splitlines() if line.startswith("create ")]
    assert len(codes) == len(set(codes)) == 103 and "DONGTHAP-28261" in codes and "DONGTHAP-MYTHO" not in codes
    assert _count(db, Office) == 0 and _count(db, AuditEntry) == 0


def test_an_office_renamed_officially_is_updated_and_one_dropped_is_deactivated(cli: FlaskCliRunner,
                                                                                 db: Session) -> None:
    """The register is the source of an imported office's names; a unit it no longer lists keeps its office
    (bookings and the audit log point at it), inactive. Offices of other provinces, or of none, are left alone."""
    load_demo(db, now=NOW)
    nam_can = db.scalars(select(Office).where(Office.code == "CM-NAMCAN")).one()
    nam_can.name, nam_can.spoken_name = "Trung tâm Phục vụ hành chính công thị trấn Năm Căn", "thị trấn Năm Căn"
    dropped = make_office(db, code="CM-CU", name="Trung tâm Phục vụ hành chính công xã Cũ", official_code="32999",
                          province_code="96")
    elsewhere = make_office(db, code="HUE-CU", name="Trung tâm xã Cũ", official_code="46999", province_code="46")
    own = make_office(db, code="CM-QUAY", name="Quầy tiếp nhận phụ")
    db.commit()
    preview = cli.invoke(args=["offices", "import-province", "96", "--dry-run"])
    assert "would change: 0 create, 0 adopt, 1 rename, 1 deactivate." in preview.output, preview.output
    assert _count(db, Office, Office.spoken_name == "thị trấn Năm Căn", Office.active.is_(True)) == 1
    done = cli.invoke(args=["offices", "import-province", "96"])
    assert "changed: 0 create, 0 adopt, 1 rename, 1 deactivate." in done.output, done.output
    db.rollback()
    assert (db.get_one(Office, nam_can.id).name, db.get_one(Office, nam_can.id).spoken_name) == (
        "Trung tâm Phục vụ hành chính công xã Năm Căn", "xã Năm Căn")
    assert db.get_one(Office, dropped.id).active is False
    assert db.get_one(Office, elsewhere.id).active is True and db.get_one(Office, own.id).active is True
    renamed = db.scalars(select(AuditEntry).where(AuditEntry.office_id == nam_can.id)
                         .order_by(AuditEntry.id.desc())).first()
    assert renamed is not None and renamed.actor == "system" and renamed.before is not None
    assert renamed.before["spoken_name"] == "thị trấn Năm Căn" and renamed.after == {
        "name": "Trung tâm Phục vụ hành chính công xã Năm Căn", "name_en": nam_can.name_en,
        "spoken_name": "xã Năm Căn", "level": "commune", "province_code": "96", "import": "rename"}
    db.rollback()
    assert "changed: 0 create, 0 adopt, 0 rename, 0 deactivate." in cli.invoke(
        args=["offices", "import-province", "96"]).output


@pytest.mark.parametrize("code", ["97", "ca-mau"])
def test_an_unknown_province_code_is_refused(cli: FlaskCliRunner, db: Session, code: str) -> None:
    refused = cli.invoke(args=["offices", "import-province", code])
    assert refused.exit_code != 0 and f"no province has the code {code}" in refused.output
    assert _count(db, Office) == 0


def test_an_office_says_its_unit_and_follows_its_name(db: Session) -> None:
    """The IVR's short name comes from the name (model default, console and API alike); a rename carries it
    along unless somebody chose it."""
    assert make_office(db, name="Trung tâm Phục vụ hành chính công  phường 1").spoken_name == "phường 1"
    assert make_office(db, name="Quầy tiếp nhận phụ").spoken_name == "Quầy tiếp nhận phụ"
    details = office_admin.OfficeDetails(code="CM-TANAN", name="Bộ phận Một cửa xã Tân Ân", level=OfficeLevel.COMMUNE)
    office = office_admin.create_office(db, details=details)
    assert office.spoken_name == "xã Tân Ân"
    renamed = office_admin.update_office(db, office_id=office.id, details=office_admin.OfficeDetails(
        code="CM-TANAN", name="Trung tâm Phục vụ hành chính công xã Tân Ân", level=OfficeLevel.COMMUNE))
    assert renamed.spoken_name == "xã Tân Ân"
    renamed.spoken_name = "xã Tân Ân, Cà Mau"
    again = office_admin.update_office(db, office_id=office.id, details=office_admin.OfficeDetails(
        code="CM-TANAN", name="Trung tâm Phục vụ hành chính công xã Tân Ân Mới", level=OfficeLevel.COMMUNE))
    assert again.spoken_name == "xã Tân Ân, Cà Mau"


def test_the_migration_gives_existing_offices_their_spoken_names(engine: Engine) -> None:
    downgrade(engine, "0006")
    with engine.begin() as conn:
        for code, name in (("NAMCAN", "Trung tâm Phục vụ hành chính công xã Năm Căn"),
                           ("TINH", "Trung tâm Phục vụ hành chính công tỉnh Cà Mau"), ("QUAY", "Quầy phụ")):
            conn.execute(text("INSERT INTO offices (code, name, level, address, timezone, crowd_limit, window_minutes, "
                              "horizon_days, cutoff_minutes, active) VALUES (:code, :name, 'commune', '', "
                              "'Asia/Ho_Chi_Minh', 10, 30, 14, 60, :yes)"), {"code": code, "name": name, "yes": True})
    upgrade(engine)
    with engine.connect() as conn:
        spoken = {code: name for code, name in conn.execute(text("SELECT code, spoken_name FROM offices"))}
    assert spoken == {"NAMCAN": "xã Năm Căn", "TINH": "tỉnh Cà Mau", "QUAY": "Quầy phụ"}


def test_the_front_page_and_the_console_serve_the_real_province(make_app: Callable[..., Flask], db: Session) -> None:
    """Every page without an id in its address still answers with 65 offices, and the front page (the CI smoke
    test looks for the province centre) shows every one of them."""
    load_demo(db, now=NOW)
    create_user(db, username="admin", password_hash=generate_password_hash(PASSWORD), role=Role.ADMIN, now=NOW)
    db.commit()
    names = list(db.scalars(select(Office.name)))
    db.rollback()
    app = make_app()
    client = app.test_client()
    front = client.get("/").get_data(as_text=True)
    assert "Trung tâm Phục vụ hành chính công tỉnh Cà Mau" in front and all(name in front for name in names)
    signed_in(client, "admin")
    pages = sorted(rule.rule for rule in app.url_map.iter_rules()
                   if rule.endpoint.startswith("console.") and "GET" in (rule.methods or ()) and not rule.arguments
                   and rule.endpoint not in ("console.login", "console.logout"))
    assert "/console/grid" in pages and "/console/admin/offices" in pages
    queries = {"/console/reports/quarterly.csv": "?year=2027&quarter=1"}  # the form's answer, not a page
    for page in pages:
        assert client.get(page + queries.get(page, ""), follow_redirects=True).status_code == 200, page
    listing = client.get("/console/admin/offices").get_data(as_text=True)
    assert all(f">{code}<" in listing for code in ("CM-TTHCC", "CM-NAMCAN", "CM-AXUYEN", "CM-DAMDOI"))
