"""One process's share of the queue (bot/worker/claims.py) and the wake-ups port
(bot/worker/wakeups.py), on a real database file with two connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.db.database import Database
from bot.jobs.leases import JobLeases
from bot.jobs.store import JobStore
from bot.ledger.store import Ledger
from bot.worker.claims import Claims
from bot.worker.wakeups import LocalWakeups
from tests.support.clock import FakeClock
from tests.support.stores import make_job

GUILD, USER = 7_100_000_000_000_000_001, 7_100_000_000_000_000_002
LEASE = timedelta(seconds=30)


@pytest.fixture
async def other_db(tmp_path: Path, db: Database) -> AsyncIterator[Database]:
    other = await Database.open(tmp_path / "store.sqlite3")
    try:
        yield other
    finally:
        await other.close()


def claims(leases: JobLeases, clock: FakeClock, lost: list[str]) -> Claims:
    return Claims(leases, clock, LEASE, instance=None, lost=lost.append, freed=lambda: None)


async def test_a_lease_taken_by_another_process_is_reported_and_left_to_it(
    jobs: JobStore, ledger: Ledger, other_db: Database, clock: FakeClock
) -> None:
    await ledger.grant(GUILD, 12, actor="operator", reason="test")
    created = await jobs.create(make_job(guild_id=GUILD, user_id=USER), max_per_guild=1,
                                max_per_member=1)
    lost_here: list[str] = []
    here, there = claims(jobs.leases, clock, lost_here), claims(JobLeases(other_db, clock),
                                                                clock, [])
    assert [job.id for job in await here.claim(5, polls=True)] == [created.id]
    await here.renew()
    clock.now += LEASE - timedelta(seconds=1)
    assert await there.claim(5, polls=True) == []  # renewed in time: still held here

    clock.now += LEASE  # this process stalled past its lease: the other one takes the job
    assert [job.id for job in await there.claim(5, polls=True)] == [created.id]
    await here.renew()
    await here.renew()
    assert lost_here == [created.id]  # reported once
    await here.release(created.id)  # the step here ends: it must not free the other's lease
    row = await jobs.get(created.id)
    assert row is not None and row.lease_owner == there.owner


async def test_a_notify_is_heard_whether_it_comes_before_or_during_the_wait() -> None:
    wakeups = LocalWakeups()
    wakeups.notify()  # nobody waiting yet: kept for the next wait
    assert await wakeups.wait(5) is True
    assert await wakeups.wait(0.01) is False  # heard once

    waiter = asyncio.create_task(wakeups.wait(5))
    await asyncio.sleep(0.01)
    wakeups.notify()
    assert await asyncio.wait_for(waiter, 1) is True
