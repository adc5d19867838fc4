"""Job and duty leases (bot/jobs/leases.py) with two owners on two connections to one file.

Each scheduler process has its own connection; here two ``Database`` objects on the same
SQLite file stand for two processes, and the test's clock decides when a lease runs out.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.db.database import Database
from bot.jobs.leases import JobLeases, new_owner
from bot.jobs.model import JobState
from bot.jobs.store import JobStore
from bot.ledger.store import Ledger
from tests.support.clock import FakeClock
from tests.support.stores import make_job

GUILD, USER = 7_000_000_000_000_000_001, 7_000_000_000_000_000_002
LEASE = timedelta(seconds=30)
A, B = "worker-a/1-aaaa", "worker-b/2-bbbb"



async def make_jobs(jobs: JobStore, ledger: Ledger, n: int) -> list[str]:
    await ledger.grant(GUILD, 12 * n, actor="operator", reason="test")
    made = []
    for _ in range(n):
        job = await jobs.create(make_job(guild_id=GUILD, user_id=USER), max_per_guild=n,
                                max_per_member=n)
        made.append(job.id)
    return made


async def test_a_claimed_job_is_nobody_elses_until_its_lease_ends(
    jobs: JobStore, ledger: Ledger, other_db: Database, clock: FakeClock
) -> None:
    made = await make_jobs(jobs, ledger, 3)
    mine, theirs = jobs.leases, JobLeases(other_db, clock)

    first = await mine.claim(A, clock() + LEASE, 2)
    rest = await theirs.claim(B, clock() + LEASE, 10)
    again = await theirs.claim(B, clock() + LEASE, 10)

    assert len(first) == 2 and all(job.lease_owner == A for job in first)
    assert [job.id for job in rest] == sorted(set(made) - {job.id for job in first})
    assert again == []  # everything is held
    # A renews in time and keeps its jobs; B's lapse and A takes that one over.
    clock.now += LEASE - timedelta(seconds=1)
    assert await mine.renew(A, clock() + LEASE) == {job.id for job in first}
    clock.now += timedelta(seconds=2)
    taken = await mine.claim(A, clock() + LEASE, 10)
    assert [job.id for job in taken] == [rest[0].id]
    assert await theirs.renew(B, clock() + LEASE) == set()  # B learns it lost the job


async def test_claims_racing_from_two_connections_never_share_a_job(
    jobs: JobStore, ledger: Ledger, other_db: Database, clock: FakeClock
) -> None:
    made = await make_jobs(jobs, ledger, 40)
    mine, theirs = jobs.leases, JobLeases(other_db, clock)

    batches = await asyncio.gather(*(
        (mine if n % 2 else theirs).claim(A if n % 2 else B, clock() + LEASE, 3)
        for n in range(20)))

    ids = [job.id for batch in batches for job in batch]
    assert len(ids) == len(set(ids)) == len(made)


async def test_released_jobs_are_due_at_once_and_only_due_jobs_are_claimed(
    jobs: JobStore, ledger: Ledger, clock: FakeClock
) -> None:
    [job_id] = await make_jobs(jobs, ledger, 1)
    leases = jobs.leases
    [job] = await leases.claim(A, clock() + LEASE, 5)
    await leases.release(B, [job_id])  # not B's: nothing changes
    assert (await leases.claim(A, clock() + LEASE, 5)) == []
    # Held by another process, the job counts as due when its lease ends.
    assert await jobs.next_due_at(owner=B) == clock() + LEASE
    assert await jobs.next_due_at(owner=A) is None  # its own steps under way do not count

    await leases.release(A, [job_id])
    fresh = await jobs.get(job_id)
    assert fresh is not None and fresh.lease_owner is None and fresh.lease_until is None
    await jobs.reschedule(job, clock() + timedelta(minutes=1))
    assert (await leases.claim(B, clock() + LEASE, 5)) == []  # not due yet
    clock.now += timedelta(minutes=1)
    assert [j.id for j in await leases.claim(B, clock() + LEASE, 5)] == [job_id]


async def test_a_restart_under_the_same_name_takes_its_leases_back(
    jobs: JobStore, ledger: Ledger, clock: FakeClock
) -> None:
    await make_jobs(jobs, ledger, 2)
    leases = jobs.leases
    dead, other = new_owner("main"), new_owner("main_2")
    await leases.claim(dead, clock() + LEASE, 1)
    await leases.claim(other, clock() + LEASE, 1)
    assert await leases.hold_duty("polls", dead, clock() + LEASE)

    reborn = new_owner("main")
    assert reborn != dead
    # One job lease and one duty lease; "main_2" is not "main" (LIKE's "_" is escaped).
    assert await leases.take_over(reborn, "main") == 2
    [back] = await leases.claim(reborn, clock() + LEASE, 5)
    assert back.lease_owner == reborn
    assert await leases.hold_duty("polls", reborn, clock() + LEASE)


async def test_a_duty_lease_has_one_holder_until_it_lapses_or_is_released(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    mine, theirs = JobLeases(db, clock), JobLeases(other_db, clock)

    assert await mine.hold_duty("audit-poster", A, clock() + LEASE)
    assert not await theirs.hold_duty("audit-poster", B, clock() + LEASE)
    assert await mine.hold_duty("audit-poster", A, clock() + LEASE)  # kept by its holder
    assert await theirs.hold_duty("hold-sweep", B, clock() + LEASE)  # duties are separate

    clock.now += LEASE  # A stopped renewing: B takes it
    assert await theirs.hold_duty("audit-poster", B, clock() + LEASE)
    assert not await mine.hold_duty("audit-poster", A, clock() + LEASE)
    assert await mine.duty_holder("audit-poster") == (B, clock() + LEASE)

    await theirs.release_all(B)  # a clean stop hands it over at once
    assert await mine.hold_duty("audit-poster", A, clock() + LEASE)


async def test_the_lease_survives_every_state_change_of_its_step(
    jobs: JobStore, ledger: Ledger, clock: FakeClock
) -> None:
    [job_id] = await make_jobs(jobs, ledger, 1)
    await jobs.leases.claim(A, clock() + LEASE, 1)
    submitted = await jobs.mark_submitted(job_id, "af-1", clock())
    assert submitted is not None and submitted.state is JobState.SUBMITTED
    assert submitted.lease_owner == A  # only the step's end releases it
