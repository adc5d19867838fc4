"""Two schedulers on one SQLite file: jobs claimed, not owned (bot/jobs/leases.py).

Bot A is the harness's bot (gateway, launcher, scheduler); bot B is a second bot on its own
connection to the same database file, logged in over REST only, as a worker process is. Both
run their real schedulers against the loopback fakes and hear each other's wake-ups (the
port a PostgreSQL backend serves with LISTEN/NOTIFY). The verdict comes from what the fakes
saw and what the database holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.app import SoraBot, open_services
from bot.jobs.model import JobState
from tests.fakes.apiframe_model import JobScript
from tests.kill9_support import (
    CONTENT_POLICY,
    generate_requests_by_key,
    outcome_posts,
    read_jobs,
)
from tests.sora_harness import SoraHarness, Starter

MANY = 50
FAILING = 5
#: Room for every job at once, and few steps per scan, so neither bot can take them all.
SETTINGS = {
    "jobs": {"max_in_flight_per_member": MANY, "max_in_flight_per_guild": MANY,
             "max_concurrent_work": 2},
    "ledger": {"starting_credits": 10_000},
}
MODEL = {"model": "sora-2-pro"}


@asynccontextmanager
async def second_worker(h: SoraHarness) -> AsyncIterator[SoraBot]:
    """Bot B: its own services and database connection, REST only, scheduler running."""
    async with open_services(h.services.settings, h.services.clock) as services:
        bot = SoraBot(services, run_jobs=True, instance=None, wakeups=h.bot.scheduler.wakeups)
        try:
            await bot.login(h.discord.token)  # runs setup_hook: the scheduler starts
            yield bot
        finally:
            await bot.close()


async def no_leases(h: SoraHarness) -> bool:
    rows = await read_jobs(h.services.settings.database.path)
    return all(row["lease_owner"] is None and row["lease_until"] is None for row in rows)


def charged(bot: SoraBot) -> float:
    return bot.services.metrics.registry.get_sample_value(
        "sora_credits_charged_total", MODEL) or 0.0


async def test_two_schedulers_share_fifty_jobs_without_doing_any_twice(start: Starter) -> None:
    h = await start(**SETTINGS)
    h.apiframe.default_script = JobScript("COMPLETED", None, 1, 4)
    for _ in range(FAILING):
        h.apiframe.script_next_job("FAILED", CONTENT_POLICY, 1, 2)

    async with second_worker(h) as other:
        iids = [await h.send_sora(f"a paper boat on a river, take {n}") for n in range(MANY)]
        made = [await h.created_job(iid) for iid in iids]
        done = [await h.run_until(job.id, JobState.DELIVERED, JobState.REFUNDED, step=1.0,
                                  timeout=60) for job in made]
        # Both did real work: each charged (delivered) some of the jobs.
        assert charged(h.bot) > 0 and charged(other) > 0
        assert charged(h.bot) + charged(other) == sum(
            job.price for job in done if job.state is JobState.DELIVERED)

    states = Counter(job.state for job in done)
    assert states == {JobState.DELIVERED: MANY - FAILING, JobState.REFUNDED: FAILING}
    # Each job submitted once: one generate request per Idempotency-Key, one provider job.
    by_key = generate_requests_by_key(h.apiframe)
    assert len(by_key) == MANY and set(by_key.values()) == {1}
    assert Counter(job.idempotency_key for job in h.apiframe.jobs.values()) == by_key
    # Delivered or refunded exactly once, and shown exactly once.
    rows = await read_jobs(h.services.settings.database.path)
    for row in rows:
        purpose = "d" if row["state"] == "delivered" else "f"
        assert len(outcome_posts(h.discord, row, purpose)) == 1, row["id"]
    # Every lease released: B's at its stop, A's as each step ended (A keeps running).
    await h.until(lambda: no_leases(h), what="every lease released")
    journal = await h.journal()
    refunds = [job for kind, _delta, job in journal if kind == "refund"]
    assert len(refunds) == len(set(refunds)) == FAILING
    assert await h.balance() == sum(delta for _kind, delta, _job in journal)
    assert await h.balance() >= 0
