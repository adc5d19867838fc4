"""Batched polling: the real bot follows its running jobs through Apiframe's job listing
(``GET /v2/jobs``, 100 per page) on the loopback fake, on a real SQLite file.

What a member sees and what the ledger holds do not change; what changes is how many provider
calls it takes to look at many jobs, counted on the fake's own request log.
"""

from __future__ import annotations

from bot.jobs.model import Job, JobState
from tests.fakes.apiframe import Fault
from tests.sora_harness import GENERATE, LIST, POLL, SoraHarness, Starter

#: Jobs in flight at once in the first test (one page of the listing holds them all).
MANY = 16
#: Room for MANY jobs of one member.
LIMITS = {"jobs": {"max_in_flight_per_member": MANY, "max_in_flight_per_guild": MANY}}


async def journal_is_sound(h: SoraHarness) -> list[tuple[str, int, str | None]]:
    journal = await h.journal()
    assert await h.balance() == sum(delta for _kind, delta, _job in journal)
    return journal


async def submitted(h: SoraHarness, iid: int) -> Job:
    job = await h.created_job(iid)
    await h.until(lambda: _is_submitted(h, job.id), what=f"job {job.id} submitted")
    return await h.job(job.id)


async def _is_submitted(h: SoraHarness, job_id: str) -> bool:
    return (await h.job(job_id)).apiframe_job_id is not None


def polls_of(h: SoraHarness, job: Job) -> int:
    return sum(1 for r in h.apiframe_requests(POLL) if r.path.endswith(f"/{job.apiframe_job_id}"))


async def test_many_jobs_are_followed_by_shared_list_calls(start: Starter) -> None:
    h = await start(**LIMITS)
    h.apiframe.script_next_job("FAILED", "Provider returned an error: internal error")
    iids = [await h.send_sora(f"a lighthouse in a storm, take {n}") for n in range(MANY)]
    jobs = [await submitted(h, iid) for iid in iids]

    done = [await h.run_until(job.id, JobState.DELIVERED, JobState.REFUNDED, step=1.0,
                              pause=0.05, timeout=30) for job in jobs]

    assert [j.state for j in done].count(JobState.REFUNDED) == 1
    assert [j.state for j in done].count(JobState.DELIVERED) == MANY - 1
    # Every job ran ~65 s of the provider's time, looked at every ~0.2 s of the bot's: one
    # GET per job per look would be well over MANY * 8 calls. The listing answered for all
    # of them at once, and carried the results, so no job needed its own GET.
    follows = len(h.apiframe_requests(LIST)) + len(h.apiframe_requests(POLL))
    assert len(h.apiframe_requests(LIST)) >= 8
    assert follows < 3 * MANY, follows
    assert h.apiframe_requests(POLL) == []
    assert len(h.apiframe_requests(GENERATE)) == MANY
    for request in h.apiframe_requests(LIST):
        assert request.query == {"limit": "100"} or set(request.query) == {"limit", "cursor"}
    # Money: one reserve each, one refund for the failed job, balance equals the journal.
    journal = await journal_is_sound(h)
    refunds = [job_id for kind, _delta, job_id in journal if kind == "refund"]
    assert refunds == [j.id for j in done if j.state is JobState.REFUNDED]


async def test_a_job_the_listing_does_not_reach_is_still_followed(start: Starter) -> None:
    h = await start()
    job = await submitted(h, await h.send_sora("an old tram climbing a hill"))
    # Someone else with the same key starts more jobs than the pages the bot reads for one
    # job of its own: the bot's job sinks below them in the newest-first listing.
    h.apiframe.credits = 10**9
    h.apiframe.clock.advance(1)
    for n in range(320):
        await h.services.apiframe.generate(
            prompt=f"another app's video {n}", model="sora-2-pro", params_field="soraParams",
            params={}, idempotency_key=f"other-{n}",
        )

    done = await h.run_until(job.id, JobState.DELIVERED, step=2.0, timeout=20)

    assert polls_of(h, done) >= 1  # followed by its own GET when the listing fell short
    assert len(h.apiframe_requests(LIST)) >= 1
    await journal_is_sound(h)


async def test_a_failing_listing_backs_off_and_recovers(start: Starter) -> None:
    h = await start()
    job = await submitted(h, await h.send_sora("a paper boat in the rain"))
    h.apiframe.inject(LIST, Fault.status(503), times=3)

    await h.until(lambda: _backed_off(h, job.id, 2), timeout=10, what="two failed listings")
    backed = await h.job(job.id)
    assert backed.state is JobState.SUBMITTED
    assert backed.next_action_at > h.now()  # rescheduled, not retried in a tight loop

    await h.run_until(job.id, JobState.DELIVERED, step=2.0, timeout=30)
    # A provider in trouble is not sent one GET per job instead.
    assert h.apiframe_requests(POLL) == []
    journal = await journal_is_sound(h)
    assert [kind for kind, _delta, job_id in journal if job_id == job.id] == ["reserve"]


async def _backed_off(h: SoraHarness, job_id: str, attempts: int) -> bool:
    h.bot.scheduler.wake()
    return (await h.job(job_id)).attempts >= attempts
