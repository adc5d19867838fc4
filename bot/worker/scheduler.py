"""The one scheduler: every unfinished job, and the bot's other background duties.

Its loop (:class:`bot.duties.Duties`) also runs the audit outbox and the hold sweep, which
register their own duty; the job queue is the duty registered here.

The database is the queue: each job's state and ``next_action_at`` say what to do next and
when, so a restarted process simply carries on where the killed one stopped. Each step is
idempotent against its own retry: submission reuses the job's Idempotency-Key, state changes
are conditional writes, the refund is unique per job in the ledger, and Discord posts either
edit the original response or carry an enforced nonce. Showing a job's outcome (the video or
the failure notice, and looking for an earlier attempt's post first) is bot/worker/outcomes.py.
Submitted jobs are followed by bot/worker/poller.py, a duty of its own that reads Apiframe's
job listing for many jobs at once and hands this module the few that need a single poll. A
job is first looked at when jobs of its variant usually finish (bot/jobs/runtimes.py), then
every interval.

Any number of schedulers may share the database (bot/jobs/leases.py, bot/worker/claims.py): a
scan *claims* due jobs with a lease instead of reading them, the ``leases`` duty renews what
this process holds (and cancels a step whose lease another process took), and a step's end
releases its job. A process killed mid-step stops renewing; once its leases run out another
scheduler repeats those steps. The batched poll round is a once-only duty: one process at a
time follows every submitted job (one listing call answers for 100 jobs, so splitting them
between processes would multiply the list calls, not divide them). New work arrives through
the wake-ups port (bot/worker/wakeups.py) or, failing that, the next idle scan.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from bot.apiframe.client import (
    ApiframeClient,
    ApiframeError,
    AuthError,
    ModelUnavailable,
    NotFound,
    ProviderOutOfCredits,
    RateLimited,
    ValidationFailed,
)
from bot.catalog.options import OptionRefused
from bot.clock import Clock
from bot.config import Settings
from bot.delivery.publisher import JobPublisher
from bot.duties import Duties, Duty
from bot.jobs.events import EventKind, JobEvent, event_from_job
from bot.jobs.model import FailureKind, Job, JobState
from bot.jobs.retired import RetiredModels, operator_advice
from bot.jobs.runtimes import RunTimes, run_seconds
from bot.jobs.store import JobStore
from bot.metrics import Metrics
from bot.web.link import WEBHOOK_EVENTS, WebhookLink
from bot.worker.claims import Claims
from bot.worker.outcomes import Outcomes
from bot.worker.poller import BatchPoller
from bot.worker.wakeups import LocalWakeups, Wakeups

log = logging.getLogger(__name__)

#: Longest pause between two scans of the queue, even when nothing seems due.
MAX_IDLE = timedelta(seconds=5)
#: Pause after a scan of the queue failed (the database was busy or gone for a moment).
SCAN_RETRY_SECONDS = 1.0
#: The name of the job queue's duty.
JOBS = "jobs"
#: The name of the batched poller's duty (bot/worker/poller.py).
POLLS = "polls"
#: The name of the duty that renews this process's leases (bot/worker/claims.py).
LEASES = "leases"
#: The name of the duty that waits for wake-ups (bot/worker/wakeups.py).
WAKEUPS = "wakeups"
#: Longest back-off between retries of one step.
MAX_BACKOFF = timedelta(minutes=2)


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
        retired: RetiredModels,
        usable_models: Callable[[int], Awaitable[Sequence[str]]],
        metrics: Metrics | None = None,
        webhooks: WebhookLink | None = None,
        batched_polls: bool = True,
        wakeups: Wakeups | None = None,
        instance: str | None = None,
        run_times: RunTimes | None = None,
        strike: Callable[[Job], Awaitable[str | None]] | None = None,
    ) -> None:
        """``usable_models(guild_id)``: the labels of the models that guild may use now (the
        launch use case knows; the worker cannot import it), named when a model retires.
        ``webhooks``: submissions ask for webhooks, and polling slows while they arrive.

        ``batched_polls``: follow submitted jobs through Apiframe's job listing
        (bot/worker/poller.py); False polls each job on its own (the old path, kept as the
        benchmark's baseline).

        ``wakeups``: how new work reaches this scheduler (default: within this process).
        ``instance``: this process's name among those sharing the database, if unique to it
        (see :class:`Claims`).

        ``run_times``: how long each variant usually runs, for the status card and, with
        ``[apiframe] expected_time_polling``, for the first look at a submitted job (None:
        neither; the card guesses and jobs are looked at every interval).

        ``strike``: counts a content-policy refusal against its requester (bot/policy/
        strikes.py, wired in bot/app.py) before the notice, which gets its sentence."""
        self._store, self._apiframe, self._publisher = store, apiframe, publisher
        self._retired = retired
        self._metrics = metrics if metrics is not None else Metrics()
        self.publisher = publisher
        self._settings, self._workdir, self._clock = settings, workdir, clock
        self._poll = timedelta(seconds=settings.apiframe.poll_interval_seconds)
        self._webhooks = webhooks
        self._safety_poll = timedelta(seconds=settings.web.webhook_poll_interval_seconds)
        self._progress_every = timedelta(seconds=settings.jobs.progress_edit_interval_seconds)
        self._run_times = run_times
        self._first_look_expected = settings.apiframe.expected_time_polling
        self._outcomes = Outcomes(
            store=store, apiframe=apiframe, publisher=publisher, clock=clock, workdir=workdir,
            max_result_bytes=settings.jobs.max_result_bytes,
            token_margin=timedelta(seconds=settings.jobs.token_margin_seconds),
            token_grace=timedelta(seconds=settings.jobs.token_grace_seconds),
            backoff=self._backoff, fail=self._fail, usable_models=usable_models,
            lineup=settings.lineup, strike=strike,
        )
        self._limit = asyncio.Semaphore(settings.jobs.max_concurrent_work)
        self._active: dict[str, asyncio.Task[None]] = {}
        self._scan_failed = False
        #: This process's leases: what it holds of the shared queue.
        self.claims = Claims(store.leases, clock, timedelta(seconds=settings.jobs.lease_seconds),
                             instance=instance, lost=self._lost, freed=self._look_now)
        #: Where new work is announced and heard (bot/worker/wakeups.py).
        self.wakeups: Wakeups = wakeups if wakeups is not None else LocalWakeups()
        #: The one background loop; other services register their duties on it.
        self.duties = Duties(leader=self.claims)
        self.duties.add(Duty(JOBS, self._scan, self._next_scan))
        self.duties.add(Duty.every(LEASES, self.claims.renew_every, self.claims.renew))
        self.duties.add(Duty(WAKEUPS, self._await_wakeup, _at_once))
        self._batched = batched_polls
        if batched_polls:
            poller = BatchPoller(
                store=store, apiframe=apiframe, clock=clock, interval=self._poll_interval,
                single=self._poll_step, apply=self.apply_event, show_progress=self._show_progress,
                card_every=self._progress_every, backoff=self._backoff, limit=self._limit,
            )
            self.duties.add(Duty(POLLS, poller.sweep, poller.next_in, once=True))

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if not self.duties.running:
            self._outcomes.clear_stale_downloads()
            self.duties.start()

    def wake(self) -> None:
        """Look at the queue now (a job was created or an event arrived): through the
        wake-ups port, so every scheduler that can hear it looks, this one included."""
        self.wakeups.notify()

    def _look_now(self) -> None:
        self.duties.wake(JOBS)
        self.duties.wake(POLLS)

    async def _await_wakeup(self) -> None:
        if await self.wakeups.wait(MAX_IDLE.total_seconds()):
            self._look_now()

    def _lost(self, job_id: str) -> None:
        task = self._active.get(job_id)
        if task is not None:
            task.cancel()  # the database keeps its place; the new holder repeats the step

    async def stop(self) -> None:
        """Stop taking work and cancel steps in progress; the database keeps their place,
        and this process's leases are given up so other schedulers carry on at once."""
        await self.duties.stop()  # first, so no scan starts a step after the others are cancelled
        steps = list(self._active.values())
        for task in steps:
            task.cancel()
        await asyncio.gather(*steps, return_exceptions=True)
        await self.claims.release_all()

    async def _scan(self) -> None:
        try:
            await self._dispatch_due()
            self._scan_failed = False
        except Exception:
            log.exception("job scheduler: scan failed; retrying")
            self._scan_failed = True

    async def _next_scan(self) -> float:
        if not self._scan_failed:
            try:
                return await self._idle_delay()
            except Exception:
                log.exception("job scheduler: scan failed; retrying")
        return SCAN_RETRY_SECONDS

    async def _dispatch_due(self) -> None:
        # Claim no more than can start soon: a job claimed here is one no other scheduler
        # may take until this process releases it.
        room = self._settings.jobs.max_concurrent_work * 4 - len(self._active)
        if room <= 0:
            return
        for job in await self.claims.claim(room, polls=not self._batched):
            if job.id not in self._active:  # else its lease had lapsed under its own step
                task = asyncio.create_task(self._step(job), name=f"job-{job.id}")
                self._active[job.id] = task
                task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._active.pop(job_id, None)
        self.duties.wake(JOBS)  # not the poller: a step's end tells it nothing new

    async def _idle_delay(self) -> float:
        # Steps under way keep their past due time until they finish (and wake the loop);
        # counting them would spin the loop for as long as a slow request takes.
        upcoming = await self._store.next_due_at(exclude=tuple(self._active),
                                                 polls=not self._batched,
                                                 owner=self.claims.owner)
        if upcoming is None:
            return MAX_IDLE.total_seconds()
        seconds = (upcoming - self._clock()).total_seconds()
        return max(0.05, min(seconds, MAX_IDLE.total_seconds()))

    # -- one step of one job ----------------------------------------------------------------

    async def _step(self, job: Job) -> None:
        try:
            async with self._limit:
                await self._step_held(job)
        finally:
            await self.claims.release(job.id)

    async def _step_held(self, job: Job) -> None:
        fresh = await self._store.get(job.id)  # a webhook may have moved it meanwhile
        if fresh is None or fresh.next_action_at > self._clock():
            return
        try:
            await self._advance(fresh)
            if fresh.state is JobState.RESERVED and self._batched:
                # Submitted now: the poller may be idling towards a sweep planned before.
                self.duties.wake(POLLS)
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
            await self._outcomes.deliver(job)
        elif job.state is JobState.FAILED:
            await self._refund(job)
        elif job.state is JobState.REFUNDED and job.notified_at is None:
            await self._outcomes.notify(job)

    def _backoff(self, job: Job, at_least: float = 0.0) -> datetime:
        base = self._poll.total_seconds() * (2 ** min(job.attempts, 6))
        seconds = min(max(base, at_least), MAX_BACKOFF.total_seconds())
        return self._clock() + timedelta(seconds=seconds * random.uniform(0.8, 1.2))

    async def _submit(self, job: Job) -> None:
        if self._clock() >= job.deadline_at:
            await self._fail(job, FailureKind.PROVIDER_UNAVAILABLE, "gave up submitting")
            return
        model = self._settings.catalog.find(job.model)
        try:
            if model is None:
                # Internal (the failure's detail is never shown): not a member's refusal.
                raise ValueError(f"{job.model!r} is not a video model this bot knows")
            # Checked again against the contract: a row written by an older version, or
            # options an operator changed since, must not reach Apiframe unchecked.
            block = model.to_params(job.options.params, job.start_image_url)
        except (OptionRefused, ValueError) as exc:
            await self._fail(job, FailureKind.REJECTED, f"not sent: {exc}")
            return
        hook = self._webhooks
        try:
            accepted = await self._apiframe.generate(
                prompt=job.prompt, model=job.model, params_field=model.params, params=block,
                params_required=model.params_required, idempotency_key=job.idempotency_key,
                webhook_url=hook.url_for(job.id) if hook else None,
                webhook_events=WEBHOOK_EVENTS if hook else None,
            )
        except ModelUnavailable as exc:
            await self._fail(job, FailureKind.MODEL_RETIRED, str(exc))
        except ValidationFailed as exc:
            await self._fail(job, FailureKind.REJECTED, f"{exc} {exc.details}")
        except ProviderOutOfCredits as exc:
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
            submitted = await self._store.mark_submitted(job.id, accepted.job_id,
                                                         await self._first_look(job))
            if submitted is not None:
                log.info("job %s: submitted as Apiframe job %s", job.id, accepted.job_id)
                await self._show_progress(submitted, force=True)

    def _poll_interval(self) -> timedelta:
        """How long until a running job is next looked at: the safety net's slower pace while
        webhooks arrive (bot/web/link.py says when they do), else the normal interval. The
        batched poller asks this too."""
        healthy_for = self._webhooks.healthy_for() if self._webhooks else timedelta(0)
        if not healthy_for:
            return self._poll
        # Never past the end of the healthy window plus one normal interval: a job must not
        # wait out the slow pace after webhooks stopped coming.
        return min(self._safety_poll, healthy_for + self._poll)

    def _next_poll(self) -> datetime:
        return self._clock() + self._poll_interval()

    async def _first_look(self, job: Job) -> datetime:
        """When a job just submitted is first looked at (bot/jobs/runtimes.py); later looks
        come every interval, so a job running late is found within one interval of its end."""
        if self._run_times is None or not self._first_look_expected:
            return self._next_poll()
        return await self._run_times.first_look(job, self._poll_interval())

    async def _expected(self, job: Job) -> timedelta | None:
        if self._run_times is None:
            return None
        return await self._run_times.expected(job)

    async def _poll_step(self, job: Job) -> None:
        """The single-job poll for the batched poller, with a step's back-off on errors."""
        try:
            await self._poll_once(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: poll failed; will retry", job.id)
            await self._store.reschedule(job, self._backoff(job))

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
                job.id, event.progress or 0, self._next_poll()
            )
            if updated is not None:
                await self._show_progress(updated)
        elif event.kind is EventKind.COMPLETED:
            assert event.result_url is not None
            ran = run_seconds(job, self._clock(), event.run_seconds)
            if await self._store.mark_completed(job.id, event.result_url, ran) is not None:
                log.info("job %s: completed", job.id)
                if self._run_times is not None:
                    self._run_times.learned(job)
                self._billed(job, event)
                self.wake()
        else:
            failure = event.failure or FailureKind.PROVIDER_ERROR
            done = await self._store.mark_failed(job.id, failure, event.detail,
                                                 expected=(JobState.SUBMITTED,))
            if done is not None:
                log.warning("job %s: failed (%s): %s", job.id, failure, event.detail)
                self._billed(job, event)
                self.wake()

    def _billed(self, job: Job, event: JobEvent) -> None:
        """Count what Apiframe billed, once: only the transition that ended the job calls this."""
        if event.credit_cost:
            self._metrics.provider_billed.labels(model=job.model).inc(event.credit_cost)

    async def _show_progress(self, job: Job, *, force: bool = False) -> None:
        now = self._clock()
        shown = job.progress_shown_at
        if not force and shown is not None and now - shown < self._progress_every:
            return
        offer = self._settings.lineup.get(job.model)  # for the model's label
        if await self._publisher.show_progress(job, now=now, offer=offer,
                                               expected=await self._expected(job)):
            await self._store.mark_progress_shown(job.id)

    async def _fail(self, job: Job, kind: FailureKind, detail: str) -> None:
        if await self._store.mark_failed(job.id, kind, detail, expected=(job.state,)):
            log.warning("job %s: failed (%s): %s", job.id, kind, detail)
            self.wake()

    async def _refund(self, job: Job) -> None:
        if job.failure_kind is FailureKind.MODEL_RETIRED:
            # Before the refund, so the member's notice already leaves the model out; a stop
            # in between marks nothing twice (the mark is once per model).
            await self._retire_model(job)
        refunded = await self._store.refund(job)
        if refunded is not None:
            log.info("job %s: refunded %d credits", job.id, job.price)
            await self._outcomes.notify(refunded)

    async def _retire_model(self, job: Job) -> None:
        """Refuse the job's model for new requests; alert the operator the first time only."""
        mark = await self._retired.mark(job.model, job.failure_detail or "",
                                        job_id=job.id, guild_id=job.guild_id)
        if mark is not None:
            log.warning("model %s: the video service says it is retired or unknown (job %s:"
                        " %s); it is refused for new requests and its failed jobs are"
                        " refunded. Operator: %s", job.model, job.id, mark.detail,
                        operator_advice(job.model))


async def _at_once() -> float:
    return 0.0
