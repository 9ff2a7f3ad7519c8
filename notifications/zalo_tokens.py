"""The Official Account's ZNS access token, refreshed before it expires.

An OA access token lasts 25 hours; its refresh token lasts three months and can be used once
(https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new).
`POST https://oauth.zaloapp.com/v4/oa/access_token` with the app's `secret_key` header and the form
`refresh_token, app_id, grant_type=refresh_token` answers a new pair and `expires_in` (seconds).
The pair lives in one row (`zalo_tokens`), locked while it is refreshed, so that several
dispatchers share one token and never spend the same refresh token twice; the first refresh
starts from ZALO_REFRESH_TOKEN.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from notifications.http import SessionPerThread
from notifications.models import ZaloToken

log = logging.getLogger(__name__)

DEFAULT_OAUTH_URL = "https://oauth.zaloapp.com/v4/oa/access_token"
# Refresh this long before the token expires, so that no send meets an expired one.
MARGIN = timedelta(minutes=30)


class TokenUnavailable(Exception):
    """No access token could be had: Zalo refused the refresh token, or did not answer."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class ZaloTokens:
    """A callable giving the current access token; `refresh(stale)` replaces one Zalo refused."""

    def __init__(self, sessions: sessionmaker[Session], *, app_id: str, app_secret: str, refresh_token: str,
                 now: Callable[[], datetime], oauth_url: str = DEFAULT_OAUTH_URL, timeout: float = 10.0) -> None:
        self._sessions, self._app_id, self._secret, self._first = sessions, app_id, app_secret, refresh_token
        self._now, self._url, self._timeout = now, oauth_url or DEFAULT_OAUTH_URL, timeout
        self._http = SessionPerThread()
        self._lock = threading.Lock()
        self._cached: tuple[str, datetime] | None = None

    def __call__(self) -> str:
        with self._lock:
            cached = self._cached
        if cached is not None and cached[1] - MARGIN > self._now():
            return cached[0]
        return self.refresh(None)

    def refresh(self, stale: str | None) -> str:
        """A token that is not `stale` and not about to expire: the stored one if it is, else a new one."""
        with self._sessions.begin() as db:
            now = self._now()
            # The row first (an expired blank one), so that there is always one to lock: two dispatchers
            # starting together would otherwise both find none and both spend the refresh token.
            insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
            db.execute(insert(ZaloToken).values(id=1, access_token="", refresh_token="", expires_at=now,
                                                updated_at=now).on_conflict_do_nothing(index_elements=["id"]))
            row = db.scalars(select(ZaloToken).where(ZaloToken.id == 1).with_for_update()
                             .execution_options(populate_existing=True)).one()
            if row.access_token and row.access_token != stale and row.expires_at - MARGIN > now:
                token, expires = row.access_token, row.expires_at  # another dispatcher refreshed it
            else:
                # The stored refresh token first; a new one set in ZALO_REFRESH_TOKEN when Zalo refuses it.
                tried = [t for t in dict.fromkeys([row.refresh_token, self._first]) if t]
                token, refresh_token, expires = self._first_granted(tried, now)
                row.access_token, row.refresh_token, row.expires_at, row.updated_at = token, refresh_token, expires, now
                log.info("refreshed the Zalo access token", extra={"event": "zalo.token_refreshed"})
        with self._lock:
            self._cached = (token, expires)
        return token

    def _first_granted(self, refresh_tokens: list[str], now: datetime) -> tuple[str, str, datetime]:
        if not refresh_tokens:
            raise TokenUnavailable("no Zalo refresh token (ZALO_REFRESH_TOKEN)", transient=False)
        refused: TokenUnavailable | None = None
        for refresh_token in refresh_tokens:
            try:
                return self._exchange(refresh_token, now)
            except TokenUnavailable as exc:
                if exc.transient:
                    raise
                refused = exc
        assert refused is not None
        log.error("Zalo refused to refresh the access token: set a new ZALO_REFRESH_TOKEN",
                  extra={"event": "zalo.refresh_refused"})
        raise refused

    def _exchange(self, refresh_token: str, now: datetime) -> tuple[str, str, datetime]:
        try:
            answer = self._http().post(self._url, headers={"secret_key": self._secret}, timeout=self._timeout, data={
                "refresh_token": refresh_token, "app_id": self._app_id, "grant_type": "refresh_token"})
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TokenUnavailable(f"Zalo's token service did not answer: {exc}", transient=True) from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise TokenUnavailable(f"Zalo's token service answered HTTP {answer.status_code}", transient=True)
        try:
            body: Any = answer.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("access_token") and body.get("refresh_token"):
            seconds = int(body["expires_in"]) if str(body.get("expires_in", "")).isdigit() else 25 * 3600
            return str(body["access_token"]), str(body["refresh_token"]), now + timedelta(seconds=seconds)
        detail = (body.get("error_name") or body.get("error")) if isinstance(body, dict) else answer.status_code
        raise TokenUnavailable(f"Zalo refused the refresh token ({detail})", transient=False)
