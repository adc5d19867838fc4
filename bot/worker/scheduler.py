"""One scheduler for every unfinished job.

The database is the queue: each job's state and ``next_action_at`` say what to do next and
when, so a restarted process simply carries on where the killed one stopped. Each step is
idempotent against its own retry: submission reuses the job's Idempotency-Key, state changes
are conditional writes, the refund is unique per job in the ledger, and Discord posts either
edit the original response or carry an enforced nonce; and before a result is downloaded again,
the post an earlier attempt began is looked for (bot/delivery/evidence.py), so a stop between
Discord accepting a video and the job recording it never turns into a refund.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from datetime import datetime, timedelta
from pathlib import Path

import discord

from bot.apiframe.client import (
    ApiframeClient,
    ApiframeError,
    AuthError,
    DownloadRefused,
    InsufficientCredits,
    NotFound,
    RateLimited,
    ResponseTooLarge,
    SoraParams,
    ValidationFailed,
)
from bot.clock import Clock
from bot.config import Settings
from bot.delivery import render
from bot.delivery.evidence import Evidence
from bot.delivery.publisher import JobPublisher
from bot.jobs.events import EventKind, JobEvent, event_from_job
from bot.jobs.model import FailureKind, Job, JobState
from bot.jobs.store import JobStore

log = logging.getLogger(__name__)

#: Longest pause between two scans of the queue, even when nothing seems due.
MAX_IDLE = timedelta(seconds=5)
#: Longest back-off between retries of one step.
MAX_BACKOFF = timedelta(minutes=2)
#: Failed downloads before a finished video is posted as a link instead.
MAX_DOWNLOAD_ATTEMPTS = 5
#: Failed posts to Discord before the bot gives up on showing a result or a failure notice
#: (the money side is already settled by then; the log keeps the job id and the link).
MAX_POST_ATTEMPTS = 12
#: Attempts to check whether an earlier post landed before the job is held for a moderator.
MAX_LOOKUP_ATTEMPTS = 5


class JobScheduler:
    def __init__(
        self,
        *,
        store: JobStore,
        apiframe: ApiframeClient,
        publisher: JobPublisher,
        settings: Settings,
        workdir: Path,
        clock: Clock,
    ) -> None:
        self._store, self._apiframe, self._publisher = store, apiframe, publisher
        self.publisher = publisher
        self._settings, self._workdir, self._clock = settings, workdir, clock
        self._poll = timedelta(seconds=settings.apiframe.poll_interval_seconds)
        self._progress_every = timedelta(seconds=settings.jobs.progress_edit_interval_seconds)
        self._margin = timedelta(seconds=settings.jobs.token_margin_seconds)
        self._grace = timedelta(seconds=settings.jobs.token_grace_seconds)
        self._limit = asyncio.Semaphore(settings.jobs.max_concurrent_work)
        self._wake = asyncio.Event()
        self._active: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._loop_task is None:
            self._workdir.mkdir(parents=True, exist_ok=True)
            for stale in self._workdir.glob("*.mp4*"):
                stale.unlink(missing_ok=True)  # a download cut short by a crash
            self._loop_task = asyncio.create_task(self._run(), name="job-scheduler")

    def wake(self) -> None:
        """Look at the queue now (a job was created or an event arrived)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop taking work and cancel steps in progress; the database keeps their place."""
        tasks = [t for t in (self._loop_task, *self._active.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._dispatch_due()
                delay = await self._idle_delay()
            except Exception:
                log.exception("job scheduler: scan failed; retrying")
                delay = 1.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _dispatch_due(self) -> None:
        capacity = self._settings.jobs.max_concurrent_work * 4
        for job in await self._store.due(limit=capacity):
            if job.id not in self._active:
                task = asyncio.create_task(self._step(job), name=f"job-{job.id}")
                self._active[job.id] = task
                task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._active.pop(job_id, None)
        self._wake.set()

    async def _idle_delay(self) -> float:
        # Steps under way keep their past due time until they finish (and wake the loop);
        # counting them would spin the loop for as long as a slow request takes.
        upcoming = await self._store.next_due_at(exclude=tuple(self._active))
        if upcoming is None:
            return MAX_IDLE.total_seconds()
        seconds = (upcoming - self._clock()).total_seconds()
        return max(0.05, min(seconds, MAX_IDLE.total_seconds()))

    # -- one step of one job ----------------------------------------------------------------

    async def _step(self, job: Job) -> None:
        async with self._limit:
            fresh = await self._store.get(job.id)  # another step may have moved it meanwhile
            if fresh is None or fresh.next_action_at > self._clock():
                return
            try:
                await self._advance(fresh)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job %s: step in state %s failed; will retry", fresh.id, fresh.state)
                await self._store.reschedule(fresh, self._backoff(fresh))

    async def _advance(self, job: Job) -> None:
        if job.state is JobState.RESERVED:
            await self._submit(job)
        elif job.state is JobState.SUBMITTED:
            await self._poll_once(job)
        elif job.state is JobState.COMPLETED:
            await self._deliver(job)
        elif job.state is JobState.FAILED:
            await self._refund(job)
        elif job.state is JobState.REFUNDED and job.notified_at is None:
            await self._notify(job)

    def _backoff(self, job: Job, at_least: float = 0.0) -> datetime:
        base = self._poll.total_seconds() * (2 ** min(job.attempts, 6))
        seconds = min(max(base, at_least), MAX_BACKOFF.total_seconds())
        return self._clock() + timedelta(seconds=seconds * random.uniform(0.8, 1.2))

    async def _submit(self, job: Job) -> None:
        if self._clock() >= job.deadline_at:
            await self._fail(job, FailureKind.PROVIDER_UNAVAILABLE, "gave up submitting")
            return
        params = SoraParams.model_validate({
            "duration": job.duration, "aspect_ratio": job.aspect_ratio,
            "resolution": job.resolution, "start_image": job.start_image_url,
        })
        try:
            accepted = await self._apiframe.generate(
                prompt=job.prompt, model=job.model, sora_params=params,
                idempotency_key=job.idempotency_key,
            )
        except ValidationFailed as exc:
            await self._fail(job, FailureKind.REJECTED, f"{exc} {exc.details}")
        except InsufficientCredits as exc:
            await self._fail(job, FailureKind.PROVIDER_OUT_OF_CREDITS, str(exc))
        except AuthError as exc:
            await self._fail(job, FailureKind.PROVIDER_UNAVAILABLE, str(exc))
        except RateLimited as exc:
            log.warning("job %s: submit rate limited; retrying", job.id)
            await self._store.reschedule(job, self._backoff(job, exc.retry_after or 0.0))
        except ApiframeError as exc:
            log.warning("job %s: submit failed (%s); retrying", job.id, exc)
            await self._store.reschedule(job, self._backoff(job))
        else:
            submitted = await self._store.mark_submitted(
                job.id, accepted.job_id, self._clock() + self._poll
            )
            if submitted is not None:
                log.info("job %s: submitted as Apiframe job %s", job.id, accepted.job_id)
                await self._show_progress(submitted, force=True)

    async def _poll_once(self, job: Job) -> None:
        assert job.apiframe_job_id is not None
        if self._clock() >= job.deadline_at:
            # Refunded here, but Apiframe may still finish (and bill) it: name its job so the
            # operator can reconcile (the refund's audit event names it too).
            log.warning("job %s: overall timeout reached while Apiframe job %s was still"
                        " running; refunding (the provider may still bill it)",
                        job.id, job.apiframe_job_id)
            await self._fail(job, FailureKind.TIMEOUT, "overall timeout reached")
            return
        try:
            remote = await self._apiframe.get_job(job.apiframe_job_id)
        except NotFound as exc:
            await self._fail(job, FailureKind.PROVIDER_ERROR, f"job vanished: {exc}")
            return
        except RateLimited as exc:
            await self._store.reschedule(job, self._backoff(job, exc.retry_after or 0.0))
            return
        except ApiframeError as exc:
            log.warning("job %s: poll failed (%s); backing off", job.id, exc)
            await self._store.reschedule(job, self._backoff(job))
            return
        await self.apply_event(event_from_job(remote))

    async def apply_event(self, event: JobEvent) -> None:
        """Apply one job event (from a poll, later also from a webhook) to the job store."""
        job = await self._store.by_apiframe_id(event.apiframe_job_id)
        if job is None:
            log.warning("event for unknown Apiframe job %s ignored", event.apiframe_job_id)
            return
        if event.kind is EventKind.PROGRESS:
            updated = await self._store.record_progress(
                job.id, event.progress or 0, self._clock() + self._poll
            )
            if updated is not None:
                await self._show_progress(updated)
        elif event.kind is EventKind.COMPLETED:
            assert event.result_url is not None
            if await self._store.mark_completed(job.id, event.result_url) is not None:
                log.info("job %s: completed", job.id)
                self.wake()
        else:
            failure = event.failure or FailureKind.PROVIDER_ERROR
            done = await self._store.mark_failed(job.id, failure, event.detail,
                                                 expected=(JobState.SUBMITTED,))
            if done is not None:
                log.warning("job %s: failed (%s): %s", job.id, failure, event.detail)
                self.wake()

    async def _show_progress(self, job: Job, *, force: bool = False) -> None:
        now = self._clock()
        shown = job.progress_shown_at
        if not force and shown is not None and now - shown < self._progress_every:
            return
        if await self._publisher.show_progress(job, render.status_embed(job, now)):
            await self._store.mark_progress_shown(job.id)

    async def _outcome_route_ready(self, job: Job) -> Job | None:
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

    async def _deliver(self, job: Job) -> None:
        # A post begun by an earlier attempt may have landed without being recorded (a stop
        # or a failed write in between): look for it before downloading again, because the
        # link may have expired since and its 404 must not refund a video the member has.
        posted_before = job.result_post_at is not None or job.token_post_at is not None
        ready = await self._outcome_route_ready(job)
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
        note: str | None = None
        limit = min(job.attachment_size_limit, self._settings.jobs.max_result_bytes)
        try:
            await self._apiframe.download_to(job.result_url, path, max_bytes=limit)
            video = path
        except ResponseTooLarge:
            note = render.link_note_too_large(limit)
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
            note = render.link_note_unavailable()
        job = await self._store.mark_result_post(job) or job
        try:
            delivered = await self._publisher.deliver(
                job, video=video, embed=render.result_embed(job), note=note
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

    async def _fail(self, job: Job, kind: FailureKind, detail: str) -> None:
        if await self._store.mark_failed(job.id, kind, detail, expected=(job.state,)):
            log.warning("job %s: failed (%s): %s", job.id, kind, detail)
            self.wake()

    async def _refund(self, job: Job) -> None:
        refunded = await self._store.refund(job)
        if refunded is not None:
            log.info("job %s: refunded %d credits", job.id, job.price)
            await self._notify(refunded)

    async def _notify(self, job: Job) -> None:
        ready = await self._outcome_route_ready(job)
        if ready is None:
            return
        job = ready
        try:
            await self._publisher.notify_failure(job, render.failure_text(job))
        except (discord.HTTPException, OSError) as exc:
            if job.attempts + 1 < MAX_POST_ATTEMPTS:
                log.warning("job %s: failure notice not posted (%s); retrying", job.id, exc)
                await self._store.reschedule(job, self._backoff(job))
                return
            log.error("job %s: failure notice could not be posted (%s)", job.id, exc)
        await self._store.mark_notified(job.id)
