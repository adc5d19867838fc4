"""The webhook URL a submission carries, and whether webhooks are arriving.

Apiframe's webhook payloads carry no timestamp and no delivery id (reference §13.2), so the
signature alone cannot tell a fresh event from a captured one. The URL the bot hands Apiframe
therefore names the bot's own job and carries a token, an HMAC of that job id under a key
derived from the Apiframe API key: a delivery is taken only for a URL the bot issued, for
the Apiframe job that URL was issued to, while that job is still in flight (see webhooks.py).

Health is what lets polling slow down: webhooks count as healthy while a verified one arrived
within ``quiet`` (and, optimistically, for ``quiet`` after the listener starts, so the first
jobs are not polled at full rate while waiting for the first proof). Once they stop, polling
returns to its normal interval: the scheduler never puts a poll later than the end of the
healthy window plus one normal interval.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

from pydantic import SecretStr

from bot.clock import Clock

#: The receiving route, on the listener and under ``[web] public_url``.
WEBHOOK_PATH = "/webhooks/apiframe"
#: The events every submission asks for.
WEBHOOK_EVENTS: tuple[Literal["progress", "completed", "failed"], ...] = (
    "progress", "completed", "failed")
# Separates this use of the API key from Apiframe's own signing secret (SHA-256 of the key).
_LABEL = b"sora-bot webhook url token v1\x00"


class WebhookLink:
    """Issues and checks per-job webhook URLs, and tracks whether webhooks arrive."""

    def __init__(
        self, *, public_url: str, api_key: SecretStr, clock: Clock, quiet: timedelta
    ) -> None:
        self._base = public_url.rstrip("/") + WEBHOOK_PATH
        self._key = hashlib.sha256(_LABEL + api_key.get_secret_value().encode("utf-8")).digest()
        self._clock, self._quiet = clock, quiet
        self._since: datetime | None = None  # when the listener started taking webhooks
        self._last: datetime | None = None

    def token(self, job_id: str) -> str:
        return hmac.new(self._key, job_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def url_for(self, job_id: str) -> str:
        """The ``webhookUrl`` for the bot's job ``job_id`` (never logged: it holds a token)."""
        return f"{self._base}?{urlencode({'job': job_id, 'token': self.token(job_id)})}"

    def check(self, job_id: str, token: str) -> bool:
        return hmac.compare_digest(self.token(job_id), token)

    # -- health ------------------------------------------------------------------------------

    def listening(self) -> None:
        """The listener is up: webhooks are presumed healthy until ``quiet`` passes."""
        self._since = self._clock()

    def stopped(self) -> None:
        self._since = self._last = None

    def received(self) -> None:
        """A verified webhook for one of the bot's jobs arrived."""
        self._last = self._clock()

    def healthy_for(self) -> timedelta:
        """How much longer webhooks count as healthy without another one (zero: not now)."""
        if self._since is None:
            return timedelta(0)
        latest = max(self._since, self._last or self._since)
        return max(timedelta(0), latest + self._quiet - self._clock())

    def healthy(self) -> bool:
        return self.healthy_for() > timedelta(0)
