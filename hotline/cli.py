"""Command-line tools: `flask --app wsgi db|demo|users|offices …`, so operations can be scripted."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import force_locale, format_date, gettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.security import generate_password_hash

from accounts.models import Role, User
from accounts.tokens import issue_token
from accounts.users import create_user
from actions.demo import load_demo
from actions.provinces import import_province
from booking.availability import office_availability
from booking.errors import BookingError
from booking.models import Office
from booking.provinces import Change
from config.settings import kept_in_instance
from database import schema
from hotline.runtime import runtime
from hotline.simulator import call_group


def require_current_schema() -> None:
    """Commands other than `db` need a current schema, as the server does."""
    try:
        schema.ensure_current(runtime().engine)
    except schema.SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from exc


def _fail(error: BookingError) -> click.ClickException:
    return click.ClickException(error.render(gettext))


@click.group("db", help="Database schema (Alembic migrations).", cls=AppGroup)
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Bring the schema up to REVISION (default: the newest)."""
    schema.upgrade(runtime().engine, revision)
    click.echo(f"Schema at {schema.current_revision(runtime().engine)}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Take the schema back to REVISION (e.g. -1, or base to drop everything)."""
    schema.downgrade(runtime().engine, revision)
    click.echo(f"Schema at {schema.current_revision(runtime().engine) or 'base'}")


@db_group.command("current")
def db_current() -> None:
    """Show the schema's revision and whether it is the newest."""
    current, head = schema.current_revision(runtime().engine), schema.head_revision()
    click.echo(f"{current or 'none'} ({'up to date' if current == head else f'behind; newest is {head}'})")


@click.group("demo", help="Demonstration data.", cls=AppGroup)
def demo_group() -> None:
    pass


@demo_group.command("load")
def demo_load() -> None:
    """Load Cà Mau's 65 public administration service centres and some procedures (safe to run again)."""
    require_current_schema()
    rt = runtime()
    with rt.transaction() as session:
        added = load_demo(session, now=rt.now())
    click.echo(f"Demo data: {added['offices']} offices and {added['procedures']} procedures added.")
    if added["updated"]:
        click.echo(f"{added['updated']} offices brought in line with the register.")


# The demo's staff, one of each role, so that a newcomer who ran run.sh can sign in at once.
DEMO_ACCOUNTS = (("quantri", Role.ADMIN, "Quản trị (demo)", ()),
                 ("tongdai", Role.OPERATOR, "Tổng đài viên (demo)", ()),
                 ("namcan", Role.MANAGER, "Quản lý xã Năm Căn (demo)", ("CM-NAMCAN",)))


@demo_group.command("accounts")
def demo_accounts() -> None:
    """Staff accounts for trying the console (development only): an administrator, an operator, a manager.

    They share one password, made once and kept in the instance folder like the development secret
    key, so it is never in the repository and survives restarts; production refuses the command.
    """
    require_current_schema()
    rt = runtime()
    if rt.settings.is_production:
        raise click.ClickException("Demo accounts are for development; create real ones with 'users create'.")
    password = kept_in_instance(rt.settings.instance_path, "dev_console_password", 6)
    made = []
    with rt.transaction() as session:
        for username, role, display_name, offices in DEMO_ACCOUNTS:
            if session.scalar(select(User.id).where(User.username == username)) is None:
                create_user(session, username=username, password_hash=generate_password_hash(password), role=role,
                            now=rt.now(), display_name=display_name, office_codes=offices)
                made.append(username)
    if made:
        click.echo(f"Demo accounts created: {', '.join(made)}.")
    click.echo(f"Console: /console/ as quantri (admin), tongdai (operator) or namcan (manager of xã Năm Căn), "
               f"password {password} (kept in {rt.settings.instance_path / 'dev_console_password'}).")


@click.group("users", help="Staff accounts.", cls=AppGroup)
def users_group() -> None:
    pass


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", default="", help="Name shown in the console.")
@click.option("--office", "offices", multiple=True, help="Office code a manager runs (repeatable).")
def users_create(username: str, role: str, display_name: str, offices: tuple[str, ...]) -> None:
    """Create a user; the password comes from $PASSWORD or a prompt."""
    require_current_schema()
    password = os.environ.get("PASSWORD") or click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise click.ClickException("The password must have at least 10 characters.")
    rt = runtime()
    try:
        with rt.transaction() as session:
            user = create_user(session, username=username, password_hash=generate_password_hash(password),
                               role=Role(role), now=rt.now(), display_name=display_name, office_codes=offices)
            click.echo(f"Created {user.role.value} {user.username}.")
    except BookingError as exc:
        raise _fail(exc) from exc


@click.group("tokens", help="API tokens for integrations.", cls=AppGroup)
def tokens_group() -> None:
    pass


@tokens_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice([Role.OPERATOR.value, Role.ADMIN.value]), default=Role.OPERATOR.value,
              show_default=True, help="operator: bookings; admin: also office settings.")
