"""The job journal on a real database file: atomic create, limits under concurrency, and
conditional transitions that can never apply twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.db.database import Database
from bot.jobs.model import FailureKind, JobLimitReached, JobState
from bot.jobs.store import JobStore
from bot.ledger.store import Ledger
from bot.ledger.types import InsufficientCredits
from bot.request import VideoRequest
from tests.video_requests import video_request

GUILD = 1001
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(db: Database, clock: Clock) -> Ledger:
    return Ledger(db, max_balance=1_000_000, starting_credits=0, clock=clock)


@pytest.fixture
def store(db: Database, ledger: Ledger, clock: Clock) -> JobStore:
    return JobStore(db, ledger, timeout=timedelta(minutes=20), clock=clock)


def new_job(user: int = 7, price: int = 12) -> VideoRequest:
    return video_request(guild_id=GUILD, user_id=user, price=price,
                         token_expires_at=T0 + timedelta(minutes=15))


async def journal_sum(db: Database) -> int:
    row = await db.fetchone("SELECT COALESCE(SUM(delta), 0) AS s FROM ledger_journal")
    assert row is not None
    return int(row["s"])


async def test_create_reserves_and_records_in_one_transaction(
    store: JobStore, ledger: Ledger, db: Database
) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    job = await store.create(new_job(price=45), max_per_guild=5, max_per_member=5)
    assert job.state is JobState.RESERVED
    assert job.price == 45 and job.idempotency_key == f"sora-{job.id}"
    assert job.deadline_at == T0 + timedelta(minutes=20)
    assert await ledger.balance(GUILD) == 55 == await journal_sum(db)
    [reserve] = await ledger.history(GUILD, kind="reserve")
    assert reserve.job_id == job.id and reserve.delta == -45
    assert "secret-interaction-token" not in repr(job)


async def test_short_balance_writes_nothing(store: JobStore, ledger: Ledger, db: Database) -> None:
    await ledger.grant(GUILD, 10, actor="operator", reason="test")
    with pytest.raises(InsufficientCredits):
        await store.create(new_job(price=12), max_per_guild=5, max_per_member=5)
    assert await db.fetchall("SELECT id FROM jobs") == []
    assert await ledger.balance(GUILD) == 10


async def test_parallel_requests_cannot_exceed_the_member_limit(
    store: JobStore, ledger: Ledger, db: Database
) -> None:
    await ledger.grant(GUILD, 10_000, actor="operator", reason="test")
    results = await asyncio.gather(
        *(store.create(new_job(), max_per_guild=50, max_per_member=2) for _ in range(20)),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, JobLimitReached)]
    assert len(created) == 2 and len(refused) == 18
    assert "You have 2 videos in progress" in str(refused[0])
    assert await ledger.balance(GUILD) == 10_000 - 24 == await journal_sum(db)


async def test_guild_limit_counts_every_member(store: JobStore, ledger: Ledger) -> None:
    await ledger.grant(GUILD, 10_000, actor="operator", reason="test")
    for user in (1, 2, 3):
        await store.create(new_job(user=user), max_per_guild=3, max_per_member=2)
    with pytest.raises(JobLimitReached, match="This server has 3 videos in progress"):
        await store.create(new_job(user=4), max_per_guild=3, max_per_member=2)


async def test_finished_jobs_free_their_slot(store: JobStore, ledger: Ledger) -> None:
    await ledger.grant(GUILD, 10_000, actor="operator", reason="test")
    job = await store.create(new_job(), max_per_guild=5, max_per_member=1)
    with pytest.raises(JobLimitReached):
        await store.create(new_job(), max_per_guild=5, max_per_member=1)
    await store.mark_failed(job.id, FailureKind.TIMEOUT, "t")
    # A failed job no longer occupies a slot, even before its refund is written.
    assert [j.id for j in await store.in_flight(GUILD)] == []
    await store.create(new_job(), max_per_guild=5, max_per_member=1)


async def test_transitions_apply_once(store: JobStore, ledger: Ledger, clock: Clock) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    job = await store.create(new_job(), max_per_guild=5, max_per_member=5)
    submitted = await store.mark_submitted(job.id, "af-1", T0 + timedelta(seconds=7))
    assert submitted is not None and submitted.state is JobState.SUBMITTED
    assert await store.mark_submitted(job.id, "af-2", T0) is None, "already submitted"
    assert (await store.by_apiframe_id("af-1")) is not None

    done = await store.mark_completed(job.id, "https://cdn.example/v.mp4")
    assert done is not None and done.progress == 100
    assert await store.mark_completed(job.id, "https://cdn.example/other.mp4") is None
    assert await store.mark_failed(job.id, FailureKind.PROVIDER_ERROR, "late",
                                   expected=(JobState.SUBMITTED,)) is None

    delivered = await store.mark_delivered(job.id, "attachment", 99)
    assert delivered is not None and delivered.interaction_token is None
    assert await store.mark_delivered(job.id, "attachment", 100) is None
    assert await store.due(limit=10) == []


async def test_refund_happens_once_even_when_raced(
    store: JobStore, ledger: Ledger, db: Database
) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    job = await store.create(new_job(price=30), max_per_guild=5, max_per_member=5)
    failed = await store.mark_failed(job.id, FailureKind.CONTENT_POLICY, "policy")
    assert failed is not None
    results = await asyncio.gather(*(store.refund(failed) for _ in range(10)))
    assert sum(r is not None for r in results) == 1
    refunds = await ledger.history(GUILD, kind="refund")
    assert len(refunds) == 1 and refunds[0].delta == 30
    assert await ledger.balance(GUILD) == 100 == await journal_sum(db)
    [pending] = await store.due(limit=10)
    assert pending.state is JobState.REFUNDED and pending.notified_at is None
    notified = await store.mark_notified(job.id)
    assert notified is not None and notified.interaction_token is None
    assert await store.due(limit=10) == []


async def test_due_respects_next_action_time(store: JobStore, ledger: Ledger, clock: Clock) -> None:
    await ledger.grant(GUILD, 100, actor="operator", reason="test")
    first = await store.create(new_job(), max_per_guild=5, max_per_member=5)
    clock.now = T0 + timedelta(seconds=1)
    second = await store.create(new_job(user=8), max_per_guild=5, max_per_member=5)
    await store.reschedule(first, T0 + timedelta(seconds=30))
    assert [j.id for j in await store.due(limit=10)] == [second.id]
    assert await store.next_due_at() == T0 + timedelta(seconds=1)
    assert await store.next_due_at(exclude=[second.id]) == T0 + timedelta(seconds=30)
    assert await store.next_due_at(exclude=[first.id, second.id]) is None
    clock.now = T0 + timedelta(seconds=31)
    assert {j.id for j in await store.due(limit=10)} == {first.id, second.id}
    again = await store.get(first.id)
    assert again is not None and again.attempts == 1
