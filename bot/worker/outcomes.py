"""Showing a job's outcome: the finished video, or the notice that it failed and was refunded.

The scheduler (bot/worker/scheduler.py) decides when a job's outcome is due; this decides how,
and what to do when the result link or Discord does not cooperate. Before a result is
downloaded again, the post an earlier attempt began is looked for (bot/delivery/evidence.py),
so a stop between Discord accepting a video and the job recording it never turns into a refund.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import discord

from bot.apiframe.client import (
    ApiframeClient,
    ApiframeError,
    DownloadRefused,
    NotFound,
    ResponseTooLarge,
)
from bot.catalog.lineup import Lineup
from bot.clock import Clock
from bot.delivery import render
from bot.delivery.cards import LinkNote
from bot.delivery.evidence import Evidence
from bot.delivery.publisher import JobPublisher
from bot.jobs.model import FailureKind, Job
from bot.jobs.store import JobStore

log = logging.getLogger(__name__)

#: Failed downloads before a finished video is posted as a link instead.
MAX_DOWNLOAD_ATTEMPTS = 5
#: Failed posts to Discord before the bot gives up on showing a result or a failure notice
#: (the money side is already settled by then; the log keeps the job id and the link).
MAX_POST_ATTEMPTS = 12
#: Attempts to check whether an earlier post landed before the job is held for a moderator.
MAX_LOOKUP_ATTEMPTS = 5
#: A file in the download folder untouched this long is a dead process's leftover.
STALE_DOWNLOAD = timedelta(hours=1)


class Outcomes:
    """Delivers results and failure notices; retries go back to the scheduler's queue."""

    def __init__(
        self,
        *,
        store: JobStore,
        apiframe: ApiframeClient,
        publisher: JobPublisher,
        clock: Clock,
        workdir: Path,
        max_result_bytes: int,
        token_margin: timedelta,
        token_grace: timedelta,
        backoff: Callable[[Job], datetime],
        fail: Callable[[Job, FailureKind, str], Awaitable[None]],
        usable_models: Callable[[int], Awaitable[Sequence[str]]],
        lineup: Lineup,
        strike: Callable[[Job], Awaitable[str | None]] | None = None,
    ) -> None:
        """``strike(job)``: count a content-policy refusal against the requester (once per
        job, however often it is called) and return a sentence for the notice, if any."""
        self._store, self._apiframe, self._publisher = store, apiframe, publisher
        self._clock, self._workdir, self._max_result_bytes = clock, workdir, max_result_bytes
        self._margin, self._grace = token_margin, token_grace
        self._backoff, self._fail = backoff, fail
        self._usable_models = usable_models
        self._lineup = lineup
        self._strike = strike

    def clear_stale_downloads(self) -> None:
        """Remove downloads cut short by a crash. Another worker on this machine may be
        writing into the same folder, so only files nobody touched for a while go (a job's
        own next download replaces its leftover anyway)."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_DOWNLOAD.total_seconds()
        for stale in self._workdir.glob("*.mp4*"):
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < cutoff:
                    stale.unlink(missing_ok=True)

    async def _route_ready(self, job: Job) -> Job | None:
        """The job, marked if its outcome goes out through the token; None to wait instead.

        A run killed just after sending through the token leaves ``token_post_at`` set and
        no record of the outcome. If the token has lapsed since, Discord may still be
        applying that edit: wait out the grace period, so the publisher's look at the status
        message sees it, rather than posting a second copy in the channel.
        """
        now = self._clock()
        if job.token_usable(now, self._margin):
            return await self._store.mark_token_post(job)
        if job.token_post_at is not None and now < job.token_post_at + self._grace:
            await self._store.reschedule(job, job.token_post_at + self._grace,
                                         count_attempt=False)
            return None
        return job

    async def deliver(self, job: Job) -> None:
        # A post begun by an earlier attempt may have landed without being recorded (a stop
        # or a failed write in between): look for it before downloading again, because the
        # link may have expired since and its 404 must not refund a video the member has.
        posted_before = job.result_post_at is not None or job.token_post_at is not None
        ready = await self._route_ready(job)
        if ready is None:
            return
        job = ready
        evidence: Evidence | None = None
        if posted_before:
            evidence = await self._publisher.find_result(job)
            if evidence.message_id is not None:
                await self._record_found(job, evidence)
                return
        assert job.result_url is not None
        path = self._workdir / f"{job.id}.mp4"
        video: Path | None = None
        link: LinkNote | None = None
        limit = min(job.attachment_size_limit, self._max_result_bytes)
        try:
            await self._apiframe.download_to(job.result_url, path, max_bytes=limit)
            video = path
        except ResponseTooLarge:
            link = LinkNote(render.OVER_LIMIT, limit)
        except NotFound:
            await self._not_shown(job, evidence, FailureKind.RESULT_UNAVAILABLE,
                                  "result URL answered 404")
            return
        except DownloadRefused as exc:
            # Neither retried nor offered as a link: the URL itself is what is refused. An
            # earlier attempt's post, if one may exist, still decides before any refund.
            await self._not_shown(job, evidence, FailureKind.RESULT_REFUSED, str(exc))
            return
        except ApiframeError as exc:
            if job.attempts + 1 < MAX_DOWNLOAD_ATTEMPTS:
                log.warning("job %s: download failed (%s); retrying", job.id, exc)
                await self._store.reschedule(job, self._backoff(job))
                return
            link = LinkNote(render.UNAVAILABLE)
        job = await self._store.mark_result_post(job) or job
        try:
            # The card names the model by its label; Extend only where a frame can start one.
            offer = self._lineup.get(job.model)
            delivered = await self._publisher.deliver(
                job, video=video, offer=offer, link=link,
                extend=offer is not None and offer.takes_image,
            )
        except (discord.HTTPException, OSError) as exc:
            if job.attempts + 1 < MAX_POST_ATTEMPTS:
                log.warning("job %s: posting the result failed (%s); retrying", job.id, exc)
                await self._store.reschedule(job, self._backoff(job))
                return
            log.error("job %s: result could not be posted after %d attempts (%s); link: %s",
                      job.id, MAX_POST_ATTEMPTS, exc, job.result_url)
            # An attempt that failed on our side may still have landed on Discord's.
            await self._not_shown(job, await self._publisher.find_result(job),
                                  FailureKind.UNDELIVERABLE, f"posting failed: {exc}")
            return
        finally:
            path.unlink(missing_ok=True)
        if delivered.mode == "undeliverable":
            # Discord refused the channel and the DM for good, so this attempt showed nothing;
            # ``evidence`` (None: no earlier attempt) covers the earlier ones.
            await self._not_shown(job, evidence, FailureKind.UNDELIVERABLE,
                                  "no permission in the channel and DMs closed")
            return
        await self._store.mark_delivered(job.id, delivered.mode, delivered.message_id)
        log.info("job %s: delivered (%s)", job.id, delivered.mode)

    async def _record_found(self, job: Job, evidence: Evidence) -> None:
        if await self._store.mark_delivered(job.id, evidence.mode or "attachment",
                                            evidence.message_id) is None:
            return
        log.info("job %s: an earlier post shows the result (message %s); recorded as delivered",
                 job.id, evidence.message_id)
        await self._publisher.settle_found(job, evidence)

    async def _not_shown(
        self, job: Job, evidence: Evidence | None, kind: FailureKind, detail: str
    ) -> None:
        """The result cannot be shown (now): refund it, unless an earlier post may show it.

        ``evidence`` is what Discord showed of earlier posts (None: there were none). A member
        who never got the video does not pay for it; one who may have got it is not refunded
        on a guess either: the job is held as ``unconfirmed`` and the audit trail asks a
        moderator to check.
        """
        if evidence is not None and evidence.message_id is not None:
            await self._record_found(job, evidence)
        elif evidence is None or evidence.certain:
            await self._fail(job, kind, detail)
        elif job.attempts + 1 < MAX_LOOKUP_ATTEMPTS:
            # Perhaps a passing error (a 5xx, a reset) kept the bot from looking: look again.
            log.warning("job %s: %s; an earlier post could not be checked yet; looking again",
                        job.id, detail)
            await self._store.reschedule(job, self._backoff(job))
        elif await self._store.mark_delivered(job.id, "unconfirmed", None) is not None:
            log.warning("job %s: %s, and an earlier post may have landed in channel %s (the"
                        " bot cannot read its history to check); not refunded, left to a"
                        " moderator", job.id, detail, job.channel_id)

    async def notify(self, job: Job) -> None:
        ready = await self._route_ready(job)
        if ready is None:
            return
        job = ready
        usable = (await self._usable_models(job.guild_id)
                  if job.failure_kind is FailureKind.MODEL_RETIRED else None)
        note = None
        if job.failure_kind is FailureKind.CONTENT_POLICY and self._strike is not None:
            # Before the notice: a stop in between counts it on the next pass (once: the job
            # id is the strike's key), and the notice can say a cooldown began.
            note = await self._strike(job)
        try:
            await self._publisher.notify_failure(job, offer=self._lineup.get(job.model),
                                                 usable=usable, note=note)
        except (discord.HTTPException, OSError) as exc:
            if job.attempts + 1 < MAX_POST_ATTEMPTS:
                log.warning("job %s: failure notice not posted (%s); retrying", job.id, exc)
                await self._store.reschedule(job, self._backoff(job))
                return
            log.error("job %s: failure notice could not be posted (%s)", job.id, exc)
        await self._store.mark_notified(job.id)
