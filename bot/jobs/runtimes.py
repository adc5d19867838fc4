"""How long a job is expected to run: the median of the last completed jobs of its variant.

The scheduler takes its first look at a submitted job when jobs of the same model, quality and
length have usually finished (bot/worker/scheduler.py), and the status card shows the time
left against it. The figure comes from the ``run_seconds`` the scheduler records on each
completed job (migration 0014), read in one range of the ``jobs_run_times`` index and cached
for a short while: a burst of submissions of one variant asks the database once. Before a
variant has any history the configured guess is used (``[apiframe] default_run_seconds`` plus
``default_run_seconds_per_video_second`` per second of video).
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.db.database import Database
from bot.jobs.model import Job

#: How long a variant's expected run time is reused before the database is asked again.
CACHE_FOR = timedelta(seconds=30)
#: A model that chooses its own length (no duration option) is guessed at this many seconds.
UNKNOWN_LENGTH = 8

_Variant = tuple[str, str, int]


class RunTimes:
    """The expected run time of a job's variant; stateless but for a short-lived cache."""

    def __init__(
        self, db: Database, clock: Clock, *, history: int, default_seconds: float,
        seconds_per_video_second: float,
    ) -> None:
        """``history``: how many of the latest completed jobs the median is taken over."""
        self._db, self._clock, self._history = db, clock, history
        self._base, self._per_second = default_seconds, seconds_per_video_second
        self._cache: dict[_Variant, tuple[datetime, timedelta]] = {}

    def default(self, job: Job) -> timedelta:
        """The configured guess for a variant nobody has run yet."""
        length = job.duration or UNKNOWN_LENGTH
        return timedelta(seconds=self._base + self._per_second * length)

    async def expected(self, job: Job) -> timedelta:
        """How long ``job`` probably runs from its submission to its completion."""
        variant = (job.model, job.resolution, job.duration)
        now = self._clock()
        cached = self._cache.get(variant)
        if cached is not None and now - cached[0] < CACHE_FOR:
            return cached[1]
        seconds = await self.history(job)
        # The median, not the mean: one job stuck in a provider queue must not move the first
        # look of every later job.
        value = timedelta(seconds=statistics.median(seconds)) if seconds else self.default(job)
        if len(self._cache) > 1024:  # variants are few; this only bounds a pathological case
            self._cache.clear()
        self._cache[variant] = (now, value)
        return value

    async def first_look(self, job: Job, interval: timedelta) -> datetime:
        """When ``job``, just submitted, is first looked at: when its variant usually finishes
        (a job alone then costs one listing call instead of one per interval), never sooner
        than ``interval`` (the pace of the moment: the safety net's while webhooks arrive) and
        never past the job's deadline."""
        expected = await self.expected(job)
        return min(self._clock() + max(interval, expected), job.deadline_at)

    def learned(self, job: Job) -> None:
        """``job`` completed: its variant's next expectation includes it (the variant's first
        completion must not leave later jobs on the default for a while)."""
        self._cache.pop((job.model, job.resolution, job.duration), None)

    async def history(self, job: Job) -> list[float]:
        """The run times of the latest completed jobs of ``job``'s variant, newest first."""
        rows = await self._db.fetchall(
            "SELECT run_seconds FROM jobs WHERE model = ? AND resolution = ? AND duration = ?"
            " AND run_seconds IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
            (job.model, job.resolution, job.duration, self._history),
        )
        return [float(row["run_seconds"]) for row in rows]


def run_seconds(job: Job, now: datetime, provider_seconds: float | None) -> float | None:
    """How long ``job``, completing at ``now``, ran: what :class:`RunTimes` learns from.

    The provider's own timestamps (``provider_seconds``) say when it really finished, which a
    look at the expected time cannot (it sees only that the job ended before the look), so
    expectations can come down as well as go up; but a run cannot have lasted longer than we
    saw it take, so where the provider's clock disagrees with ours (running faster, as a
    fake's may) what we saw counts."""
    if job.submitted_at is None:
        return None
    seen = max(0.0, (now - job.submitted_at).total_seconds())
    return seen if provider_seconds is None else min(seen, provider_seconds)
