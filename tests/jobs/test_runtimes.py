"""Expected run times on a real database file: the median of a variant's latest completed
jobs, the configured default before any, and what a completion teaches."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from bot.db.database import Database
from bot.jobs.model import Job
from bot.jobs.runtimes import RunTimes, run_seconds
from bot.jobs.store import JobStore
from bot.ledger.store import Ledger
from tests.support.clock import FakeClock
from tests.support.stores import make_job

GUILD = 1001

new_job = partial(make_job, guild_id=GUILD, user_id=7)


def run_times(db: Database, clock: FakeClock, history: int = 3) -> RunTimes:
    return RunTimes(db, clock, history=history, default_seconds=60,
                    seconds_per_video_second=12)


async def completed(jobs: JobStore, clock: FakeClock, ran: float | None) -> Job:
    job = await jobs.create(new_job(), max_per_guild=50, max_per_member=50)
    submitted = await jobs.mark_submitted(job.id, f"af-{job.id}", clock())
    assert submitted is not None
    clock.now += timedelta(seconds=1)
    done = await jobs.mark_completed(job.id, "https://cdn.example/v.mp4", ran)
    assert done is not None
    return done


async def test_the_median_of_the_latest_completed_jobs_of_the_variant(
    jobs: JobStore, ledger: Ledger, db: Database, clock: FakeClock
) -> None:
    await ledger.grant(GUILD, 10_000, actor="operator", reason="test")
    times = run_times(db, clock)
    job = await jobs.create(new_job(), max_per_guild=50, max_per_member=50)
    # No history: 60 s + 12 s for each of the 4 seconds of video.
    assert await times.expected(job) == timedelta(seconds=108)

    for ran in (500.0, 70.0, 60.0, 90.0, None):  # the oldest falls out of the last 3
        last = await completed(jobs, clock, ran)
        times.learned(last)
    assert await times.expected(job) == timedelta(seconds=70)
    other = await jobs.create(new_job(duration=8), max_per_guild=50, max_per_member=50)
    assert await times.expected(other) == timedelta(seconds=60 + 12 * 8)  # its own variant


async def test_a_completion_is_learned_at_once_despite_the_cache(
    jobs: JobStore, ledger: Ledger, db: Database, clock: FakeClock
) -> None:
    await ledger.grant(GUILD, 10_000, actor="operator", reason="test")
    times = run_times(db, clock)
    job = await jobs.create(new_job(), max_per_guild=50, max_per_member=50)
    assert await times.expected(job) == timedelta(seconds=108)  # cached now

    await completed(jobs, clock, 40.0)
    assert await times.expected(job) == timedelta(seconds=108)  # the cache still answers
    times.learned(job)
    assert await times.expected(job) == timedelta(seconds=40)


async def test_a_run_is_what_the_provider_says_but_never_longer_than_we_saw(
    jobs: JobStore, ledger: Ledger, db: Database, clock: FakeClock
) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    job = await jobs.create(new_job(), max_per_guild=5, max_per_member=5)
    submitted = await jobs.mark_submitted(job.id, "af-1", clock())
    assert submitted is not None
    later = clock() + timedelta(seconds=90)
    assert run_seconds(submitted, later, 65.0) == 65.0  # finished before our look
    assert run_seconds(submitted, later, 400.0) == 90.0  # a clock running faster than ours
    assert run_seconds(submitted, later, None) == 90.0  # a webhook: no provider timestamps
    assert run_seconds(job, later, 65.0) is None  # never submitted