def tokens_create(name: str, role: str) -> None:
    """Create a token and print it once (only its hash is stored)."""
    require_current_schema()
    rt = runtime()
    try:
        with rt.transaction() as session:
            _, text = issue_token(session, name=name, role=Role(role), created_by="cli", now=rt.now())
    except BookingError as exc:
        raise _fail(exc) from exc
    click.echo(text)


@click.group("offices", help="Offices and their availability.", cls=AppGroup)
def offices_group() -> None:
    pass


@offices_group.command("list")
def offices_list() -> None:
    """List the offices with their keypad numbers and limits."""
    require_current_schema()
    with runtime().reading() as session:
        for office in session.scalars(select(Office).order_by(Office.keypad_number, Office.id)):
            state = "" if office.active else "  (inactive)"
            click.echo(f"{office.keypad_number or '-':>3}  {office.code:<14} {office.name}  "
                       f"[crowd {office.crowd_limit}, window {office.window_minutes} min, "
                       f"horizon {office.horizon_days} d]{state}")


@offices_group.command("import-province")
@click.argument("code")
@click.option("--dry-run", is_flag=True, help="Only say what would change.")
@click.option("--code-prefix", help="Start of the new offices' codes (default: the province's name, e.g. CAMAU).")
def offices_import_province(code: str, dry_run: bool, code_prefix: str | None) -> None:
    """Bring the offices in line with province CODE's official register (e.g. 96 for Cà Mau): a centre for the
    province and each ward and commune. Safe to run again; offices the register dropped are deactivated."""
    require_current_schema()
    rt = runtime()
    try:
        with rt.reading() if dry_run else rt.transaction() as session:
            result = import_province(session, province_code=code, actor="system", now=rt.now(), dry_run=dry_run,
                                     code_prefix=code_prefix)
    except BookingError as exc:
        raise _fail(exc) from exc
    for step in result.steps:
        click.echo(f"{step.change.value:<10}  {step.code:<20} {step.official_code:>5}  "
                   f"{step.after.get('name', '')}".rstrip())
    counts = ", ".join(f"{result.count(change)} {change.value}" for change in Change)
    verb = "would change" if dry_run else "changed"
    click.echo(f"{result.province.name}: {result.units} units in the register; {verb}: {counts}.")


@offices_group.command("availability")
@click.argument("code")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (default: today).")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 62))
def offices_availability(code: str, start: datetime | None, days: int) -> None:
    """Seats left per session and arrival window for office CODE."""
    require_current_schema()
    rt = runtime()
    now = rt.now()
    first: date = start.date() if start else now.astimezone(rt.settings.tz).date()
    with rt.reading() as session, force_locale(rt.settings.default_language):
        office = session.scalar(select(Office).where(Office.code == code).options(selectinload(Office.templates)))
        if office is None:
            raise click.ClickException(f"No office has the code {code}.")
        for day in office_availability(session, office, first, first + timedelta(days=days - 1), now=now,
                                       policy=rt.policy):
            label = format_date(day.date, "full")
            if day.closed_reason:
                click.echo(f"{label}: {gettext('Closed')} ({day.closed_reason})")
                continue
            if not day.sessions:
                click.echo(f"{label}: {gettext('No sessions')}")
            for room in day.sessions:
                windows = " ".join(f"{w.start:%H:%M}:{w.remaining}" for w in room.windows)
                flag = "" if room.bookable else f" ({gettext('No longer bookable')})"
                click.echo(f"{label} {room.code} {room.start:%H:%M}-{room.end:%H:%M}: "
                           f"{room.remaining}/{room.capacity}{flag}  [{windows}]")


def register(app: Flask) -> None:
    for group in (db_group, demo_group, users_group, offices_group, call_group, tokens_group):
        app.cli.add_command(group)
