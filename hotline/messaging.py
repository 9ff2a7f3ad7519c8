"""Building the SMS machinery from settings: the policy, the sender and the dispatcher's limits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session, sessionmaker

from config import Settings
from notifications.dispatcher import DispatchConfig
from notifications.esms import EsmsSender, callback_token
from notifications.models import MessageKind
from notifications.policy import SmsPolicy
from notifications.senders import LogSender, Sender, TwilioSender
from notifications.zalo import ZaloFirstSender, ZnsSender
from notifications.zalo_tokens import ZaloTokens


def sms_policy(settings: Settings) -> SmsPolicy:
    start, end = settings.quiet_hours
    kinds = frozenset(MessageKind(k.strip()) for k in settings.sms_urgent_kinds.split(",") if k.strip())
    return SmsPolicy(timezone=settings.tz, brandname=settings.sms_brandname, diacritics=settings.sms_diacritics,
                     max_segments=settings.sms_max_segments, quiet_start=start, quiet_end=end, urgent_kinds=kinds,
                     hotline=settings.hotline_number, replies=settings.sms_replies)


def make_sender(settings: Settings) -> Sender:
    if settings.sms_sender == "esms":
        return EsmsSender(api_key=settings.esms_api_key, secret_key=settings.esms_secret_key,
                          brandname=settings.sms_sender_name, base_url=settings.esms_base_url,
                          sandbox=settings.esms_sandbox, request_prefix=settings.esms_request_prefix)
    use_twilio = settings.sms_sender == "twilio" or (settings.sms_sender == "auto" and settings.twilio_account_sid)
    if not use_twilio:
        return LogSender()
    # With neither a number nor a Messaging Service, the province's sender ID (brandname) sends.
    return TwilioSender(account_sid=settings.twilio_account_sid, auth_token=settings.twilio_auth_token,
                        from_=settings.twilio_from or settings.sms_sender_name,
                        messaging_service_sid=settings.twilio_messaging_service_sid,
                        base_url=settings.twilio_api_base_url)


def with_zalo(settings: Settings, sms: Sender, *, sessions: sessionmaker[Session] | None = None,
              now: Callable[[], datetime] | None = None) -> Sender:
    """The SMS sender, behind Zalo (ZNS) for the kinds with a template when ZALO_ZNS_ENABLED is on.

    With ZALO_REFRESH_TOKEN the access token is kept in (and refreshed through) the database of `sessions`.
    """
    if not settings.zalo_zns_enabled:
        return sms
    tokens = None
    if settings.zalo_refresh_token:
        if sessions is None or now is None:
            raise ValueError("refreshing the Zalo token needs the database and the clock")
        tokens = ZaloTokens(sessions, app_id=settings.zalo_app_id, app_secret=settings.zalo_app_secret,
                            refresh_token=settings.zalo_refresh_token, now=now, oauth_url=settings.zalo_oauth_url)
    zalo = ZnsSender(access_token=settings.zalo_access_token, tokens=tokens, templates=settings.zalo_template_ids,
                     base_url=settings.zalo_api_base_url)
    return ZaloFirstSender(zalo, sms)


def status_callback(settings: Settings) -> Callable[[int], str] | None:
    """Where the provider chosen reports on each message, when the public URL is known.

    Twilio signs its reports to /sms/status?m=ID. eSMS signs nothing and appends its own query
    to the URL it is given, so the message's id and a token only we can make are in the path.
    """
    base = settings.public_base_url.rstrip("/")
    if not base:
        return None
    if settings.sms_sender == "esms":
        return lambda message_id: (f"{base}/sms/esms/status/{message_id}/"
                                   f"{callback_token(settings.secret_key, message_id)}")
    return lambda message_id: f"{base}/sms/status?m={message_id}"


def dispatch_config(settings: Settings) -> DispatchConfig:
    return DispatchConfig(batch=settings.sms_batch, rate=settings.sms_rate, concurrency=settings.sms_concurrency,
                          max_attempts=settings.sms_max_attempts,
                          backoff=timedelta(seconds=settings.sms_backoff_seconds),
                          backoff_cap=timedelta(seconds=settings.sms_backoff_cap_seconds),
                          lease=timedelta(seconds=settings.sms_lease_seconds))


def reminder_times(settings: Settings) -> tuple[time | None, timedelta | None]:
    evening = time.fromisoformat(settings.sms_reminder_evening) if settings.sms_reminder_evening else None
    before = timedelta(minutes=settings.sms_reminder_before_minutes) if settings.sms_reminder_before_minutes else None
    return evening, before
