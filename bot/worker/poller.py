"""Batched polling: one ``GET /v2/jobs`` page tells the state of up to 100 running jobs.

The scheduler (bot/worker/scheduler.py) runs a sweep as its own duty whenever a submitted job
is due. A sweep takes every submitted job due within half a poll interval (so jobs submitted
at different moments fall into a few shared sweeps per interval instead of one list call
each), pages through Apiframe's newest-first listing until it has seen them all, and then:

* a job still QUEUED or PROCESSING gets its progress and next look in one batched write;
* a job that finished is applied as the same job event a single poll or a webhook produces
  (conditional writes, so a webhook racing the sweep changes nothing twice);
* a COMPLETED item without a usable result URL, a job past its deadline, and a job the listing
  did not reach (older than the pages read, or another key's) go through the single-job poll.

A job is first looked at near its expected end (bot/jobs/runtimes.py), so every pass also
edits the status cards not shown for ``card_every`` (elapsed time against the expected time),
without asking the provider.

If a page fails, what earlier pages said is kept and the jobs not yet seen back off as a
failed single poll would; the single-job fallback is skipped then, so a struggling provider
is not sent one GET per job. The database stays the queue: a sweep cut short by a kill leaves
its jobs due, and the next run looks at them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from bot.apiframe.client import ApiframeClient, ApiframeError, JobStatus, ProviderJob, RateLimited
from bot.clock import Clock
from bot.jobs.events import EventKind, JobEvent, event_from_job
from bot.jobs.model import Job
from bot.jobs.store import JobStore

log = logging.getLogger(__name__)

#: Apiframe's largest page (reference §5).
PAGE = 100
#: Most submitted jobs one sweep takes; the rest are due again right after it.
MAX_SWEEP = 20_000
#: Pages read beyond the running jobs' own, for finished jobs listed among them.
SPARE_PAGES = 2
#: Longest pause between two looks at the submitted jobs, even when none seems due.
MAX_IDLE = timedelta(seconds=5)
#: Most status cards one pass refreshes without a look at the provider (the rest next pass).
MAX_CARDS = 200
_RUNNING = (JobStatus.QUEUED, JobStatus.PROCESSING)
T = TypeVar("T")


@dataclass
class _Listing:
    """What the pages read in one sweep said about the jobs it was looking for."""

    found: dict[str, ProviderJob]
    #: The error that stopped the paging early (the jobs not found back off), if any.
    failed: ApiframeError | None = None
    pages: int = 0


class BatchPoller:
    """Looks at many submitted jobs per provider call; the scheduler owns everything else."""

    def __init__(
        self,
        *,
        store: JobStore,
        apiframe: ApiframeClient,
        clock: Clock,
        interval: Callable[[], timedelta],
        single: Callable[[Job], Awaitable[None]],
        apply: Callable[[JobEvent], Awaitable[None]],
        show_progress: Callable[[Job], Awaitable[None]],
        card_every: timedelta,
        backoff: Callable[[Job, float], datetime],
        limit: asyncio.Semaphore,
    ) -> None:
        """``single`` is the single-job poll (``GET /v2/jobs/{id}``, deadline included),
        ``apply`` applies a job event, ``show_progress`` edits a job's status card (asked
        only of jobs whose card is older than ``card_every``), ``backoff(job, at_least)`` is
        when a failed look is tried again, and ``limit`` bounds the single polls and card
        edits running at once."""
        self._store, self._apiframe, self._clock = store, apiframe, clock
        self._interval = interval
        self._single, self._apply, self._show = single, apply, show_progress
        self._card_every = card_every
        self._backoff, self._limit = backoff, limit

    async def sweep(self) -> None:
        """Look at every submitted job due now or within half a poll interval, then move the
        cards of jobs not looked at for a while."""
        await self._look()
        # A job is first looked at near its expected end (bot/worker/scheduler.py), so its
        # card would stand still until then: show its elapsed time against the expected
        # time instead, without asking the provider.
        quiet = await self._store.cards_due(self._clock() - self._card_every, MAX_CARDS)
        await self._each(quiet, self._show)

    async def _look(self) -> None:
        now, interval = self._clock(), self._interval()
        due = await self._store.polls_due(now + interval / 2, MAX_SWEEP)
        if not due or due[0].next_action_at > now:
            return  # nothing due yet (an idle pass or a wake): pull no job forward
        late = [job for job in due if now >= job.deadline_at or job.apiframe_job_id is None]
        wanted = {job.apiframe_job_id: job for job in due
                  if job.apiframe_job_id is not None and now < job.deadline_at}
        # The listing holds every running job of ours, due or not: read enough pages for all.
        listing = await self._list(wanted, await self._store.count_polls()) if wanted \
            else _Listing({})
        log.debug("batched poll: %d due, %d found in %d page(s)", len(due), len(listing.found),
                  listing.pages)
        running: list[Job] = []
        finished: list[ProviderJob] = []
        for remote in listing.found.values():
            if remote.status in _RUNNING:
                running.append(replace(wanted[remote.id], progress=remote.progress or 0))
            else:
                finished.append(remote)
        if running:
            progress = {job.id: job.progress or 0 for job in running}
            # From the sweep's start, when the listing was asked for: a long sweep does not
            # stretch every job's interval by its own length.
            await self._store.record_polls(progress, now + interval)
        unseen = [job for af_id, job in wanted.items() if af_id not in listing.found]
        if listing.failed is not None and unseen:
            await self._back_off(unseen, listing.failed)
            unseen = []
        await self._each([*late, *unseen], self._single)
        await self._each(finished, self._finish)
        # Only cards whose turn has come: most sweeps edit none of them.
        shown_before = self._clock() - self._card_every
        await self._each([job for job in running if job.progress_shown_at is None
                          or job.progress_shown_at <= shown_before], self._show)

    async def next_in(self) -> float:
        """Seconds until the next sweep is due."""
        upcoming = await self._store.next_poll_at()
        if upcoming is None:
            return MAX_IDLE.total_seconds()
        seconds = (upcoming - self._clock()).total_seconds()
        return max(0.05, min(seconds, MAX_IDLE.total_seconds()))

    async def _list(self, wanted: dict[str, Job], running: int) -> _Listing:
        """Page through the newest-first listing until every wanted job was seen, the list
        ends, or the pages our ``running`` jobs could fill (plus spares) are read."""
        listing = _Listing({})
        cursor: str | None = None
        for _ in range(max(running, len(wanted)) // PAGE + 1 + SPARE_PAGES):
            try:
                page = await self._apiframe.list_jobs(limit=PAGE, cursor=cursor)
            except ApiframeError as exc:
                listing.failed = exc
                break
            listing.pages += 1
            for remote in page.jobs:
                if remote.id in wanted:
                    listing.found[remote.id] = remote
            cursor = page.next_cursor
            if len(listing.found) == len(wanted) or not page.has_more or cursor is None:
                break
        return listing

    async def _back_off(self, jobs: list[Job], error: ApiframeError) -> None:
        at_least = (error.retry_after or 0.0) if isinstance(error, RateLimited) else 0.0
        log.warning("job listing failed (%s); %d job(s) not seen back off", error, len(jobs))
        await self._store.reschedule_polls({job.id: self._backoff(job, at_least) for job in jobs})

    async def _finish(self, remote: ProviderJob) -> None:
        event = event_from_job(remote)
        if remote.status is JobStatus.COMPLETED and event.kind is not EventKind.COMPLETED:
            # The list item lacks a usable result: the job's own answer may carry it.
            job = await self._store.by_apiframe_id(remote.id)
            if job is not None:
                await self._single(job)
            return
        await self._apply(event)

    async def _each(self, items: Sequence[T], step: Callable[[T], Awaitable[None]]) -> None:
        async def bounded(item: T) -> None:
            async with self._limit:
                try:
                    await step(item)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # One job's trouble must not stop the sweep; it is due again later.
                    log.exception("batched poll: one job's step failed; will retry")

        await asyncio.gather(*(bounded(item) for item in items))
