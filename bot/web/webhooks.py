"""``POST /webhooks/apiframe``: Apiframe's job events, applied as a poll's would be.

What is refused, in this order, with nothing changed:

- a body over ``[web] max_body_bytes``: 413, before it is read (by its Content-Length, or
  while reading one sent without);
- a missing or wrong ``X-Webhook-Signature`` (HMAC of the raw body, bot/apiframe/webhooks.py):
  401;
- a body that is not a JSON job event: 400;
- a URL the bot did not issue (no or wrong ``job``/``token``, bot/web/link.py), an unknown
  job, or an event about another Apiframe job than the one that URL was issued to: 404.

Payloads carry no timestamp or delivery id, so replays are stopped by state instead: an event
is applied only to a job still in flight (submitted, not finished), a progress event only when
it moves progress forward, and every change is the store's conditional write, the same one the
poller makes. A replayed or late event for a finished job, a repeated one, or one racing a poll
is answered 200 (so Apiframe stops retrying) and changes nothing. An event that arrives before
the bot has recorded the job's submission is answered 503: polling picks that job up anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from pydantic import SecretStr

from bot.apiframe.webhooks import SIGNATURE_HEADER, verify_signature
from bot.jobs.events import EventKind, JobEvent, event_from_webhook
from bot.jobs.model import JobState
from bot.jobs.store import JobStore
from bot.web.link import WEBHOOK_PATH, WebhookLink

log = logging.getLogger(__name__)


def _answer(status: int, reason: str, *, applied: bool = False) -> web.Response:
    return web.json_response({"applied": applied, "reason": reason}, status=status)


class WebhookReceiver:
    """Verifies one delivery and hands its event to ``apply`` (the scheduler's apply_event)."""

    def __init__(
        self, *, api_key: SecretStr, link: WebhookLink, store: JobStore,
        apply: Callable[[JobEvent], Awaitable[None]], max_body_bytes: int,
    ) -> None:
        self._key, self._link, self._store, self._apply = api_key, link, store, apply
        self._max = max_body_bytes

    def routes(self) -> list[web.RouteDef]:
        return [web.post(WEBHOOK_PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self._max:
            return _answer(413, "body too large")
        try:
            body = await request.read()  # stops at the app's client_max_size
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, "body too large")
        if len(body) > self._max:
            return _answer(413, "body too large")
        if not verify_signature(self._key, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("webhook refused: missing or bad signature (is [apiframe] api_key the"
                        " key that submitted the job?)")
            return _answer(401, "bad signature")
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            event = event_from_webhook(data)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            log.warning("webhook refused: malformed body (%s)", type(exc).__name__)
            return _answer(400, "malformed event")
        return await self._take(request, event)

    async def _take(self, request: web.Request, event: JobEvent) -> web.Response:
        job_id = request.query.get("job", "")
        if not job_id or not self._link.check(job_id, request.query.get("token", "")):
            log.warning("webhook refused: not a URL this bot issued")
            return _answer(404, "unknown job")
        job = await self._store.get(job_id)
        if job is None:
            return _answer(404, "unknown job")
        if job.apiframe_job_id is None:
            # Apiframe answered the submission, but the bot has not recorded it yet.
            return _answer(503, "submission not recorded yet")
        if job.apiframe_job_id != event.apiframe_job_id:
            log.warning("webhook refused: job %s's URL carried an event of another Apiframe"
                        " job", job.id)
            return _answer(404, "unknown job")
        self._link.received()
        if job.state is not JobState.SUBMITTED:
            return _answer(200, "not in flight")
        if event.kind is EventKind.PROGRESS and (event.progress or 0) <= (job.progress or 0):
            return _answer(200, "no news")
        await self._apply(event)
        log.debug("job %s: webhook %s applied", job.id, event.kind)
        return _answer(200, "applied", applied=True)
