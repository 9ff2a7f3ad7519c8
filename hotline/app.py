"""The application factory: one function builds the whole app from explicit settings."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask

from booking.policy import BookingPolicy
from config import Settings
from database.engine import make_engine, make_session_factory
from database.schema import ensure_current
from hotline import logs, metrics, security
from hotline.messaging import sms_policy
from hotline.runtime import Runtime


def create_app(settings: Settings | None = None, *, check_schema: bool | None = None) -> Flask:
    """Build the app. Settings come from the environment unless given (tests give their own).

    Outside the `flask` command the app refuses to start on a database whose schema is behind,
    naming the command that upgrades it. Under the `flask` command the check is left to the
    commands themselves, since `flask db upgrade` has to load the app to fix exactly that.
    """
    settings = settings or Settings.from_env()
    logs.configure_logging(settings.log_style, settings.log_level)
    app = Flask(__name__, instance_path=str(settings.instance_path), instance_relative_config=False)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Flask declares wsgi_app a method; replacing it is how Flask documents ProxyFix.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies, x_host=settings.trusted_proxies)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),  # one working day
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.is_production,
        WTF_CSRF_TIME_LIMIT=8 * 3600,
    )
    engine = make_engine(settings.database_url)
    app.extensions["hotline"] = Runtime(settings=settings, engine=engine, sessions=make_session_factory(engine),
                                        readers=make_session_factory(engine, read_only=True),
                                        policy=BookingPolicy.from_settings(settings), sms=sms_policy(settings))
    # First of the request hooks, so that every later one (CSRF, sign-in) logs with the request's id.
    logs.init_app(app)
    metrics.init_app(app)
    metrics.watch_bookings(app.extensions["hotline"].sessions)
    security.init_app(app, production=settings.is_production)
    if check_schema is None:
        check_schema = click.get_current_context(silent=True) is None
    if check_schema:
        ensure_current(engine)

    from hotline.i18n import init_babel

    init_babel(app, settings.instance_path, settings.default_language, settings.timezone)

    from hotline import broadcast_cli, catalogue, cli, errors, public, scheduler, sms_webhooks, zalo_webhooks
    from flask_wtf.csrf import CSRFProtect

    from hotline.api import views as api
    from hotline.auth import init_auth
    from hotline import console
    from hotline.ivr import webhooks
    from hotline import waitlist_calls
    from hotline import campaign_calls

    init_auth(app)
    csrf = CSRFProtect(app)
    # Webhooks prove their origin by their provider's signature (Twilio's, Zalo's), the API by tokens (and JSON bodies, which
    # no cross-site form can send); everything else that changes state needs the CSRF token.
    for exempt in (webhooks.blueprint, sms_webhooks.blueprint, zalo_webhooks.blueprint, api.blueprint,
                   waitlist_calls.blueprint, campaign_calls.blueprint):
        csrf.exempt(exempt)

    errors.register(app)
    app.register_blueprint(public.blueprint)
    app.register_blueprint(catalogue.blueprint)
    from hotline import display
    app.register_blueprint(display.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(waitlist_calls.blueprint)
    app.register_blueprint(campaign_calls.blueprint)
    app.register_blueprint(sms_webhooks.blueprint)
    app.register_blueprint(zalo_webhooks.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(console.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.cli.add_command(scheduler.scheduler_group)
    app.cli.add_command(scheduler.sms_group)
    app.cli.add_command(broadcast_cli.broadcasts_group)
    cli.register(app)
    return app
