"""The job journal on a real database file: atomic create, limits under concurrency, and
conditional transitions that can never apply twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial

import pytest

from bot.db.database import Database
from bot.jobs.model import FailureKind, JobLimitReached, JobState
from bot.jobs.store import JobStore
from bot.ledger.store import Ledger
from bot.ledger.types import InsufficientCredits
from tests.support.clock import T0, FakeClock
from tests.support.stores import make_job

GUILD = 1001

new_job = partial(make_job, guild_id=GUILD, user_id=7)


async def journal_sum(db: Database) -> int:
    row = await db.fetchone("SELECT COALESCE(SUM(delta), 0) AS s FROM ledger_journal")
    assert row is not None
    return int(row["s"])


async def test_create_reserves_and_records_in_one_transaction(
    jobs: JobStore, ledger: Ledger, db: Database
) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    job = await jobs.create(new_job(price=45), max_per_guild=5, max_per_member=5)
    assert job.state is JobState.RESERVED
    assert job.price == 45 and job.idempotency_key == f"sora-{job.id}"
    assert job.deadline_at == T0 + timedelta(minutes=20)
    assert await ledger.balance(GUILD) == 55 == await journal_sum(db)
    [reserve] = await ledger.history(GUILD, kind="reserve")
    assert reserve.job_id == job.id and reserve.delta == -45
    assert "secret-interaction-token" not in repr(job)


async def test_short_balance_writes_nothing(jobs: JobStore, ledger: Ledger, db: Database) -> None:
    await ledger.grant(GUILD, 10, actor="operator", reason="test")
    with pytest.raises(InsufficientCredits):
        await jobs.create(new_job(price=12), max_per_guild=5, max_per_member=5)
    assert await db.fetchall("SELECT id FROM jobs") == []
    assert await ledger.balance(GUILD) == 10


async def test_parallel_requests_cannot_exceed_the_member_limit(
    jobs: JobStore, ledger: Ledger, db: Database
) -> None:
    await ledger.grant(GUILD, 10_000, actor="operator", reason="test")
    results = await asyncio.gather(
        *(jobs.create(new_job(), max_per_guild=50, max_per_member=2) for _ in range(20)),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, JobLimitReached)]
    assert len(created) == 2 and len(refused) == 18
    assert "You have 2 videos in progress" in str(refused[0])
    assert await ledger.balance(GUILD) == 10_000 - 24 == await journal_sum(db)


async def test_guild_limit_counts_every_member(jobs: JobStore, ledger: Ledger) -> None:
    await ledger.grant(GUILD, 10_000, actor="operator", reason="test")
    for user in (1, 2, 3):
        await jobs.create(new_job(user_id=user), max_per_guild=3, max_per_member=2)
    with pytest.raises(JobLimitReached, match="This server has 3 videos in progress"):
        await jobs.create(new_job(user_id=4), max_per_guild=3, max_per_member=2)


async def test_finished_jobs_free_their_slot(jobs: JobStore, ledger: Ledger) -> None:
    await ledger.grant(GUILD, 10_000, actor="operator", reason="test")
    job = await jobs.create(new_job(), max_per_guild=5, max_per_member=1)
    with pytest.raises(JobLimitReached):
        await jobs.create(new_job(), max_per_guild=5, max_per_member=1)
    await jobs.mark_failed(job.id, FailureKind.TIMEOUT, "t")
    # A failed job no longer occupies a slot, even before its refund is written.
    assert [j.id for j in await jobs.in_flight(GUILD)] == []
    await jobs.create(new_job(), max_per_guild=5, max_per_member=1)


async def test_transitions_apply_once(jobs: JobStore, ledger: Ledger, clock: FakeClock) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    job = await jobs.create(new_job(), max_per_guild=5, max_per_member=5)
    submitted = await jobs.mark_submitted(job.id, "af-1", T0 + timedelta(seconds=7))
    assert submitted is not None and submitted.state is JobState.SUBMITTED
    assert await jobs.mark_submitted(job.id, "af-2", T0) is None, "already submitted"
    assert (await jobs.by_apiframe_id("af-1")) is not None

    done = await jobs.mark_completed(job.id, "https://cdn.example/v.mp4")
    assert done is not None and done.progress == 100
    assert await jobs.mark_completed(job.id, "https://cdn.example/other.mp4") is None
    assert await jobs.mark_failed(job.id, FailureKind.PROVIDER_ERROR, "late",
                                   expected=(JobState.SUBMITTED,)) is None

    delivered = await jobs.mark_delivered(job.id, "attachment", 99)
    assert delivered is not None and delivered.interaction_token is None
    assert await jobs.mark_delivered(job.id, "attachment", 100) is None
    assert await jobs.due(limit=10) == []


async def test_refund_happens_once_even_when_raced(
    jobs: JobStore, ledger: Ledger, db: Database
) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    job = await jobs.create(new_job(price=30), max_per_guild=5, max_per_member=5)
    failed = await jobs.mark_failed(job.id, FailureKind.CONTENT_POLICY, "policy")
    assert failed is not None
    results = await asyncio.gather(*(jobs.refund(failed) for _ in range(10)))
    assert sum(r is not None for r in results) == 1
    refunds = await ledger.history(GUILD, kind="refund")
    assert len(refunds) == 1 and refunds[0].delta == 30
    assert await ledger.balance(GUILD) == 100 == await journal_sum(db)
    [pending] = await jobs.due(limit=10)
    assert pending.state is JobState.REFUNDED and pending.notified_at is None
    notified = await jobs.mark_notified(job.id)
    assert notified is not None and notified.interaction_token is None
    assert await jobs.due(limit=10) == []


async def test_due_respects_next_action_time(
    jobs: JobStore, ledger: Ledger, clock: FakeClock
) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    first = await jobs.create(new_job(), max_per_guild=5, max_per_member=5)
    clock.now = T0 + timedelta(seconds=1)
    second = await jobs.create(new_job(user_id=8), max_per_guild=5, max_per_member=5)
    await jobs.reschedule(first, T0 + timedelta(seconds=30))
    assert [j.id for j in await jobs.due(limit=10)] == [second.id]
    assert await jobs.next_due_at() == T0 + timedelta(seconds=1)
    assert await jobs.next_due_at(exclude=[second.id]) == T0 + timedelta(seconds=30)
    assert await jobs.next_due_at(exclude=[first.id, second.id]) is None
    clock.now = T0 + timedelta(seconds=31)
    assert {j.id for j in await jobs.due(limit=10)} == {first.id, second.id}
    again = await jobs.get(first.id)
    assert again is not None and again.attempts == 1
