"""The jobs table's answer to the ledger's question "is this reserve still held?"
(:class:`bot.jobs.store.JobDeliveries` for :class:`bot.ledger.limit.HeldJobs`), on a real file."""

from __future__ import annotations

from bot.db.database import Database
from bot.jobs.model import Job
from bot.jobs.store import JobDeliveries, JobStore
from bot.ledger.limit import held, is_held
from bot.ledger.store import Ledger
from tests.support.clock import T0
from tests.support.stores import make_job

GUILD = 4242


async def _launch(jobs: JobStore, price: int) -> Job:
    return await jobs.create(make_job(guild_id=GUILD, user_id=7, price=price),
                             max_per_guild=100, max_per_member=100)


async def _deliver(jobs: JobStore, job: Job, mode: str) -> None:
    assert await jobs.mark_submitted(job.id, f"af-{job.id}", T0)
    assert await jobs.mark_completed(job.id, "https://cdn.example/v.mp4")
    assert await jobs.mark_delivered(job.id, mode, 99 if mode != "undeliverable" else None)


async def test_only_a_video_shown_in_its_channel_releases_its_reserve(
    db: Database, ledger: Ledger, jobs: JobStore
) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason=None)
    await _launch(jobs, 5)
    shown, unseen = await _launch(jobs, 7), await _launch(jobs, 11)
    await _deliver(jobs, shown, "attachment")
    await _deliver(jobs, unseen, "undeliverable")
    async with db.transaction() as tx:
        assert await held(tx, GUILD, JobDeliveries()) == 5 + 11
        assert not await is_held(tx, shown.id, JobDeliveries())
        assert await is_held(tx, unseen.id, JobDeliveries())
        assert await is_held(tx, "no-such-job", JobDeliveries())
